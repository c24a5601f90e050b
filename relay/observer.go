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
	StreamClosed(code protocol.CloseCode) // "" when the client went away
	SessionReady(rtt time.Duration)
	Accepted()
	Rejected(code protocol.ErrorCode)
	Delivered(attempt int) // a message event was queued on a stream
	Settled(status string, held time.Duration)
	Ping()
	LinkSample(bytes int, d time.Duration)
}

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) StreamOpened()                   {}
func (NopObserver) StreamClosed(protocol.CloseCode) {}
func (NopObserver) SessionReady(time.Duration)      {}
func (NopObserver) Accepted()                       {}
func (NopObserver) Rejected(protocol.ErrorCode)     {}
func (NopObserver) Delivered(int)                   {}
func (NopObserver) Settled(string, time.Duration)   {}
func (NopObserver) Ping()                           {}
func (NopObserver) LinkSample(int, time.Duration)   {}

var _ Observer = NopObserver{}
