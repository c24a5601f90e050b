package client

import (
	"context"
	"encoding/json"
	"time"

	"github.com/keypost/keypost/protocol"
)

// Outgoing is one message of SendMany.
type Outgoing struct {
	To   protocol.Key
	Data string      // valid UTF-8, at most max_message_bytes bytes
	ID   protocol.ID // zero: the client picks one (protocol.NewID)
}

// Sent is a message handed to the relay, and its fate: Done is closed when
// its final receipt arrives (Status delivered, expired or undeliverable),
// or at once when it was rejected (Status rejected, Err says why).
type Sent struct {
	To  protocol.Key
	ID  string        // the message id (client-chosen, so retries make no copies)
	ETA time.Duration // the relay's coarse delivery estimate, when accepted

	id   protocol.ID
	data string // kept until the receipt, for resendLost
	done chan struct{}

	// Guarded by Client.mu.
	accepted bool // the relay accepted it
	slot     bool // it holds a window slot
	finished bool

	// Set once, before done is closed.
	status string
	err    error

	c *Client
}

// Done is closed when the message's fate is known.
func (s *Sent) Done() <-chan struct{} { return s.done }

// Status is "" until Done, then protocol.StatusDelivered, StatusExpired,
// StatusUndeliverable or StatusRejected ("" also when sending was given
// up: see Err).
func (s *Sent) Status() string {
	select {
	case <-s.done:
		return s.status
	default:
		return ""
	}
}

// Err is nil unless the message was not accepted: a *SendError for a
// rejection, or why sending was given up.
func (s *Sent) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Wait waits for the final receipt and returns its status. The error is
// the rejection, ctx's error, or the client's if it stopped first.
func (s *Sent) Wait(ctx context.Context) (string, error) {
	select {
	case <-s.done:
		return s.status, s.err
	case <-ctx.Done():
		return "", ctx.Err()
	case <-s.c.done:
		select {
		case <-s.done:
			return s.status, s.err
		default:
			return "", s.c.closedErr()
		}
	}
}

// accept records an accepted message; its slot is kept until the receipt.
func (c *Client) accept(st *Sent, etaMS int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st.ETA = time.Duration(etaMS) * time.Millisecond
	st.accepted = true
}

// finish settles st once: it leaves the in-flight table, gives its slot
// back and closes Done.
func (c *Client) finish(st *Sent, status string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finishLocked(st, status, err)
}

// finishLocked is finish with Client.mu held.
func (c *Client) finishLocked(st *Sent, status string, err error) {
	if st.finished {
		return
	}
	st.finished = true
	if c.inflight[st.id] == st {
		delete(c.inflight, st.id)
	}
	if st.slot {
		st.slot = false
		c.win.give(st.To)
	}
	st.status, st.err = status, err
	close(st.done)
}

// giveUp settles the messages a call could not finish. One that was
// offered may still have been accepted; its receipt will then find no
// entry and only wake the window.
func (c *Client) giveUp(ctx context.Context, pending []*Sent, err error) error {
	err = c.callErr(ctx, err)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range pending {
		c.finishLocked(st, "", err)
	}
	return err
}

// callErr says why a call stopped: the client's reason if it stopped.
func (c *Client) callErr(ctx context.Context, err error) error {
	if cerr := c.Err(); cerr != nil {
		return cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// onReceipt handles a receipt event on the stream goroutine: it settles
// the message, frees its window slot and acks the receipt.
func (c *Client) onReceipt(data string) {
	var rc protocol.ReceiptEvent
	if json.Unmarshal([]byte(data), &rc) != nil {
		return
	}
	to, err1 := protocol.DecodeKey(rc.To)
	id, err2 := protocol.ParseID(rc.ID)
	if err1 != nil || err2 != nil {
		return
	}
	c.mu.Lock()
	if st := c.inflight[id]; st != nil && st.To == to {
		c.finishLocked(st, rc.Status, nil)
	} else {
		c.win.wake() // a slot we did not count (an earlier process) is free
	}
	c.mu.Unlock()
	c.acks.addReceipt(protocol.ReceiptRef{To: rc.To, ID: rc.ID})
}
