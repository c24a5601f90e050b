package relay

import (
	"time"

	"github.com/keypost/keypost/protocol"
)

// message is one message held by the relay until it is settled: delivered
// (acknowledged), expired (§7) or undeliverable (§9.3). Guarded by Relay.mu.
type message struct {
	id       protocol.ID
	idStr    string
	from, to *entity
	data     string
	hash     uint64
	size     int // bytes it counts against the memory caps
	accepted time.Time
	sentAt   int64 // Unix ms, on the wire
	elem     *node[*message]

	// Delivery state.
	attempt   int       // writes so far; the next write sends attempt+1
	writtenOn *Session  // session of the last write; nil if not written on the current one
	writtenAt time.Time // time of the last write
	gen       uint64    // outbox generation of the last write (unwritten while taken < gen)
	timeout   time.Duration
	deadline  time.Time // ack deadline of the last write
	suspect   bool      // the deadline passed; waiting for a pong to resend (§9.3)
	wireBytes int       // size of the event as written, for link samples
}

// ackSample reports whether the ack of this message is a valid link sample:
// a first delivery, acknowledged on the stream it was written to (Karn).
func (m *message) ackSample(s *Session) bool {
	return m.attempt == 1 && m.writtenOn == s
}
