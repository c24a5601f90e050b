package relay

import (
	"time"

	"github.com/keypost/keypost/protocol"
)

// entity is a user as the relay knows it, keyed by public key (§3). It
// outlives a dropped stream for the retention time (§7) with the messages
// held for it and the receipts owed to it. All fields are guarded by Relay.mu.
type entity struct {
	key    protocol.Key
	keyStr string

	sess    *Session // the session bound to the key now, any state but ended
	last    *Session // the last session that was bound; kept for acks after it ended
	prev    *Session // the one before, if it ended: kept for acks while the entity lives (§6.4)
	dropped bool     // removed from the registry; late references ignore it

	// Retention (§7): while offline, the entity is dropped at retainUntil.
	// While a new session is binding, the time left is kept in retainLeft.
	everReady   bool
	retainUntil time.Time
	retainLeft  time.Duration
	timer       *time.Timer

	// As a recipient: messages held for it, in accept order, and per sender.
	held      list[*message]
	pairs     map[protocol.Key]*pair
	heldBytes int

	// As a sender: messages it sent still held somewhere, settled ids
	// remembered for de-duplication, and receipts it has not acknowledged.
	sentBytes int
	pending   map[protocol.ID]*message
	settled   dedup
	receipts  map[protocol.ID]*node[*receipt]
	receiptQ  list[*receipt]
}

// pair is §8's queue of messages from one sender to one recipient that are
// not yet acknowledged: at most MaxPendingPerPair, in order.
type pair struct {
	msgs []*message
}

type receipt struct {
	ev     protocol.ReceiptEvent
	id     protocol.ID
	to     protocol.Key
	sentOn *Session // never sent twice on one stream
}

func newEntity(k protocol.Key) *entity {
	return &entity{
		key:      k,
		keyStr:   k.String(),
		pairs:    make(map[protocol.Key]*pair),
		pending:  make(map[protocol.ID]*message),
		receipts: make(map[protocol.ID]*node[*receipt]),
	}
}

// online reports whether the entity has a ready session.
func (e *entity) online() bool { return e.sess != nil && e.sess.state == stateReady }
