package relay

import (
	"time"

	"github.com/keypost/keypost/protocol"
)

// Observer is told what the relay does, for metrics and logs. Its methods
// are called with the relay's lock held: they must be fast and must not call
// back into the relay. Embed NopObserver to implement only some of them.
type Observer interface {
	StreamOpened()
	// StreamClosed: code is "" when the client went away; ready says
	// whether the session had become ready (if not, its handshake failed).
	StreamClosed(code protocol.CloseCode, ready bool)
	SessionReady(rtt time.Duration)
	Accepted()
	Rejected(code protocol.ErrorCode)
	Delivered(attempt int) // a message event was queued on a stream
	Settled(status string, held time.Duration)
	Ping()
	// LinkSample: one exchange of bytes answered after d, and the session's
	// estimate after it: smoothed round trip and bandwidth (bytes/s).
	LinkSample(bytes int, d, srtt time.Duration, bandwidth float64)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) StreamOpened()                                         {}
func (NopObserver) StreamClosed(protocol.CloseCode, bool)                 {}
func (NopObserver) SessionReady(time.Duration)                            {}
func (NopObserver) Accepted()                                             {}
func (NopObserver) Rejected(protocol.ErrorCode)                           {}
func (NopObserver) Delivered(int)                                         {}
func (NopObserver) Settled(string, time.Duration)                         {}
func (NopObserver) Ping()                                                 {}
func (NopObserver) LinkSample(int, time.Duration, time.Duration, float64) {}

var _ Observer = NopObserver{}
