package client

import (
	"time"

	"github.com/keypost/keypost/protocol"
)

// Bounds of the de-duplication memory. Delivery is at least once: a copy
// arrives again when an ack is lost, after a resend (§9.3) or a
// redelivery after reconnecting (§7). A held message is redelivered at most
// until its sender's retention and the resend limit run out (minutes at
// most with the default settings), so ids are remembered for 10 minutes,
// and at most seenMax of them so a flood cannot grow the set without bound.
const (
	seenTTL = 10 * time.Minute
	seenMax = 1 << 17
)

// msgKey identifies a message: (sender, id).
type msgKey struct {
	from protocol.Key
	id   protocol.ID
}

// seenEntry is what the client remembers of a message it parsed.
type seenEntry struct {
	at       time.Time
	deferred bool // not acked yet: it waits in a full inbox (guarded by the owner's lock)
}

// seenSet is a time- and count-bounded set of message keys, oldest first.
// It is not safe for concurrent use; its owner locks it.
type seenSet struct {
	ttl time.Duration
	max int
	m   map[msgKey]*seenEntry
	q   []msgKey // insertion order, from head
	h   int
}

func newSeenSet(ttl time.Duration, max int) *seenSet {
	return &seenSet{ttl: ttl, max: max, m: make(map[msgKey]*seenEntry)}
}

func (s *seenSet) get(k msgKey) *seenEntry { return s.m[k] }

// add remembers k (which must not be present) and forgets entries that are
// too old or too many.
func (s *seenSet) add(k msgKey, e *seenEntry) {
	s.m[k] = e
	s.q = append(s.q, k)
	for s.h < len(s.q) {
		old := s.q[s.h]
		oe := s.m[old]
		if len(s.m) <= s.max && e.at.Sub(oe.at) < s.ttl {
			break
		}
		delete(s.m, old)
		s.q[s.h] = msgKey{}
		s.h++
	}
	if s.h > 1024 && s.h > len(s.q)/2 { // compact the queue
		s.q = append(s.q[:0], s.q[s.h:]...)
		s.h = 0
	}
}

func (s *seenSet) len() int { return len(s.m) }
