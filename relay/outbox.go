package relay

import (
	"encoding/json"
	"errors"
	"sync"

	"github.com/keypost/keypost/internal/sse"
	"github.com/keypost/keypost/protocol"
)

// ErrStreamClosed is returned by Session.Next once the stream is over.
var ErrStreamClosed = errors.New("relay: stream closed")

// outbox is a session's unwritten output: encoded SSE events appended by the
// relay and taken, all at once, by the transport's writer goroutine, which
// writes them and flushes once (writes coalesce under load).
type outbox struct {
	wake chan struct{} // capacity 1: "there is something to take"

	mu     sync.Mutex // after Relay.mu, never before
	buf    []byte     // guarded by mu
	spare  []byte     // guarded by mu: the writer's last buffer, reused
	seq    uint64     // guarded by mu: the SSE id of the last event
	taken  uint64     // guarded by mu: how many times the writer took buf
	closed bool       // guarded by mu: no more events; the writer ends after buf
	max    int        // set at construction
}

func newOutbox(max int) *outbox {
	return &outbox{wake: make(chan struct{}, 1), max: max}
}

// appendEvent encodes v as event typ. It returns the take generation the
// event belongs to (it is unwritten while taken < gen) and false if the
// stream is closed or would pass its cap.
func (o *outbox) appendEvent(typ string, v any) (gen uint64, ok bool) {
	data, err := json.Marshal(v)
	if err != nil {
		panic("relay: event does not encode: " + err.Error()) // our own types; a bug
	}
	return o.appendData(typ, data)
}

// appendData is appendEvent for an event already encoded as data (one
// JSON value); data is copied.
func (o *outbox) appendData(typ string, data []byte) (gen uint64, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || len(o.buf)+len(data)+64 > o.max {
		return 0, false
	}
	o.seq++
	o.buf = sse.AppendEvent(o.buf, typ, o.seq, data)
	o.signal()
	return o.taken + 1, true
}

func (o *outbox) appendRaw(b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, b...)
	o.signal()
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// unwritten reports whether output of generation gen is still waiting.
func (o *outbox) unwritten(gen uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.taken < gen
}

// pending is the number of bytes not yet taken by the writer.
func (o *outbox) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.buf)
}

// close ends the stream with a closing event. When drop is set the
// unwritten output is discarded first (a slow reader gets only the close).
func (o *outbox) close(code protocol.CloseCode, drop bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	if drop {
		o.buf = o.buf[:0]
	}
	if code != "" {
		data, _ := json.Marshal(protocol.ClosingEvent{Code: code})
		o.seq++
		o.buf = sse.AppendEvent(o.buf, protocol.EventClosing, o.seq, data)
	}
	o.closed = true
	o.signal()
}

// take hands the writer everything queued, taking back prev (the writer's
// last buffer) for reuse. closed reports that the stream is over and
// nothing more will come.
func (o *outbox) take(prev []byte) (b []byte, closed bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if prev != nil && cap(prev) <= 64<<10 {
		o.spare = prev[:0]
	}
	if len(o.buf) > 0 {
		b = o.buf
		o.buf, o.spare = o.spare, nil
		o.taken++
		return b, false
	}
	return nil, o.closed
}
