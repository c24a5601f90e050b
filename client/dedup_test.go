package client

import (
	"testing"
	"time"

	"github.com/keypost/keypost/protocol"
)

// The set forgets entries older than its TTL and never holds more than
// its maximum, oldest first.
func TestSeenSetBounds(t *testing.T) {
	s := newSeenSet(time.Minute, 3)
	t0 := time.Now()
	keys := make([]msgKey, 5)
	for i := range keys {
		keys[i] = msgKey{id: protocol.NewID()}
	}
	for i := range 4 {
		s.add(keys[i], &seenEntry{at: t0})
	}
	if s.len() != 3 || s.get(keys[0]) != nil || s.get(keys[3]) == nil {
		t.Fatalf("count bound: len %d", s.len())
	}
	s.add(keys[4], &seenEntry{at: t0.Add(2 * time.Minute)})
	if s.len() != 1 || s.get(keys[4]) == nil {
		t.Fatalf("time bound: len %d", s.len())
	}
}
