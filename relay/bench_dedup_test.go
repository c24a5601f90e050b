package relay

import (
	"runtime"
	"testing"
	"time"

	"github.com/keypost/keypost/protocol"
)

// BenchmarkDedupWindowFull is the throughput scenario (50 per POST) with
// every sender's de-duplication memory full: 100 senders take turns sending
// one message to each of 50 recipients in one send; each message is
// acknowledged, then the 50 receipts at once. Every settle remembers one id
// and forgets the sender's oldest (MaxDedupPerSender is the default, the
// window an hour so only the count cap applies). The tables are filled
// before the timer starts. ns/msg is per message; heapB/id is the live heap
// added by filling, per remembered id (it includes the little the sessions'
// buffers grew while filling).
func BenchmarkDedupWindowFull(b *testing.B) {
	const senders, batch = 100, 50
	r, ss, ks := benchSessions(b, senders+batch, Config{DedupWindow: time.Hour})
	rcpt := ss[senders:]
	msgs := make([]Outgoing, batch)
	rack := Acks{Receipts: make([]ReceiptAck, batch)}
	acks := make([]Acks, batch)
	for i := range msgs {
		k := ks[senders+i]
		msgs[i] = Outgoing{To: k, ToStr: k.String(), HasID: true, Data: "a typical short chat message, about sixty bytes long"}
		rack.Receipts[i].To = k
		acks[i] = Acks{Messages: []MessageAck{{}}}
	}
	bufs := make([][]byte, len(ss))
	turn := 0
	step := func() {
		from := turn % senders
		turn++
		for i := range msgs {
			msgs[i].ID = protocol.NewID()
			acks[i].Messages[0] = MessageAck{From: ks[from], ID: msgs[i].ID}
			rack.Receipts[i].ID = msgs[i].ID
		}
		res, err := r.Send(ss[from], msgs)
		if err != nil || res[batch-1].Status != protocol.StatusAccepted {
			b.Fatalf("%v %+v", err, res[batch-1])
		}
		for i, s := range rcpt {
			bufs[senders+i], _ = s.Take(bufs[senders+i])
			if err := r.Ack(s, acks[i]); err != nil {
				b.Fatal(err)
			}
		}
		bufs[from], _ = ss[from].Take(bufs[from])
		if err := r.Ack(ss[from], rack); err != nil {
			b.Fatal(err)
		}
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fill := senders * (r.Config().MaxDedupPerSender/batch + 1)
	for range fill {
		step()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	ids := senders * r.Config().MaxDedupPerSender
	perID := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(ids)

	b.ReportAllocs()
	sent := 0
	for b.Loop() {
		step()
		sent += batch
	}
	b.ReportMetric(float64(b.Elapsed())/float64(max(sent, 1)), "ns/msg")
	b.ReportMetric(perID, "heapB/id") // after the loop: b.Loop's reset clears metrics
}
