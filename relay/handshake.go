package relay

import (
	"time"

	"github.com/keypost/keypost/protocol"
)

// Auth binds key to the session (§3) and starts registration (§4). The
// caller has verified that the request is signed by key on this session.
//
// Repeating it with the same key answers nil again (a lost answer can be
// retried). A session bound to another key answers session_bound (§3.2).
// A key bound to another live session answers key_in_use, and that older
// session is ended with key_conflict (§3.1, §5): the newcomer retries after
// at least a second and then wins, so a dead half-open stream never locks
// its owner out and two live sessions never share a key.
func (r *Relay) Auth(s *Session, key protocol.Key) error {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case s.state == stateEnded:
		return errorf(protocol.CodeUnknownSession, "the session has ended")
	case s.state != stateFresh:
		if *s.key.Load() != key {
			return errorf(protocol.CodeSessionBound, "the session is bound to another key; open a new stream")
		}
		return nil
	}
	e := r.entities[key]
	if e != nil && e.sess != nil {
		r.endSession(e.sess, protocol.CloseKeyConflict, now)
		return errorf(protocol.CodeKeyInUse, "the key was bound to another session, which has now been closed; repeat /v1/auth after a second")
	}
	if e == nil {
		e = newEntity(key)
		r.entities[key] = e
	}
	if e.last != nil && e.last != s && e.last.state == stateEnded {
		// Acks are still accepted on it (docs/protocol.md §6.4): keep it,
		// and forget the one before, so an entity keeps at most one.
		if e.prev != nil {
			delete(r.sessions, e.prev.id)
		}
		e.prev = e.last
	}
	if !e.retainUntil.IsZero() { // §7: a new binding stops retention
		e.retainLeft = max(e.retainUntil.Sub(now), 0)
		e.retainUntil = time.Time{}
		e.timer.Stop()
	}
	k := key
	s.key.Store(&k)
	s.entity, e.sess, e.last = e, s, s
	s.state = stateRegistering
	s.authAt = now
	r.releaseUnauth(s)
	s.stopTimer()
	r.sendChallenge(s, now)
	s.schedule(now.Add(r.cfg.RegisterTimeout))
	return nil
}

// sendChallenge issues the next registration check (§4.1: one after another,
// each round trip a link sample).
func (r *Relay) sendChallenge(s *Session, now time.Time) {
	c := challenge{id: protocol.NewID(), sentAt: now}
	s.challenges = append(s.challenges, c)
	ev := protocol.ChallengeEvent{ID: c.id.String(), N: len(s.challenges)}
	s.challenges[len(s.challenges)-1].size = len(ev.ID) + 32
	s.send(protocol.EventChallenge, ev)
}

// Challenge takes the answer to a registration check (§4). The answer to the
// current challenge is a link sample and brings the next one, or `ready`
// after the last. Answering an answered one again is ignored. An id never
// issued to this session fails registration (closing bad_challenge).
func (r *Relay) Challenge(s *Session, id string) error {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.state == stateEnded {
		return errorf(protocol.CodeUnknownSession, "the session has ended")
	}
	cid, err := protocol.ParseID(id)
	for i := range s.challenges {
		c := &s.challenges[i]
		if err != nil || c.id != cid {
			continue
		}
		if c.answered {
			return nil
		}
		c.answered = true
		r.sample(s, c.size, now.Sub(c.sentAt), now)
		if len(s.challenges) < r.cfg.Challenges {
			r.sendChallenge(s, now)
			return nil
		}
		r.becomeReady(s, now)
		return nil
	}
	if s.state == stateRegistering {
		r.endSession(s, protocol.CloseBadChallenge, now)
		return errorf(protocol.CodeBadChallenge, "no such challenge was issued to this session; registration failed, open a new stream")
	}
	return errorf(protocol.CodeBadChallenge, "no such challenge was issued to this session")
}

func (r *Relay) sample(s *Session, n int, d time.Duration, now time.Time) {
	s.est.sample(n, d, now)
	r.cfg.Observer.LinkSample(n, d, s.est.srtt, s.est.bw)
}

// becomeReady finishes registration: `ready`, then the messages held for the
// key in order (§7), then receipts it has not acknowledged.
func (r *Relay) becomeReady(s *Session, now time.Time) {
	e := s.entity
	s.state = stateReady
	s.stopTimer()
	s.lastHeard, s.lastPing = now, now
	e.everReady = true
	e.retainLeft = 0
	r.cfg.Observer.SessionReady(s.est.srtt)
	if _, ok := s.send(protocol.EventReady, protocol.ReadyEvent{
		Key:     e.keyStr,
		RTTMS:   s.est.srtt.Milliseconds(),
		Pending: e.held.len,
	}); !ok {
		return
	}
	for n := e.held.head; n != nil && s.state == stateReady; n = n.next {
		r.deliver(s, n.v, now)
	}
	for n := e.receiptQ.head; n != nil && s.state == stateReady; n = n.next {
		r.sendReceipt(s, n.v)
	}
	s.schedule(r.nextDeadline(s, now))
}
