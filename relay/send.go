package relay

import (
	"hash/maphash"
	"time"

	"github.com/keypost/keypost/protocol"
)

// Outgoing is one parsed entry of a send request (§10). The transport
// decodes the body; an entry it could not parse carries Err and is rejected
// with that code, alone.
type Outgoing struct {
	To    protocol.Key // decoded (DecodeKey); point validity is checked here
	ToStr string       // as the client wrote it, echoed in the result
	ID    protocol.ID
	HasID bool   // false: the relay assigns an id
	IDStr string // the id as the client wrote it, echoed when it is malformed
	Data  string
	Err   protocol.ErrorCode
}

// Send offers messages from s's key to their recipients and answers one
// result per entry, in order (§10). Checks, in this order: duplicate_id,
// too_large (§9.4), recipient_unknown, recipient_offline (§6), queue_full
// (§8), recipient_busy and sender_busy. Accepted messages are written to
// their recipients' streams at once.
func (r *Relay) Send(s *Session, msgs []Outgoing) ([]protocol.SendResult, error) {
	now := time.Now()
	results := make([]protocol.SendResult, len(msgs))
	r.mu.Lock()
	defer r.mu.Unlock()
	switch s.state {
	case stateEnded:
		return nil, errorf(protocol.CodeUnknownSession, "the session has ended")
	case stateFresh, stateRegistering:
		return nil, errorf(protocol.CodeNotReady, "finish registration (three challenges) before sending")
	}
	from := s.entity
	if from.receiptQ.len >= r.cfg.MaxUnackedReceipts {
		return nil, &Error{Code: protocol.CodeReceiptsUnacked, RetryAfter: 1,
			Detail: "acknowledge your receipts (POST /v1/ack) before sending more"}
	}
	if r.heldBytes >= r.cfg.MaxHeldTotal {
		return nil, &Error{Code: protocol.CodeServerBusy, RetryAfter: 1, Detail: "the relay holds as much as it may; retry later"}
	}
	from.settled.forget(now, r.cfg.DedupWindow)
	for i := range msgs {
		res := r.sendOne(s, from, &msgs[i], now)
		if res.Status == protocol.StatusAccepted {
			r.cfg.Observer.Accepted()
		} else {
			r.cfg.Observer.Rejected(res.Code)
		}
		results[i] = res
	}
	return results, nil
}

func (r *Relay) sendOne(s *Session, from *entity, o *Outgoing, now time.Time) protocol.SendResult {
	res := protocol.SendResult{To: o.ToStr, Status: protocol.StatusRejected}
	if o.Err != "" {
		// Every result carries an id: a malformed one is echoed as written.
		res.ID, res.Code = o.IDStr, o.Err
		if res.ID == "" {
			res.ID = protocol.NewID().String()
		}
		return res
	}
	if !o.HasID {
		o.ID, o.HasID = protocol.NewID(), true
	}
	res.ID = o.ID.String()
	hash := maphash.String(r.seed, o.Data)
	// A message is identified by (sender, id): a retry returns the
	// original result and makes no copy.
	if m := from.pending[o.ID]; m != nil {
		if m.to.key != o.To || m.hash != hash {
			res.Code = protocol.CodeDuplicateID
			return res
		}
		return r.accepted(res, m.to, m)
	}
	if sum, ok := from.settled.find(o.ID); ok {
		if sum != settledSum(r.seed, o.To, hash) {
			res.Code = protocol.CodeDuplicateID
			return res
		}
		res.Status, res.ETAMS = protocol.StatusAccepted, 1
		return res
	}
	if len(o.Data) > r.cfg.MaxMessageBytes {
		res.Code = protocol.CodeTooLarge
		return res
	}
	to := r.entities[o.To]
	switch {
	case to == nil && !o.To.Valid():
		res.Code = protocol.CodeBadKey
		return res
	case to == nil:
		res.Code = protocol.CodeRecipientUnknown
		return res
	case !to.online():
		res.Code = protocol.CodeRecipientOffline // §6
		return res
	}
	p := to.pairs[from.key]
	if p != nil {
		// Held messages are also found by (sender key, id) in the pair
		// queue: a sender whose entity expired while they were held, and
		// who came back, must not get the same id held twice.
		for _, m := range p.msgs {
			if m.id == o.ID {
				if m.hash != hash {
					res.Code = protocol.CodeDuplicateID
					return res
				}
				return r.accepted(res, to, m)
			}
		}
	}
	if p != nil && len(p.msgs) >= r.cfg.MaxPendingPerPair {
		res.Code = protocol.CodeQueueFull // §8
		return res
	}
	size := len(o.Data) + messageOverhead
	switch {
	case to.heldBytes+size > r.cfg.MaxHeldPerRecipient:
		res.Code = protocol.CodeRecipientBusy
		return res
	case from.sentBytes+size > r.cfg.MaxHeldPerSender:
		res.Code = protocol.CodeSenderBusy
		return res
	case r.heldBytes+size > r.cfg.MaxHeldTotal:
		res.Code = protocol.CodeServerBusy
		return res
	}
	if p == nil {
		p = &pair{msgs: make([]*message, 0, r.cfg.MaxPendingPerPair)}
		to.pairs[from.key] = p
	}
	m := &message{
		id: o.ID, idStr: res.ID, from: from, to: to, data: o.Data, hash: hash,
		size: size, accepted: now, sentAt: now.UnixMilli(),
	}
	m.elem = to.held.pushBack(m)
	p.msgs = append(p.msgs, m)
	from.pending[m.id] = m
	to.heldBytes += size
	from.sentBytes += size
	r.heldBytes += size
	r.deliver(to.sess, m, now)
	return r.accepted(res, to, m)
}

// accepted fills an accepted result with its coarse eta (§9.1): the link's
// t(L) plus the output queued ahead of the message.
func (r *Relay) accepted(res protocol.SendResult, to *entity, m *message) protocol.SendResult {
	res.Status, res.Code = protocol.StatusAccepted, ""
	eta := time.Duration(0)
	if s := to.sess; s != nil && s.state == stateReady {
		eta = s.est.predict(len(m.data)+messageOverhead) + s.est.transfer(s.out.pending())
	}
	res.ETAMS = coarseMS(eta)
	return res
}

// deliver writes a held message to its recipient's ready session, first
// sending a padded ping when the link estimate has no fresh sample of a
// similar size (§9.1). The message follows the ping at once.
func (r *Relay) deliver(s *Session, m *message, now time.Time) {
	size := len(m.data) + messageOverhead
	if !s.est.fresh(size, now, r.cfg.SampleMaxAge) &&
		now.Sub(s.lastPadded) >= s.est.timeout(size, r.cfg.MaxAckDelay, r.cfg.AckTimeoutMin, r.cfg.AckTimeoutMax) {
		s.lastPadded = now
		r.sendPing(s, min(size, r.cfg.MaxPingPad), now)
		if s.state != stateReady {
			return
		}
	}
	r.write(s, m, s.est.timeout(size, r.cfg.MaxAckDelay, r.cfg.AckTimeoutMin, r.cfg.AckTimeoutMax), now)
}

// write puts one copy of m on s's stream with the given ack timeout.
func (r *Relay) write(s *Session, m *message, timeout time.Duration, now time.Time) {
	r.scratch = protocol.MessageEvent{
		ID: m.idStr, From: m.from.keyStr, Data: m.data, SentAt: m.sentAt, Attempt: m.attempt + 1,
	}.AppendJSON(r.scratch[:0])
	gen, ok := s.sendData(protocol.EventMessage, r.scratch)
	if !ok {
		return // the stream was closed; m stays held for redelivery
	}
	m.attempt++
	m.writtenOn, m.writtenAt, m.gen = s, now, gen
	m.timeout, m.deadline, m.suspect = timeout, now.Add(timeout), false
	m.wireBytes = len(m.data) + messageOverhead
	r.cfg.Observer.Delivered(m.attempt)
	if s.nextAck.IsZero() || m.deadline.Before(s.nextAck) {
		s.nextAck = m.deadline
	}
	s.schedule(m.deadline)
}
