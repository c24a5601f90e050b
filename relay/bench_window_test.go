package relay

import (
	"testing"
	"time"

	"github.com/keypost/keypost/protocol"
)

// benchSessions registers n sessions outside a bubble (real time), on a
// relay with cfg and no idle pings.
func benchSessions(b *testing.B, n int, cfg Config) (*Relay, []*Session, []protocol.Key) {
	cfg.PingInterval = 1 << 62
	r := New(cfg)
	b.Cleanup(r.Close)
	ss := make([]*Session, n)
	ks := make([]protocol.Key, n)
	for i := range n {
		t := &testing.T{}
		ks[i] = newKey(t)
		s, err := r.Open("bench")
		if err != nil {
			b.Fatal(err)
		}
		c := &tclient{t: t, r: r, s: s, key: ks[i]}
		c.register()
		ss[i] = s
		s.Take(nil)
	}
	return r, ss, ks
}

// BenchmarkPairWindow is the per-recipient window of 3 (§8) kept full and
// emptied: three messages to one recipient in one send, acknowledged in
// one ack, their receipts in another. ns/op is per message.
func BenchmarkPairWindow(b *testing.B) {
	r, ss, ks := benchSessions(b, 2, Config{})
	a, c := ss[0], ss[1]
	msgs := make([]Outgoing, DefaultMaxPendingPerPair)
	ack := Acks{Messages: make([]MessageAck, len(msgs))}
	rack := Acks{Receipts: make([]ReceiptAck, len(msgs))}
	for i := range msgs {
		msgs[i] = Outgoing{To: ks[1], ToStr: ks[1].String(), HasID: true, Data: "a typical short chat message, about sixty bytes long"}
		ack.Messages[i].From = ks[0]
		rack.Receipts[i].To = ks[1]
	}
	b.ReportAllocs()
	var bufA, bufC []byte
	n := 0
	for b.Loop() {
		for i := range msgs {
			msgs[i].ID = protocol.NewID()
			ack.Messages[i].ID, rack.Receipts[i].ID = msgs[i].ID, msgs[i].ID
		}
		res, err := r.Send(a, msgs)
		if err != nil || res[len(res)-1].Status != protocol.StatusAccepted {
			b.Fatalf("%v %+v", err, res)
		}
		bufC, _ = c.Take(bufC)
		if err := r.Ack(c, ack); err != nil {
			b.Fatal(err)
		}
		bufA, _ = a.Take(bufA)
		if err := r.Ack(a, rack); err != nil {
			b.Fatal(err)
		}
		n += len(msgs)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(max(n, 1)), "ns/msg")
}

// BenchmarkSendBatch50 is one send to 50 recipients (the throughput
// scenario's batches): accepted, written to 50 streams, each acknowledged,
// and the 50 receipts acknowledged at once. ns/msg is per message.
func BenchmarkSendBatch50(b *testing.B) {
	const n = 50
	r, ss, ks := benchSessions(b, n+1, Config{})
	a := ss[0]
	msgs := make([]Outgoing, n)
	rack := Acks{Receipts: make([]ReceiptAck, n)}
	acks := make([]Acks, n)
	for i := range msgs {
		msgs[i] = Outgoing{To: ks[i+1], ToStr: ks[i+1].String(), HasID: true, Data: "a typical short chat message, about sixty bytes long"}
		rack.Receipts[i].To = ks[i+1]
		acks[i] = Acks{Messages: []MessageAck{{From: ks[0]}}}
	}
	bufs := make([][]byte, n+1)
	b.ReportAllocs()
	start := time.Now()
	sent := 0
	for b.Loop() {
		for i := range msgs {
			msgs[i].ID = protocol.NewID()
			acks[i].Messages[0].ID, rack.Receipts[i].ID = msgs[i].ID, msgs[i].ID
		}
		if _, err := r.Send(a, msgs); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			bufs[i+1], _ = ss[i+1].Take(bufs[i+1])
			if err := r.Ack(ss[i+1], acks[i]); err != nil {
				b.Fatal(err)
			}
		}
		bufs[0], _ = a.Take(bufs[0])
		if err := r.Ack(a, rack); err != nil {
			b.Fatal(err)
		}
		sent += n
	}
	b.ReportMetric(float64(time.Since(start))/float64(max(sent, 1)), "ns/msg")
}
