package client

import "github.com/keypost/keypost/protocol"

// window is the client's own copy of the relay's per-pair limit (§8:
// at most max_pending_per_pair unacknowledged messages from this key to
// each recipient). A slot is taken before a message is offered and given
// back by its receipt, so a fast sender waits here instead of being
// refused with queue_full. Guarded by Client.mu.
type window struct {
	used    map[protocol.Key]int
	changed chan struct{} // closed and replaced when a slot is given back
}

func (w *window) init() {
	w.used = make(map[protocol.Key]int)
	w.changed = make(chan struct{})
}

// tryTake takes a slot for to if one of max is free.
func (w *window) tryTake(to protocol.Key, max int) bool {
	if max <= 0 {
		max = 3
	}
	if w.used[to] >= max {
		return false
	}
	w.used[to]++
	return true
}

// give returns a slot for to.
func (w *window) give(to protocol.Key) {
	if n := w.used[to]; n <= 1 {
		delete(w.used, to)
	} else {
		w.used[to] = n - 1
	}
	w.wake()
}

// wake tells waiting senders to look again: a slot was given back, or a
// receipt showed the relay freed one we did not know of.
func (w *window) wake() {
	close(w.changed)
	w.changed = make(chan struct{})
}
