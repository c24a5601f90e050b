package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keypost/keypost/protocol"
)

// Send sends data to one recipient and returns once the relay accepted it.
// See SendMany; a rejection is returned as the error (a *SendError that
// matches ErrRecipientOffline, ErrRecipientUnknown, ...).
func (c *Client) Send(ctx context.Context, to protocol.Key, data string) (*Sent, error) {
	sents, err := c.SendMany(ctx, Outgoing{To: to, Data: data})
	if err != nil {
		return nil, err
	}
	return sents[0], sents[0].Err()
}

// SendMany sends messages, each to its own recipient, in one request when
// it can (§10), and returns one *Sent per message, in order, once each was
// accepted or rejected.
//
// Invalid UTF-8, data over max_message_bytes and data starting with
// "kp-chunk:" are refused before anything is sent. Per recipient, at most
// max_pending_per_pair messages are unacknowledged at a time: SendMany
// waits for receipts rather than be refused with queue_full. Network
// errors and busy answers are retried with the same ids, so a lost answer
// never makes a copy, until ctx is done. recipient_offline,
// recipient_unknown and other refusals are final: see each Sent's Err.
//
// The error is for the call as a whole (ctx, Close, an unusable answer);
// the Sents returned with it tell which messages were accepted before.
func (c *Client) SendMany(ctx context.Context, msgs ...Outgoing) ([]*Sent, error) {
	return c.send(ctx, msgs, sendPolicy{})
}

// sendPolicy adapts send to SendStream.
type sendPolicy struct {
	chunks      bool          // the data are chunks: allow the prefix
	offlineWait time.Duration // retry recipient_offline this long (a receiver reconnecting mid-transfer)
}

// retryable reports whether a per-entry rejection is momentary.
func retryable(code protocol.ErrorCode) bool {
	switch code {
	case protocol.CodeQueueFull, protocol.CodeRecipientBusy, protocol.CodeSenderBusy, protocol.CodeServerBusy:
		return true
	}
	return false
}

func (c *Client) send(ctx context.Context, msgs []Outgoing, pol sendPolicy) ([]*Sent, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(c.ctx, cancel)()
	_, lim, err := c.waitReady(ctx)
	if err != nil {
		return nil, c.callErr(ctx, err)
	}
	sents := make([]*Sent, len(msgs))
	seen := make(map[protocol.ID]bool, len(msgs))
	for i, m := range msgs {
		switch {
		case !utf8.ValidString(m.Data):
			return nil, fmt.Errorf("%w (message %d)", ErrInvalidUTF8, i)
		case len(m.Data) > lim.MaxMessageBytes:
			return nil, fmt.Errorf("%w (message %d: %d > %d bytes)", ErrTooLarge, i, len(m.Data), lim.MaxMessageBytes)
		case !pol.chunks && strings.HasPrefix(m.Data, chunkPrefix):
			return nil, fmt.Errorf("%w (message %d)", ErrReservedPrefix, i)
		}
		id := m.ID
		if id == (protocol.ID{}) {
			id = protocol.NewID()
		}
		if seen[id] {
			return nil, fmt.Errorf("keypost: message %d repeats id %s", i, id)
		}
		seen[id] = true
		sents[i] = &Sent{To: m.To, ID: id.String(), id: id, data: m.Data, done: make(chan struct{}), c: c}
	}

	pending := append([]*Sent(nil), sents...)
	bo := backoff{min: c.opts.MinBackoff, max: c.opts.MaxBackoff}
	offlineSince := map[*Sent]time.Time{}
	for len(pending) > 0 {
		batch, changed := c.takeSlots(pending)
		if len(batch) == 0 {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return sents, c.giveUp(ctx, pending, nil)
			}
		}
		results, err := c.offer(ctx, outgoing(batch))
		if err != nil {
			return sents, c.giveUp(ctx, pending, err)
		}
		settled := map[*Sent]bool{}
		retry, waitWindow := false, false
		now := time.Now()
		for i, r := range results {
			st := batch[i]
			switch {
			case r.Status == protocol.StatusAccepted:
				c.accept(st, r.ETAMS)
				settled[st] = true
			case retryable(r.Code):
				retry, waitWindow = true, waitWindow || r.Code == protocol.CodeQueueFull
			case r.Code == protocol.CodeRecipientOffline && pol.offlineWait > 0:
				if since, ok := offlineSince[st]; !ok {
					offlineSince[st] = now
				} else if now.Sub(since) > pol.offlineWait {
					c.finish(st, protocol.StatusRejected, &SendError{To: st.To, ID: st.ID, Code: r.Code})
					settled[st] = true
					continue
				}
				retry = true
			default:
				c.finish(st, protocol.StatusRejected, &SendError{To: st.To, ID: st.ID, Code: r.Code})
				settled[st] = true
			}
		}
		left := pending[:0]
		for _, st := range pending {
			if !settled[st] {
				left = append(left, st)
			}
		}
		pending = left
		if !retry {
			bo.reset()
			continue
		}
		if !waitWindow {
			changed = nil // the relay is busy: a freed slot changes nothing, wait out the backoff
		}
		t := time.NewTimer(bo.next())
		select {
		case <-t.C:
		case <-changed:
		case <-ctx.Done():
			t.Stop()
			return sents, c.giveUp(ctx, pending, nil)
		}
		t.Stop()
	}
	return sents, nil
}

// takeSlots gives window slots to pending messages, in order, never letting
// a message pass an earlier one to the same recipient. It returns those
// holding a slot, and the channel that signals a freed slot.
func (c *Client) takeSlots(pending []*Sent) ([]*Sent, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var batch []*Sent
	blocked := map[protocol.Key]bool{}
	for _, st := range pending {
		if !st.slot {
			if blocked[st.To] || !c.win.tryTake(st.To, c.limits.MaxPendingPerPair) {
				blocked[st.To] = true
				continue
			}
			st.slot = true
			// Registered before the request: the receipt can arrive
			// before the answer.
			c.inflight[st.id] = st
		}
		batch = append(batch, st)
	}
	return batch, c.win.changed
}

func outgoing(batch []*Sent) []protocol.OutMessage {
	out := make([]protocol.OutMessage, len(batch))
	for i, st := range batch {
		out[i] = protocol.OutMessage{To: st.To.String(), Data: st.data, ID: st.ID}
	}
	return out
}

// offer POSTs messages to /v1/send, in as few requests as max_recipients
// and max_body_bytes allow, and returns one result per message. Whole
// requests that fail for a passing reason (network, 5xx, 429, a session
// that just ended) are retried, with the same ids, until ctx is done.
func (c *Client) offer(ctx context.Context, msgs []protocol.OutMessage) ([]protocol.SendResult, error) {
	results := make([]protocol.SendResult, 0, len(msgs))
	bo := backoff{min: c.opts.MinBackoff, max: c.opts.MaxBackoff}
	for len(msgs) > 0 {
		s, lim, err := c.waitReady(ctx)
		if err != nil {
			return nil, err
		}
		n, body, err := sendBody(msgs, lim)
		if err != nil {
			return nil, err
		}
		var resp protocol.SendResponse
		err = c.post(ctx, s, protocol.PathSend, body, &resp)
		if err == nil {
			if len(resp.Results) != n {
				return nil, fmt.Errorf("keypost: the relay answered %d results for %d messages", len(resp.Results), n)
			}
			for i, r := range resp.Results {
				if r.ID != msgs[i].ID {
					return nil, fmt.Errorf("keypost: the relay answered for id %s, not %s", r.ID, msgs[i].ID)
				}
			}
			results = append(results, resp.Results...)
			msgs = msgs[n:]
			bo.reset()
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		wait := bo.next()
		var pe *ProblemError
		if errors.As(err, &pe) {
			if !pe.transient() && !pe.sessionGone() {
				return nil, pe
			}
			wait = max(wait, pe.RetryAfter)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// sendBody encodes the first messages that fit in one request.
func sendBody(msgs []protocol.OutMessage, lim protocol.Limits) (int, []byte, error) {
	maxN := max(lim.MaxRecipients, 1)
	maxBody := lim.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = 4 << 20
	}
	body := append(make([]byte, 0, 256), `{"messages":[`...)
	n := 0
	for _, m := range msgs {
		if n == maxN {
			break
		}
		b, err := json.Marshal(m)
		if err != nil {
			return 0, nil, err
		}
		if n > 0 && len(body)+1+len(b)+2 > maxBody {
			break
		}
		if n > 0 {
			body = append(body, ',')
		}
		body = append(body, b...)
		n++
	}
	return n, append(body, "]}"...), nil
}

// resendLost offers again, with their ids, the messages still waiting for
// a receipt after an absence longer than the relay's retention: the relay
// may have dropped this key's entity and the receipts with it, which would
// hold their window slots forever. If the relay still has them it answers
// with the original results and makes no copies; if not, they are sent
// again and the recipient de-duplicates them by (sender, id). A message
// refused now is settled as expired: its recipient is gone.
func (c *Client) resendLost(lost []*Sent) {
	results, err := c.offer(c.ctx, outgoing(lost))
	if err != nil {
		return
	}
	for i, r := range results {
		if r.Status != protocol.StatusAccepted {
			c.finish(lost[i], protocol.StatusExpired, nil)
		}
	}
}
