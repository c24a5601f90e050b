package relay

import (
	"time"

	"github.com/keypost/keypost/protocol"
)

// Acks is a parsed ack request: messages this key received and receipts it
// got for messages it sent.
type Acks struct {
	Messages []MessageAck
	Receipts []ReceiptAck
}

// MessageAck names a delivered message by sender and id.
type MessageAck struct {
	From protocol.Key
	ID   protocol.ID
}

// ReceiptAck names a receipt by recipient and message id.
type ReceiptAck struct {
	To protocol.Key
	ID protocol.ID
}

// Ack confirms delivered messages (the sender gets a `delivered` receipt and
// the pair's slot is freed, §8) and acknowledges receipts. Entries that
// match nothing addressed to this key are ignored; acks are accepted on a
// key's ended session until its entity expires.
func (r *Relay) Ack(s *Session, a Acks) error {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e := s.entity
	if e == nil {
		return errorf(protocol.CodeNotReady, "authorize before acknowledging")
	}
	if e.dropped {
		return errorf(protocol.CodeUnknownSession, "the session has ended")
	}
	for _, ack := range a.Messages {
		p := e.pairs[ack.From]
		if p == nil {
			continue
		}
		for _, m := range p.msgs {
			if m.id != ack.ID {
				continue
			}
			if m.writtenOn == s && m.ackSample(s) {
				r.sample(s, m.wireBytes, now.Sub(m.writtenAt), now)
			}
			r.settle(m, protocol.StatusDelivered, now)
			break
		}
	}
	for _, ack := range a.Receipts {
		n := e.receipts[ack.ID]
		if n == nil || n.v.to != ack.To {
			continue
		}
		delete(e.receipts, ack.ID)
		e.receiptQ.remove(n)
	}
	return nil
}

// settle ends a held message with a final status: it is removed from its
// recipient, its slot freed (§8), its id remembered for de-duplication, and
// its sender gets a receipt.
func (r *Relay) settle(m *message, status string, now time.Time) {
	to, from := m.to, m.from
	to.held.remove(m.elem)
	if p := to.pairs[from.key]; p != nil {
		for i, x := range p.msgs {
			if x == m {
				p.msgs = append(p.msgs[:i], p.msgs[i+1:]...)
				break
			}
		}
		if len(p.msgs) == 0 {
			delete(to.pairs, from.key)
		}
	}
	to.heldBytes -= m.size
	from.sentBytes -= m.size
	r.heldBytes -= m.size
	r.cfg.Observer.Settled(status, now.Sub(m.accepted))
	if from.dropped {
		// The sender's entity expired while the message was held; if the
		// key is back, its new entity gets the receipt.
		if from = r.entities[from.key]; from == nil {
			return
		}
	}
	delete(from.pending, m.id)
	from.settled.remember(m.id, settledSum(r.seed, to.key, m.hash), now, r.cfg.MaxDedupPerSender)
	rc := &receipt{ev: protocol.ReceiptEvent{ID: m.idStr, To: to.keyStr, Status: status}, id: m.id, to: to.key}
	if old := from.receipts[m.id]; old != nil {
		from.receiptQ.remove(old)
	}
	from.receipts[m.id] = from.receiptQ.pushBack(rc)
	if s := from.sess; s != nil && s.state == stateReady {
		r.sendReceipt(s, rc)
	}
}

// sendReceipt writes a receipt on s unless it was already written there.
func (r *Relay) sendReceipt(s *Session, rc *receipt) {
	if rc.sentOn == s {
		return
	}
	r.scratch = rc.ev.AppendJSON(r.scratch[:0])
	if _, ok := s.sendData(protocol.EventReceipt, r.scratch); ok {
		rc.sentOn = s
	}
}
