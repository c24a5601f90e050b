package relay

import (
	"testing"
	"time"

	"github.com/keypost/keypost/protocol"
)

// §1, §2: a new stream gets a session event with a fresh id, the protocol
// version, the server time and the limits.
func TestSeed2_SessionEventOnOpen(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := open(t, r), open(t, r)
		var ea, eb protocol.SessionEvent
		a.expect(protocol.EventSession, &ea)
		b.expect(protocol.EventSession, &eb)
		if ea.Session == eb.Session {
			t.Fatal("two streams got the same session id")
		}
		if _, err := protocol.ParseID(ea.Session); err != nil {
			t.Fatalf("session id %q: %v", ea.Session, err)
		}
		if ea.Protocol != "1.0" || ea.ServerTime != time.Now().UnixMilli() {
			t.Fatalf("session event %+v", ea)
		}
		want := Config{}.Limits()
		if ea.Limits != want || want.MaxPendingPerPair != 3 || want.MaxMessageBytes != 64<<10 || want.RetentionMS != 60000 {
			t.Fatalf("limits %+v, want %+v", ea.Limits, want)
		}
	})
}

// §2.1: the session event is re-sent every 3 s until the client uses it.
func TestSeed2_1_SessionResentEvery3s(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		c := open(t, r)
		c.expect(protocol.EventSession, nil)
		advance(3*time.Second - time.Millisecond)
		c.none() // 2.999 s: not yet
		advance(time.Millisecond)
		c.expect(protocol.EventSession, nil) // 3 s
		advance(3 * time.Second)
		c.expect(protocol.EventSession, nil) // 6 s
		if err := r.Auth(c.s, c.key); err != nil {
			t.Fatal(err)
		}
		c.expect(protocol.EventChallenge, nil)
		advance(9 * time.Second)
		if n := c.count(protocol.EventSession); n != 0 {
			t.Fatalf("session event re-sent %d times after auth", n)
		}
	})
}

// §2.2: a stream with no successful /v1/auth within 20 s is closed with
// auth_timeout; its session is then unknown.
func TestSeed2_2_AuthTimeout(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		c := open(t, r)
		advance(20*time.Second - time.Millisecond)
		c.events()
		if c.ended {
			t.Fatal("closed before 20 s")
		}
		advance(time.Millisecond)
		c.pull()
		if !c.ended || c.closed != protocol.CloseAuthTimeout {
			t.Fatalf("ended=%v closing=%q, want auth_timeout", c.ended, c.closed)
		}
		if _, err := r.Lookup(c.s.ID()); code(t, err) != protocol.CodeUnknownSession {
			t.Fatalf("Lookup after auth_timeout: %v", err)
		}
		if err := r.Auth(c.s, c.key); code(t, err) != protocol.CodeUnknownSession {
			t.Fatalf("Auth after auth_timeout: %v", err)
		}
	})
}

// §2.2 says "authorized": a successful auth stops the 20 s clock; the
// registration then has its own timeout (§4).
func TestSeed2_2_AuthStopsTheClock(t *testing.T) {
	run(t, Config{RegisterTimeout: 30 * time.Second}, func(t *testing.T, r *Relay) {
		c := open(t, r)
		advance(19 * time.Second)
		if err := r.Auth(c.s, c.key); err != nil {
			t.Fatal(err)
		}
		advance(5 * time.Second) // 24 s after open
		c.events()
		if c.ended {
			t.Fatalf("closed with %q after a successful auth", c.closed)
		}
	})
}

// §4: registration must finish within the register timeout after auth.
func TestSeed4_RegisterTimeout(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		c := open(t, r)
		if err := r.Auth(c.s, c.key); err != nil {
			t.Fatal(err)
		}
		advance(20*time.Second - time.Millisecond)
		c.events()
		if c.ended {
			t.Fatal("closed before the register timeout")
		}
		advance(time.Millisecond)
		c.pull()
		if c.closed != protocol.CloseRegisterTimeout {
			t.Fatalf("closing %q, want register_timeout", c.closed)
		}
	})
}

// §4, §4.1: three challenges, strictly one after another; ready after the
// third answer.
func TestSeed4_1_ChallengesOneAfterAnother(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		c := open(t, r)
		c.expect(protocol.EventSession, nil)
		if err := r.Auth(c.s, c.key); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for n := 1; n <= 3; n++ {
			var ch protocol.ChallengeEvent
			c.expect(protocol.EventChallenge, &ch)
			if ch.N != n || seen[ch.ID] {
				t.Fatalf("challenge %+v, want n=%d with a new id", ch, n)
			}
			seen[ch.ID] = true
			advance(10 * time.Millisecond)
			c.none() // the next one waits for this answer
			if err := r.Challenge(c.s, ch.ID); err != nil {
				t.Fatal(err)
			}
			if n < 3 {
				if _, err := r.Send(c.s, nil); err == nil {
					t.Fatal("send allowed before ready")
				}
			}
		}
		var rd protocol.ReadyEvent
		c.expect(protocol.EventReady, &rd)
		if rd.Key != c.key.String() || rd.Pending != 0 {
			t.Fatalf("ready %+v", rd)
		}
		// Each round trip was an RTT sample (10 ms each here).
		if c.s.est.samples != 3 || rd.RTTMS != 10 {
			t.Fatalf("samples=%d rtt=%d ms, want 3 samples and 10 ms", c.s.est.samples, rd.RTTMS)
		}
	})
}

// §4: an answer with an id never issued fails registration with
// bad_challenge; re-answering an answered challenge is ignored.
func TestSeed4_BadChallengeAnswer(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		c := open(t, r)
		c.expect(protocol.EventSession, nil)
		if err := r.Auth(c.s, c.key); err != nil {
			t.Fatal(err)
		}
		var ch protocol.ChallengeEvent
		c.expect(protocol.EventChallenge, &ch)
		if err := r.Challenge(c.s, ch.ID); err != nil {
			t.Fatal(err)
		}
		if err := r.Challenge(c.s, ch.ID); err != nil { // a retry of a lost answer
			t.Fatalf("repeated answer: %v", err)
		}
		c.expect(protocol.EventChallenge, nil) // challenge 2, once
		c.none()
		err := r.Challenge(c.s, protocol.NewID().String())
		if code(t, err) != protocol.CodeBadChallenge {
			t.Fatalf("wrong answer: %v", err)
		}
		c.pull()
		if c.closed != protocol.CloseBadChallenge || !c.ended {
			t.Fatalf("closing %q, want bad_challenge", c.closed)
		}
	})
}

// §3.2: once bound, a session's key never changes; the same auth again is
// fine (a lost answer can be retried), another key is session_bound.
func TestSeed3_2_KeyNeverChanges(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		c := ready(t, r)
		if err := r.Auth(c.s, c.key); err != nil {
			t.Fatalf("repeated auth: %v", err)
		}
		if err := r.Auth(c.s, newKey(t)); code(t, err) != protocol.CodeSessionBound {
			t.Fatalf("auth with another key: %v", err)
		}
		if *c.s.Key() != c.key {
			t.Fatal("the session's key changed")
		}
	})
}

// §5, §3.1: two live sessions never share a key. The newcomer gets
// key_in_use, the older session is switched to unauthorized (closing
// key_conflict), its entity and held messages live on, and the newcomer's
// repeated auth succeeds.
func TestSeed5_KeyConflict(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		old := ready(t, r)
		sender := ready(t, r)
		res := sender.send(msgTo(old, "held across the conflict"))
		if res[0].Status != protocol.StatusAccepted {
			t.Fatalf("send: %+v", res[0])
		}
		newc := openKey(t, r, old.key)
		newc.expect(protocol.EventSession, nil)
		err := r.Auth(newc.s, old.key)
		if code(t, err) != protocol.CodeKeyInUse {
			t.Fatalf("auth of a key in use: %v", err)
		}
		old.pull()
		if old.closed != protocol.CloseKeyConflict || !old.ended {
			t.Fatalf("older session closing %q, want key_conflict", old.closed)
		}
		if !old.closed.Final() {
			t.Fatal("key_conflict must be final")
		}
		// The entity is offline, not gone: new messages are refused (§6).
		if res := sender.send(msgTo(old, "x")); res[0].Code != protocol.CodeRecipientOffline {
			t.Fatalf("send to the offline key: %+v", res[0])
		}
		advance(time.Second) // §3.1: repeat after ≥ 1 s
		if err := r.Auth(newc.s, old.key); err != nil {
			t.Fatalf("repeated auth: %v", err)
		}
		rd := newc.challenges()
		if rd.Pending != 1 {
			t.Fatalf("ready %+v, want the held message", rd)
		}
		if m := newc.message(); m.Data != "held across the conflict" || m.Attempt != 2 {
			t.Fatalf("redelivered %+v", m)
		}
	})
}

// Unauthenticated streams are capped, in total and per address; each is
// closed by the §2.2 rule, which frees its place.
func TestUnauthenticatedStreamCaps(t *testing.T) {
	run(t, Config{MaxUnauthStreams: 3, MaxUnauthPerAddr: 2}, func(t *testing.T, r *Relay) {
		if _, err := r.Open("a"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Open("a"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Open("a"); code(t, err) != protocol.CodeTooManyStreams {
			t.Fatalf("third from one address: %v", err)
		}
		c := open(t, r) // from another address
		if _, err := r.Open("b"); code(t, err) != protocol.CodeTooManyStreams {
			t.Fatalf("past the total: %v", err)
		}
		c.register() // an authorized stream leaves the count
		if _, err := r.Open("b"); err != nil {
			t.Fatalf("after one authorized: %v", err)
		}
		advance(20 * time.Second) // every waiting stream is closed (§2.2)
		if st := r.Stats(); st.Unauth != 0 {
			t.Fatalf("unauthenticated after 20 s: %d", st.Unauth)
		}
	})
}
