package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/keypost/keypost/protocol"
)

// maxAckBatch bounds one POST /v1/ack (each ref is ~90 bytes of JSON, far
// below max_body_bytes); a fuller batch is sent at once.
const maxAckBatch = 2000

// receiptAckDelay is how long receipt acks wait when no message ack is
// due. A receipt is never resent on a timer (only after the next ready),
// so nothing hurries it, while every POST counts against the key's request
// rate at the relay; a message ack, due within 200 ms, takes the receipts
// along.
const receiptAckDelay = 250 * time.Millisecond

// acker collects message and receipt acks for one POST /v1/ack per
// AckDelay. The stream goroutine adds; ackLoop sends.
type acker struct {
	wake   chan struct{} // capacity 1: "the batch is not empty"
	urgent chan struct{} // capacity 1: "a message ack is waiting"
	full   chan struct{} // capacity 1: "the batch is full; send now"

	mu       sync.Mutex
	msgs     []protocol.MessageRef // guarded by mu
	receipts []protocol.ReceiptRef // guarded by mu
}

func newAcker() *acker {
	return &acker{wake: make(chan struct{}, 1), urgent: make(chan struct{}, 1), full: make(chan struct{}, 1)}
}

func (a *acker) addMessage(r protocol.MessageRef) {
	a.mu.Lock()
	a.msgs = append(a.msgs, r)
	n := len(a.msgs) + len(a.receipts)
	a.mu.Unlock()
	notify(a.urgent)
	a.signal(n)
}

func (a *acker) addReceipt(r protocol.ReceiptRef) {
	a.mu.Lock()
	a.receipts = append(a.receipts, r)
	n := len(a.msgs) + len(a.receipts)
	a.mu.Unlock()
	a.signal(n)
}

func (a *acker) signal(n int) {
	notify(a.wake)
	if n >= maxAckBatch {
		notify(a.full)
	}
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// take removes up to maxAckBatch refs.
func (a *acker) take() protocol.AckRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	var req protocol.AckRequest
	n := min(len(a.msgs), maxAckBatch)
	req.Messages = append([]protocol.MessageRef(nil), a.msgs[:n]...)
	a.msgs = append(a.msgs[:0], a.msgs[n:]...)
	m := min(len(a.receipts), maxAckBatch-n)
	req.Receipts = append([]protocol.ReceiptRef(nil), a.receipts[:m]...)
	a.receipts = append(a.receipts[:0], a.receipts[m:]...)
	if len(a.msgs)+len(a.receipts) > 0 {
		notify(a.wake)
	}
	return req
}

// hasMessages reports whether a message ack is waiting.
func (a *acker) hasMessages() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.msgs) > 0
}

// putBack returns refs of a failed POST to the batch.
func (a *acker) putBack(req protocol.AckRequest) {
	a.mu.Lock()
	a.msgs = append(req.Messages, a.msgs...)
	a.receipts = append(req.Receipts, a.receipts...)
	a.mu.Unlock()
	notify(a.wake)
	if len(req.Messages) > 0 {
		notify(a.urgent)
	}
}

// ackLoop sends a batch AckDelay after its first message ack (receipts
// alone wait receiptAckDelay), or at once when it is full. The ack says
// "received", not "processed" (design §Messages), so batching only trades
// a few milliseconds for fewer requests.
func (c *Client) ackLoop() {
	defer c.wg.Done()
	a := c.acks
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-a.wake:
		case <-c.ctx.Done():
			return
		}
		d := receiptAckDelay
		if a.hasMessages() {
			d = c.ackDelay()
		}
		deadline := time.Now().Add(d)
		t.Reset(d)
	wait:
		for {
			select {
			case <-t.C:
				break wait
			case <-a.full:
				t.Stop()
				break wait
			case <-a.urgent:
				if d := c.ackDelay(); time.Now().Add(d).Before(deadline) {
					deadline = time.Now().Add(d)
					t.Reset(d)
				}
			case <-c.ctx.Done():
				t.Stop()
				return
			}
		}
		select {
		case <-a.urgent: // this batch takes them
		default:
		}
		select {
		case <-a.full:
		default:
		}
		c.sendAcks(c.ctx)
	}
}

// ackDelay is Options.AckDelay, or the design's bound of 200 ms while the
// relay has been refusing requests for their rate in the last
// rateMemory: batching more then keeps acks within the key's budget.
func (c *Client) ackDelay() time.Duration {
	if time.Since(time.Unix(0, c.pauseUntil.Load())) < rateMemory {
		return MaxAckDelay
	}
	return c.opts.AckDelay
}

// sendAcks posts one batch on the last bound session: the relay accepts
// acks on a key's ended session until a new one binds, and after that the
// relay redelivers (§9.3), and the copies are acked again. A batch that
// fails for a transient reason is put back for the next round.
func (c *Client) sendAcks(ctx context.Context) {
	req := c.acks.take()
	if len(req.Messages)+len(req.Receipts) == 0 {
		return
	}
	if c.opts.hooks.dropAcks.Load() {
		return
	}
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil {
		return
	}
	err := c.postJSON(ctx, s, protocol.PathAck, req, nil)
	if err == nil || ctx.Err() != nil {
		return
	}
	var pe *ProblemError
	if errors.As(err, &pe) && !pe.transient() {
		return // the session is gone (redelivery follows) or the refs are refused
	}
	c.mu.Lock()
	same := c.sess == s
	c.mu.Unlock()
	if same {
		c.acks.putBack(req)
	}
}

// flushAcks sends what is batched before Close ends the session, so that
// the relay does not redeliver what this client already has (briefly: a
// dead relay must not hold Close up).
func (c *Client) flushAcks() {
	ctx, cancel := context.WithTimeout(c.ctx, time.Second)
	defer cancel()
	c.sendAcks(ctx)
}
