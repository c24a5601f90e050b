package relay

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keypost/keypost/protocol"
)

func (c *tclient) pings() []protocol.PingEvent {
	var ps []protocol.PingEvent
	var rest []event
	for _, ev := range c.events() {
		if ev.typ == protocol.EventPing {
			var p protocol.PingEvent
			_ = json.Unmarshal([]byte(ev.data), &p)
			ps = append(ps, p)
		} else {
			rest = append(rest, ev)
		}
	}
	c.queue = rest
	return ps
}

// §9.1: before a message of L bytes with no fresh sample of a similar size,
// a padded ping (pad ≤ min(L, 16 KiB)) goes first; the message follows at
// once. At most one padded ping per timeout period; a fresh sample of that
// size makes it unnecessary for 30 s.
func TestSeed9_1_PaddedPingBeforeLargeMessage(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		data := strings.Repeat("x", 40000)
		a.send(msgTo(b, data))
		first := b.next()
		if first.typ != protocol.EventPing {
			t.Fatalf("first event %s, want a padded ping", first.typ)
		}
		var p protocol.PingEvent
		_ = json.Unmarshal([]byte(first.data), &p)
		if len(p.Pad) != DefaultMaxPingPad {
			t.Fatalf("pad %d bytes, want min(L, 16 KiB) = %d", len(p.Pad), DefaultMaxPingPad)
		}
		m := b.message() // at once, without waiting for the pong
		if m.Data != data {
			t.Fatal("message data changed")
		}
		a.send(msgTo(b, data))
		if ps := b.pings(); len(ps) != 0 {
			t.Fatalf("a second padded ping within the timeout period: %d", len(ps))
		}
		advance(10 * time.Millisecond)
		if err := r.Pong(b.s, p.ID); err != nil {
			t.Fatal(err)
		}
		b.ack(m)
		b.ack(b.message())
		advance(5 * time.Second)
		a.answerPings()
		b.answerPings()
		a.send(msgTo(b, data)) // a sample of this size is fresh now
		if ps := b.pings(); len(ps) != 0 {
			t.Fatalf("padded ping despite a fresh sample: %d", len(ps))
		}
		b.ack(b.message())
		live(31*time.Second, a, b)
		a.events()
		a.send(msgTo(b, data))
		if ps := b.pings(); len(ps) != 1 || len(ps[0].Pad) == 0 {
			t.Fatalf("after 30 s the sample is stale: pings %d", len(ps))
		}
	})
}

// Small messages need no padded ping: the challenges measured small sizes.
func TestSeed9_1_NoPingForSmallMessages(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		a.send(msgTo(b, "hi"))
		if ev := b.next(); ev.typ != protocol.EventMessage {
			t.Fatalf("got %s, want the message directly", ev.typ)
		}
	})
}

// §9.3: when an ack does not come in time the server pings; once the pong
// shows the client alive and the message is still unacknowledged, it is
// resent with attempt+1 and a doubled timeout.
func TestSeed9_3_ResendAfterPong(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		a.send(msgTo(b, "m"))
		m := b.message()
		timeout := DefaultAckTimeoutMin // the link is instant in a bubble: the floor
		advance(timeout - time.Millisecond)
		b.none()
		advance(time.Millisecond)
		ps := b.pings()
		if len(ps) != 1 {
			t.Fatalf("after the ack timeout: %d pings, want 1", len(ps))
		}
		b.none() // no resend before the pong
		if err := r.Pong(b.s, ps[0].ID); err != nil {
			t.Fatal(err)
		}
		re := b.message()
		if re.ID != m.ID || re.Attempt != 2 || re.Data != "m" {
			t.Fatalf("resent %+v", re)
		}
		// Backoff: the next timeout is twice as long.
		advance(2*timeout - time.Millisecond)
		if ps := b.pings(); len(ps) != 0 {
			t.Fatal("pinged before the doubled timeout")
		}
		advance(time.Millisecond)
		if ps := b.pings(); len(ps) != 1 {
			t.Fatalf("after the doubled timeout: %d pings", len(ps))
		}
	})
}

// §9.3: after max_attempts writes the message is dropped and its sender
// gets an `undeliverable` receipt.
func TestSeed9_3_Undeliverable(t *testing.T) {
	run(t, Config{MaxAttempts: 3}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		res := a.send(msgTo(b, "never acked"))
		attempts := 0
		for range 200 {
			advance(250 * time.Millisecond)
			a.answerPings()
			for _, ev := range b.events() {
				switch ev.typ {
				case protocol.EventMessage:
					attempts++
				case protocol.EventPing:
					var p protocol.PingEvent
					_ = json.Unmarshal([]byte(ev.data), &p)
					if err := r.Pong(b.s, p.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			if st := r.Stats(); st.HeldMessages == 0 {
				break
			}
		}
		if attempts != 3 {
			t.Fatalf("written %d times, want 3", attempts)
		}
		rc := a.receipt()
		if rc.ID != res[0].ID || rc.Status != protocol.StatusUndeliverable {
			t.Fatalf("receipt %+v", rc)
		}
	})
}

// §9.3: a client that answers no pings is disconnected after 3 unanswered
// in a row, and the retention rule applies (§7): its messages are kept.
func TestSeed9_3_DeadAfterThreeUnansweredPings(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		a.send(msgTo(b, "m"))
		pings := 0
		for range 100 {
			advance(250 * time.Millisecond)
			a.answerPings()
			pings += len(b.pings())
			if b.ended {
				break
			}
		}
		if !b.ended || b.closed != protocol.CloseDead || pings != 3 {
			t.Fatalf("ended=%v closing=%q after %d pings", b.ended, b.closed, pings)
		}
		if res := a.send(msgTo(b, "x")); res[0].Code != protocol.CodeRecipientOffline {
			t.Fatalf("dead client is not offline: %+v", res[0])
		}
		nb := b.reconnect()
		if m := nb.message(); m.Data != "m" {
			t.Fatalf("held message after reconnect: %+v", m)
		}
	})
}

// A pong resets the count: pings answered late, but before they are
// three, keep the session alive.
func TestSeed9_3_AnswerResetsCount(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		b := ready(t, r)
		for range 5 {
			advance(DefaultPingInterval) // idle: pinged
			ps := b.pings()
			if len(ps) != 1 {
				t.Fatalf("idle pings: %d, want 1", len(ps))
			}
			if err := r.Pong(b.s, ps[0].ID); err != nil {
				t.Fatal(err)
			}
		}
		if b.ended {
			t.Fatal("a client answering its pings was disconnected")
		}
	})
}

// Idle sessions are pinged every ping_interval, not before.
func TestSeed9_IdlePing(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		b := ready(t, r)
		advance(DefaultPingInterval - time.Millisecond)
		if ps := b.pings(); len(ps) != 0 {
			t.Fatal("pinged before the interval")
		}
		advance(time.Millisecond)
		if ps := b.pings(); len(ps) != 1 {
			t.Fatalf("%d pings at the interval", len(ps))
		}
	})
}

// Karn's rule: the ack of a resent message is not a link sample; the ack of
// a first delivery is.
func TestKarnRule(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		a.send(msgTo(b, "first"))
		m := b.message()
		n := b.s.est.samples
		b.ack(m)
		if b.s.est.samples != n+1 {
			t.Fatal("first delivery's ack was not a sample")
		}
		a.send(msgTo(b, "second"))
		b.message()
		advance(DefaultAckTimeoutMin)
		ps := b.pings()
		if err := r.Pong(b.s, ps[0].ID); err != nil {
			t.Fatal(err)
		}
		re := b.message()
		n = b.s.est.samples
		b.ack(re)
		if b.s.est.samples != n {
			t.Fatal("a resent message's ack was taken as a sample")
		}
	})
}
