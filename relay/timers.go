package relay

import (
	"time"

	"github.com/keypost/keypost/protocol"
)

// onSessionTimer runs the session's due work. One timer per session, reset
// to the earliest deadline (never a timer per message).
func (r *Relay) onSessionTimer(s *Session) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	s.timerAt = time.Time{}
	if s.state == stateEnded {
		return
	}
	r.runDue(s, now)
	if s.state != stateEnded {
		s.schedule(r.nextDeadline(s, now))
	}
}

// runDue does what is due at now. Relay.mu must be held.
func (r *Relay) runDue(s *Session, now time.Time) {
	switch s.state {
	case stateFresh:
		if !now.Before(s.authDeadline()) { // §2.2
			r.endSession(s, protocol.CloseAuthTimeout, now)
			return
		}
		if !now.Before(s.nextResend) { // §2.1
			r.sendSessionEvent(s, now)
		}
	case stateRegistering:
		if !now.Before(s.authAt.Add(r.cfg.RegisterTimeout)) { // §4
			r.endSession(s, protocol.CloseRegisterTimeout, now)
		}
	case stateReady:
		// A sender that went quiet lets its settled ids go here, by its
		// next idle ping at the latest, not only at its next send.
		s.entity.settled.forget(now, r.cfg.DedupWindow)
		r.runPings(s, now)
	}
}

// runPings handles §9.3 on a ready session: unanswered pings, ack timeouts
// (ping, and resend once a pong proves the client alive) and idle pings.
func (r *Relay) runPings(s *Session, now time.Time) {
	kept := s.pings[:0]
	expired := 0
	for _, p := range s.pings {
		if now.Before(p.deadline) {
			kept = append(kept, p)
		} else {
			expired++
		}
	}
	s.pings = kept
	if expired > 0 {
		s.missed += expired
		if s.missed >= r.cfg.DeadPings {
			r.endSession(s, protocol.CloseDead, now)
			return
		}
	}
	// Ack timeouts: a message whose deadline passed becomes suspect; a ping
	// sent after its deadline will decide (pong → resend).
	var probeFrom time.Time // earliest deadline of a suspect message
	s.nextAck = time.Time{}
	for n := s.entity.held.head; n != nil; n = n.next {
		m := n.v
		if m.writtenOn != s {
			continue
		}
		if !now.Before(m.deadline) {
			m.suspect = true
		}
		if m.suspect {
			if probeFrom.IsZero() || m.deadline.Before(probeFrom) {
				probeFrom = m.deadline
			}
		} else if s.nextAck.IsZero() || m.deadline.Before(s.nextAck) {
			s.nextAck = m.deadline
		}
	}
	switch {
	case !probeFrom.IsZero() && !s.hasPingSince(probeFrom):
		r.sendPing(s, 0, now)
	case expired > 0 && len(s.pings) == 0:
		r.sendPing(s, 0, now) // keep probing until the client answers or is dead
	case len(s.pings) == 0 && !now.Before(s.idleSince().Add(r.cfg.PingInterval)):
		r.sendPing(s, 0, now)
	}
}

func (s *Session) idleSince() time.Time {
	if s.lastPing.After(s.lastHeard) {
		return s.lastPing
	}
	return s.lastHeard
}

// hasPingSince reports whether a ping sent at or after t is outstanding.
func (s *Session) hasPingSince(t time.Time) bool {
	for _, p := range s.pings {
		if !p.sentAt.Before(t) {
			return true
		}
	}
	return false
}

// nextDeadline is the earliest time the session has something to do.
func (r *Relay) nextDeadline(s *Session, now time.Time) time.Time {
	switch s.state {
	case stateFresh:
		return earliest(s.nextResend, s.authDeadline())
	case stateRegistering:
		return s.authAt.Add(r.cfg.RegisterTimeout)
	case stateReady:
		t := earliest(s.nextAck, s.idleSince().Add(r.cfg.PingInterval))
		for _, p := range s.pings {
			t = earliest(t, p.deadline)
		}
		return t
	}
	return time.Time{}
}

// earliest is the earlier of two times, a zero time meaning "none".
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// sendPing sends a ping with pad bytes of filler (§9.1). Its deadline is the
// ack timeout for its size.
func (r *Relay) sendPing(s *Session, pad int, now time.Time) {
	p := ping{id: protocol.NewID(), pad: pad, sentAt: now}
	size := pad + 64
	p.deadline = now.Add(s.est.timeout(size, r.cfg.MaxAckDelay, r.cfg.AckTimeoutMin, r.cfg.AckTimeoutMax))
	if _, ok := s.send(protocol.EventPing, protocol.PingEvent{ID: p.id.String(), Pad: padding[:pad]}); !ok {
		return
	}
	s.pings = append(s.pings, p)
	s.lastPing = now
	r.cfg.Observer.Ping()
	s.schedule(p.deadline)
}

// padding is the filler of padded pings; the server chooses its length.
var padding = func() string {
	b := make([]byte, 1<<20)
	for i := range b {
		b[i] = "0123456789abcdef"[i%16]
	}
	return string(b)
}()

// Pong takes the answer to a ping: a link sample, proof that the client is
// alive (§9.3: suspect messages are resent now, with backoff), and the end
// of the count of unanswered pings. Unknown ids are ignored.
func (r *Relay) Pong(s *Session, id string) error {
	now := time.Now()
	pid, err := protocol.ParseID(id)
	if err != nil {
		return errorf(protocol.CodeBadID, "id is not a lowercase canonical UUID")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.state != stateReady {
		if s.state == stateEnded {
			return errorf(protocol.CodeUnknownSession, "the session has ended")
		}
		return nil
	}
	for i, p := range s.pings {
		if p.id != pid {
			continue
		}
		s.pings = append(s.pings[:i], s.pings[i+1:]...)
		s.missed = 0
		r.sample(s, p.pad+64, now.Sub(p.sentAt), now)
		r.resendSuspects(s, p.sentAt, now)
		if s.state == stateReady {
			s.schedule(r.nextDeadline(s, now))
		}
		return nil
	}
	return nil
}

// resendSuspects resends every message whose ack deadline had passed when
// the answered ping was sent (§9.3), doubling its timeout, or gives it up as
// undeliverable after MaxAttempts writes.
func (r *Relay) resendSuspects(s *Session, pingSent, now time.Time) {
	for n := s.entity.held.head; n != nil && s.state == stateReady; {
		m := n.v
		n = n.next
		if m.writtenOn != s || !m.suspect || pingSent.Before(m.deadline) {
			continue
		}
		if m.attempt >= r.cfg.MaxAttempts {
			r.settle(m, protocol.StatusUndeliverable, now)
			continue
		}
		if s.out.unwritten(m.gen) { // never queue a copy behind an unwritten one
			s.schedule(now.Add(r.cfg.AckTimeoutMin)) // look again: ping, then resend
			continue
		}
		r.write(s, m, min(2*m.timeout, r.cfg.AckTimeoutMax), now)
	}
}
