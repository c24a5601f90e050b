package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/keypost/keypost/protocol"
)

// §10: one request sends to several recipients, each entry with its own
// data; one result per entry, in request order.
func TestSeed10_ManyRecipientsInOrder(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b, c := ready(t, r), ready(t, r), ready(t, r)
		stranger := newKey(t)
		res := a.send(msgTo(b, "to b"), Outgoing{To: stranger, ToStr: stranger.String(), Data: "x"}, msgTo(c, "to c"))
		if res[0].Status != protocol.StatusAccepted || res[0].To != b.key.String() ||
			res[1].Code != protocol.CodeRecipientUnknown || res[1].ID == "" ||
			res[2].Status != protocol.StatusAccepted || res[2].To != c.key.String() {
			t.Fatalf("results %+v", res)
		}
		if res[0].ETAMS < 1 {
			t.Fatalf("accepted without eta: %+v", res[0])
		}
		if m := b.message(); m.Data != "to b" || m.From != a.key.String() || m.Attempt != 1 || m.ID != res[0].ID {
			t.Fatalf("b got %+v", m)
		}
		if m := c.message(); m.Data != "to c" {
			t.Fatalf("c got %+v", m)
		}
	})
}

// §8: at most 3 unacknowledged messages per sender→recipient pair; an ack
// frees a slot and the sender gets a delivered receipt. Other pairs are
// independent.
func TestSeed8_ThreePerPair(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b, c := ready(t, r), ready(t, r), ready(t, r)
		for i := range 3 {
			if res := a.send(msgTo(b, "m")); res[0].Status != protocol.StatusAccepted {
				t.Fatalf("message %d: %+v", i+1, res[0])
			}
		}
		if res := a.send(msgTo(b, "fourth")); res[0].Code != protocol.CodeQueueFull {
			t.Fatalf("fourth message: %+v", res[0])
		}
		if res := c.send(msgTo(b, "other sender")); res[0].Status != protocol.StatusAccepted {
			t.Fatalf("another sender to b: %+v", res[0])
		}
		if res := a.send(msgTo(c, "other recipient")); res[0].Status != protocol.StatusAccepted {
			t.Fatalf("a to another recipient: %+v", res[0])
		}
		m := b.message()
		b.ack(m)
		rc := a.receipt()
		if rc.ID != m.ID || rc.To != b.key.String() || rc.Status != protocol.StatusDelivered {
			t.Fatalf("receipt %+v", rc)
		}
		if res := a.send(msgTo(b, "fits now")); res[0].Status != protocol.StatusAccepted {
			t.Fatalf("after an ack: %+v", res[0])
		}
		if res := a.send(msgTo(b, "full again")); res[0].Code != protocol.CodeQueueFull {
			t.Fatalf("after refilling: %+v", res[0])
		}
	})
}

// §8.1: system traffic (pings, receipts, challenges) never counts toward
// the 3.
func TestSeed8_1_SystemTrafficDoesNotCount(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		// Fill b's stream with pings it does not answer yet, and a with
		// receipts it does not ack.
		r.mu.Lock()
		r.sendPing(b.s, 100, time.Now())
		r.sendPing(b.s, 100, time.Now())
		r.mu.Unlock()
		for range 3 {
			m := msgTo(b, "x")
			a.send(m)
		}
		for range 3 {
			b.ack(b.message())
		}
		for range 3 {
			a.receipt()
		}
		for i := range 3 {
			if res := a.send(msgTo(b, "y")); res[0].Status != protocol.StatusAccepted {
				t.Fatalf("message %d with pings and receipts outstanding: %+v", i+1, res[0])
			}
		}
	})
}

// §9.4: data longer than max_message_bytes (UTF-8 bytes) is refused.
func TestSeed9_4_TooLarge(t *testing.T) {
	run(t, Config{MaxMessageBytes: 10}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		res := a.send(msgTo(b, strings.Repeat("é", 5)), msgTo(b, strings.Repeat("é", 6)))
		if res[0].Status != protocol.StatusAccepted || res[1].Code != protocol.CodeTooLarge {
			t.Fatalf("10 and 12 UTF-8 bytes: %+v", res)
		}
	})
}

// §6: a recipient whose stream dropped refuses new messages; an unknown key
// is recipient_unknown.
func TestSeed6_OfflineRefusesNewMessages(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		b.drop()
		if res := a.send(msgTo(b, "x")); res[0].Code != protocol.CodeRecipientOffline {
			t.Fatalf("to a dropped key: %+v", res[0])
		}
		// A key whose new session is bound but not ready counts as offline.
		nb := openKey(t, r, b.key)
		nb.expect(protocol.EventSession, nil)
		if err := r.Auth(nb.s, b.key); err != nil {
			t.Fatal(err)
		}
		if res := a.send(msgTo(b, "x")); res[0].Code != protocol.CodeRecipientOffline {
			t.Fatalf("to a key still registering: %+v", res[0])
		}
		nb.challenges()
		if res := a.send(msgTo(b, "x")); res[0].Status != protocol.StatusAccepted {
			t.Fatalf("to a key ready again: %+v", res[0])
		}
	})
}

// §7: held messages survive a drop for 60 s and are redelivered in order
// once the key is ready again, after `ready`.
func TestSeed7_RedeliveredInOrderAfterReconnect(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, c, b := ready(t, r), ready(t, r), ready(t, r)
		a.send(msgTo(b, "a1"))
		c.send(msgTo(b, "c1"))
		a.send(msgTo(b, "a2"))
		b.events()
		b.drop()
		live(59*time.Second, a, c)
		nb := openKey(t, r, b.key)
		rd := nb.register()
		if rd.Pending != 3 {
			t.Fatalf("ready %+v, want 3 pending", rd)
		}
		var got []string
		for range 3 {
			m := nb.message()
			if m.Attempt != 2 {
				t.Fatalf("redelivered with attempt %d, want 2", m.Attempt)
			}
			got = append(got, m.Data)
			nb.ack(m)
		}
		if strings.Join(got, ",") != "a1,c1,a2" {
			t.Fatalf("redelivered %v", got)
		}
		if rc := a.receipt(); rc.Status != protocol.StatusDelivered {
			t.Fatalf("receipt %+v", rc)
		}
	})
}

// §7: after 60 s offline the entity and its messages are dropped and each
// online sender gets an `expired` receipt; the key is then unknown.
func TestSeed7_ExpiredAfter60s(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		res := a.send(msgTo(b, "lost"))
		b.drop()
		live(60*time.Second-time.Millisecond, a)
		if res := a.send(msgTo(b, "x")); res[0].Code != protocol.CodeRecipientOffline {
			t.Fatalf("at 59.999 s: %+v", res[0])
		}
		advance(time.Millisecond)
		rc := a.receipt()
		if rc.ID != res[0].ID || rc.Status != protocol.StatusExpired {
			t.Fatalf("receipt %+v", rc)
		}
		if res := a.send(msgTo(b, "x")); res[0].Code != protocol.CodeRecipientUnknown {
			t.Fatalf("after 60 s: %+v", res[0])
		}
		if st := r.Stats(); st.HeldMessages != 0 || st.HeldBytes != 0 {
			t.Fatalf("memory after expiry: %+v", st)
		}
	})
}

// §7: retention stops while a new session binds the key; if that session
// ends before ready, the entity is offline again for the time it had left.
func TestSeed7_RetentionPausedWhileBinding(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		a.send(msgTo(b, "kept"))
		b.drop()
		live(40*time.Second, a) // 20 s left
		nb := openKey(t, r, b.key)
		nb.expect(protocol.EventSession, nil)
		if err := r.Auth(nb.s, b.key); err != nil {
			t.Fatal(err)
		}
		live(19*time.Second, a) // binding: the clock is stopped
		nb.drop()
		live(20*time.Second-time.Millisecond, a)
		if st := r.Stats(); st.HeldMessages != 1 {
			t.Fatalf("dropped before its time: %+v", st)
		}
		advance(time.Millisecond)
		if rc := a.receipt(); rc.Status != protocol.StatusExpired {
			t.Fatalf("receipt %+v", rc)
		}
	})
}

// Receipts are kept until the sender acks them, re-sent after the sender's
// next ready, and never twice on one stream.
func TestReceiptsSurviveSenderReconnect(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		res := a.send(msgTo(b, "x"))
		a.drop()
		b.ack(b.message())
		na := a.reconnect()
		rc := na.receipt()
		if rc.ID != res[0].ID || rc.Status != protocol.StatusDelivered {
			t.Fatalf("receipt %+v", rc)
		}
		na.none() // once on this stream
		na.drop()
		nna := na.reconnect()
		if rc := nna.receipt(); rc.ID != res[0].ID {
			t.Fatalf("unacked receipt not re-sent: %+v", rc)
		}
		id, _ := protocol.ParseID(rc.ID)
		if err := r.Ack(nna.s, Acks{Receipts: []ReceiptAck{{To: b.key, ID: id}}}); err != nil {
			t.Fatal(err)
		}
		nna.drop()
		last := nna.reconnect()
		last.none()
	})
}

// A message is identified by (sender, id): a retry returns the original
// result and makes no copy; the id reused for other data or another
// recipient is duplicate_id; settled ids are remembered for the window.
func TestIdempotentIDs(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b, c := ready(t, r), ready(t, r), ready(t, r)
		m := msgTo(b, "once")
		first := a.send(m)
		again := a.send(m)
		if again[0].Status != protocol.StatusAccepted || again[0].ID != first[0].ID {
			t.Fatalf("retry %+v", again[0])
		}
		b.message()
		b.none() // no copy
		other := m
		other.Data = "changed"
		if res := a.send(other); res[0].Code != protocol.CodeDuplicateID {
			t.Fatalf("same id, other data: %+v", res[0])
		}
		toC := m
		toC.To, toC.ToStr = c.key, c.key.String()
		if res := a.send(toC); res[0].Code != protocol.CodeDuplicateID {
			t.Fatalf("same id, other recipient: %+v", res[0])
		}
		b.ack(protocol.MessageEvent{From: a.key.String(), ID: first[0].ID})
		a.receipt()
		if res := a.send(m); res[0].Status != protocol.StatusAccepted {
			t.Fatalf("retry after settle: %+v", res[0])
		}
		b.none()
		live(DefaultDedupWindow, a, b)
		if res := a.send(m); res[0].Status != protocol.StatusAccepted {
			t.Fatalf("after the window: %+v", res[0])
		}
		if got := b.message(); got.Data != "once" {
			t.Fatalf("after the window the id is new again: %+v", got)
		}
	})
}

// A sender that goes quiet after its messages settled lets its settled-id
// memory go within the window and one idle ping, without sending again.
func TestDedupMemoryFreedWhenQuiet(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		a.send(msgTo(b, "x"))
		b.ack(b.message())
		a.receipt()
		held := func() int {
			r.mu.Lock()
			defer r.mu.Unlock()
			return a.s.entity.settled.q.len()
		}
		if held() != 1 {
			t.Fatalf("settled ids remembered: %d, want 1", held())
		}
		live(DefaultDedupWindow+DefaultPingInterval, a, b)
		if n := held(); n != 0 {
			t.Fatalf("after the window and an idle ping, still %d settled ids", n)
		}
	})
}

// Memory is bounded: held bytes per recipient and per sender, and
// unacknowledged receipts per entity.
func TestMemoryCaps(t *testing.T) {
	big := strings.Repeat("x", 1000)
	cfg := Config{MaxHeldPerRecipient: 3 * (1000 + messageOverhead), MaxHeldPerSender: 4 * (1000 + messageOverhead), MaxUnackedReceipts: 2}
	run(t, cfg, func(t *testing.T, r *Relay) {
		a, b, c, d := ready(t, r), ready(t, r), ready(t, r), ready(t, r)
		a.send(msgTo(b, big), msgTo(b, big))
		c.send(msgTo(b, big))
		if res := d.send(msgTo(b, big)); res[0].Code != protocol.CodeRecipientBusy {
			t.Fatalf("past the recipient cap: %+v", res[0])
		}
		a.send(msgTo(c, big), msgTo(c, big))
		if res := a.send(msgTo(d, big)); res[0].Code != protocol.CodeSenderBusy {
			t.Fatalf("past the sender cap: %+v", res[0])
		}
		for range 2 {
			b.ack(b.message())
		}
		_, err := r.Send(a.s, []Outgoing{msgTo(d, "x")})
		if code(t, err) != protocol.CodeReceiptsUnacked || err.(*Error).Code.Status() != 429 {
			t.Fatalf("with 2 unacked receipts: %v", err)
		}
	})
}

// A stream whose unwritten output passes its cap is closed as a slow
// reader; what was held for it stays held under the retention rule (§7):
// redelivered if it comes back, or expired receipts to its senders.
func TestSlowReaderClosedMessagesKept(t *testing.T) {
	run(t, Config{MaxOutboxBytes: 12 << 10}, func(t *testing.T, r *Relay) {
		a, b, c := ready(t, r), ready(t, r), ready(t, r)
		// b never takes its output: a padded ping and three messages of
		// 3 kB pass the cap at the third, which is held all the same.
		res := a.send(msgTo(b, strings.Repeat("x", 3000)), msgTo(b, strings.Repeat("y", 3000)), msgTo(b, strings.Repeat("z", 3000)))
		for _, x := range res {
			if x.Status != protocol.StatusAccepted {
				t.Fatalf("%+v", x)
			}
		}
		b.pull()
		if !b.ended || b.closed != protocol.CloseSlowReader {
			t.Fatalf("ended=%v closing=%q, want slow_reader", b.ended, b.closed)
		}
		if res := c.send(msgTo(b, "late")); res[0].Code != protocol.CodeRecipientOffline {
			t.Fatalf("after slow_reader: %+v", res[0])
		}
		if st := r.Stats(); st.HeldMessages != 3 {
			t.Fatalf("held after slow_reader: %+v", st)
		}
		live(DefaultRetention, a, c)
		for range 3 {
			if rc := a.receipt(); rc.Status != protocol.StatusExpired {
				t.Fatalf("receipt %+v", rc)
			}
		}
	})
}

// The relay's total held bytes are capped: past it, send answers 503.
func TestTotalHeldCap(t *testing.T) {
	run(t, Config{MaxHeldTotal: 2 * (100 + messageOverhead)}, func(t *testing.T, r *Relay) {
		a, b, c := ready(t, r), ready(t, r), ready(t, r)
		data := strings.Repeat("x", 100)
		if res := a.send(msgTo(b, data), msgTo(c, data), msgTo(c, data)); res[2].Code != protocol.CodeServerBusy {
			t.Fatalf("past the total: %+v", res[2])
		}
		_, err := r.Send(a.s, []Outgoing{msgTo(b, data)})
		if e, ok := err.(*Error); !ok || e.Code != protocol.CodeServerBusy || e.RetryAfter == 0 || e.Code.Status() != 503 {
			t.Fatalf("at the total: %v", err)
		}
	})
}

// Acks are accepted on a key's ended session until its entity expires
// (protocol.md §6.4), also after a new session bound the key.
func TestAckOnEndedSessionAfterRebind(t *testing.T) {
	run(t, Config{}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		a.send(msgTo(b, "read just before the drop"))
		m := b.message()
		b.drop()
		nb := b.reconnect()
		nb.message() // redelivered, not yet acked
		if _, err := r.Lookup(b.s.ID()); err != nil {
			t.Fatalf("the ended session is gone: %v", err)
		}
		b.ack(m) // on the old, ended session
		if rc := a.receipt(); rc.ID != m.ID || rc.Status != protocol.StatusDelivered {
			t.Fatalf("receipt %+v", rc)
		}
		// Only one ended session is kept per key.
		nb.drop()
		nb.reconnect()
		if _, err := r.Lookup(b.s.ID()); code(t, err) != protocol.CodeUnknownSession {
			t.Fatalf("the older ended session is still kept: %v", err)
		}
	})
}

// A sender whose entity expired while its message was held comes back: a
// retry of the same id is not held twice, and the receipt reaches its new
// entity.
func TestReturningSenderNoCopyAndGetsReceipt(t *testing.T) {
	run(t, Config{MaxAttempts: 100}, func(t *testing.T, r *Relay) {
		a, b := ready(t, r), ready(t, r)
		m := msgTo(b, "held across the sender's expiry")
		a.send(m)
		b.message()
		b.drop()
		a.drop()
		live(40 * time.Second)
		nb := b.reconnect() // retention stops for b; a's keeps running
		nb.message()
		live(25*time.Second, nb) // a's entity expires at 60 s
		na := a.reconnect()
		res := na.send(m)
		if res[0].Status != protocol.StatusAccepted || res[0].ID != m.ID.String() {
			t.Fatalf("retry after return: %+v", res[0])
		}
		if st := r.Stats(); st.HeldMessages != 1 {
			t.Fatalf("held %d copies", st.HeldMessages)
		}
		nb.events()
		nb.ack(protocol.MessageEvent{From: a.key.String(), ID: m.ID.String()})
		if rc := na.receipt(); rc.ID != m.ID.String() || rc.Status != protocol.StatusDelivered {
			t.Fatalf("receipt %+v", rc)
		}
	})
}
