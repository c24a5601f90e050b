package relay

import (
	"testing"

	"github.com/keypost/keypost/protocol"
)

// benchPair registers two sessions outside a bubble (real time) and
// returns them with their writers draining in the background.
func benchPair(b *testing.B) (*Relay, *Session, *Session, protocol.Key, protocol.Key) {
	r := New(Config{PingInterval: 1 << 62})
	b.Cleanup(r.Close)
	mk := func() (*Session, protocol.Key) {
		t := &testing.T{}
		k := newKey(t)
		s, err := r.Open("bench")
		if err != nil {
			b.Fatal(err)
		}
		c := &tclient{t: t, r: r, s: s, key: k}
		c.register()
		return s, k
	}
	a, ak := mk()
	c, ck := mk()
	return r, a, c, ak, ck
}

// BenchmarkSendDeliverAck is the core's hot path: one message accepted,
// written to the recipient's outbox, taken by the writer, acknowledged,
// and its receipt written to the sender's outbox and acknowledged.
func BenchmarkSendDeliverAck(b *testing.B) {
	r, a, c, ak, ck := benchPair(b)
	msg := []Outgoing{{To: ck, ToStr: ck.String(), HasID: true, Data: "a typical short chat message, about sixty bytes long"}}
	ack := Acks{Messages: []MessageAck{{From: ak}}}
	rack := Acks{Receipts: []ReceiptAck{{To: ck}}}
	b.ReportAllocs()
	var bufA, bufC []byte
	for b.Loop() {
		msg[0].ID = protocol.NewID()
		res, err := r.Send(a, msg)
		if err != nil || res[0].Status != protocol.StatusAccepted {
			b.Fatalf("%v %+v", err, res)
		}
		bufC, _ = c.Take(bufC)
		ack.Messages[0].ID = msg[0].ID
		if err := r.Ack(c, ack); err != nil {
			b.Fatal(err)
		}
		bufA, _ = a.Take(bufA)
		rack.Receipts[0].ID = msg[0].ID
		if err := r.Ack(a, rack); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueueFull is the cost of a refused send (§8).
func BenchmarkQueueFull(b *testing.B) {
	r, a, c, _, ck := benchPair(b)
	for range 3 {
		if _, err := r.Send(a, []Outgoing{{To: ck, ToStr: ck.String(), ID: protocol.NewID(), HasID: true, Data: "x"}}); err != nil {
			b.Fatal(err)
		}
	}
	c.Take(nil)
	msg := []Outgoing{{To: ck, ToStr: ck.String(), HasID: true, Data: "x"}}
	b.ReportAllocs()
	for b.Loop() {
		msg[0].ID = protocol.NewID()
		res, _ := r.Send(a, msg)
		if res[0].Code != protocol.CodeQueueFull {
			b.Fatalf("%+v", res[0])
		}
	}
}
