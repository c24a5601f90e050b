package client

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"time"

	"github.com/keypost/keypost/protocol"
)

// maxAhead bounds the chunks an incoming transfer keeps in memory while an
// earlier one is missing. A sender keeps at most max_pending_per_pair (3)
// chunks unacknowledged, so a well-behaved one is never more than a few
// ahead; more is refused instead of buffered.
const maxAhead = 32

// Transfer is an incoming transfer, as given to Options.OnTransfer.
type Transfer struct {
	From protocol.Key
	ID   string // the transfer id (chosen by the sender, not a message id)
	Name string // the sender's name for it: untrusted, not a safe path
	Size int64
	// Path is a temporary file holding the whole content, its SHA-256
	// checked; set only when the transfer completed. It is removed when
	// OnTransfer returns, unless OnTransfer moved it (os.Rename).
	Path string
}

// inTransfer is an incoming transfer being reassembled, spooled to a
// temporary file in order. Owned by deliverLoop.
type inTransfer struct {
	t        Transfer
	key      msgKey // (sender, transfer id)
	total    int64
	next     int64 // index of the next chunk to write
	written  int64
	ahead    map[int64][]byte // chunks past next, waiting for it
	sum      string           // expected SHA-256, from the last chunk
	h        hash.Hash
	f        *os.File
	deadline time.Time
}

// transfers reassembles incoming transfers. Owned by deliverLoop; its one
// timer is reset to the earliest deadline.
type transfers struct {
	c        *Client
	m        map[msgKey]*inTransfer
	finished *seenSet // transfers completed or failed: their late chunks are ignored
	timer    *time.Timer
}

func newTransfers(c *Client) *transfers {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &transfers{c: c, m: make(map[msgKey]*inTransfer), finished: newSeenSet(seenTTL, seenMax), timer: t}
}

// timeout is how long a transfer may go without a chunk. Chunks held for
// this client while it was offline come back within the relay's retention
// or expire, so waiting longer than that (plus a margin for the sender's
// own reconnect) is waiting for nothing.
func (x *transfers) timeout() time.Duration {
	if d := x.c.opts.TransferTimeout; d > 0 {
		return d
	}
	return time.Duration(x.c.Limits().RetentionMS)*time.Millisecond + DefaultTransferMargin
}

// chunk takes one chunk message (already de-duplicated by message id).
func (x *transfers) chunk(m Message) {
	defer x.rearm()
	e, data, perr := parseChunk(m.Data)
	if e == nil {
		x.report(&Transfer{From: m.From}, perr)
		return
	}
	tid, _ := protocol.ParseID(e.ID)
	k := msgKey{m.From, tid}
	if x.finished.get(k) != nil {
		return // a late chunk of a transfer already over
	}
	t := x.m[k]
	if t == nil {
		t = &inTransfer{t: Transfer{From: m.From, ID: e.ID, Name: e.Name, Size: e.Size}, key: k, total: e.Total}
	}
	switch {
	case e.Abort != "":
		x.fail(t, fmt.Errorf("%w: %s", ErrTransferAborted, e.Abort))
		return
	case perr != nil:
		x.fail(t, perr)
		return
	case e.Total != t.total || e.Size != t.t.Size || e.Name != t.t.Name:
		x.fail(t, fmt.Errorf("%w: chunk %d disagrees with earlier ones", ErrTransferCorrupt, e.Index))
		return
	}
	if t.f == nil {
		if err := x.open(t); err != nil {
			x.fail(t, err)
			return
		}
	}
	t.deadline = time.Now().Add(x.timeout())
	if e.Index == t.total-1 {
		t.sum = e.SHA256
	}
	_, buffered := t.ahead[e.Index]
	switch {
	case e.Index < t.next || buffered:
		return // a second copy under another message id
	case e.Index > t.next:
		if len(t.ahead) >= maxAhead {
			x.fail(t, fmt.Errorf("%w: chunks too far out of order", ErrTransferCorrupt))
			return
		}
		t.ahead[e.Index] = data
		return
	}
	for {
		if err := t.write(data); err != nil {
			x.fail(t, err)
			return
		}
		next, ok := t.ahead[t.next]
		if !ok {
			break
		}
		delete(t.ahead, t.next)
		data = next
	}
	if t.next == t.total {
		x.complete(t)
	}
}

// open starts a transfer, within the limits on incoming transfers.
func (x *transfers) open(t *inTransfer) error {
	o := x.c.opts
	switch {
	case t.t.Size > o.MaxTransferBytes:
		return fmt.Errorf("keypost: transfer of %d bytes refused (MaxTransferBytes %d)", t.t.Size, o.MaxTransferBytes)
	case len(x.m) >= o.MaxTransfers:
		return fmt.Errorf("keypost: transfer refused: %d already in progress (MaxTransfers)", len(x.m))
	}
	f, err := os.CreateTemp(o.TransferDir, "keypost-*.part")
	if err != nil {
		return fmt.Errorf("keypost: transfer: %w", err)
	}
	t.f, t.h, t.ahead = f, sha256.New(), make(map[int64][]byte)
	x.m[t.key] = t
	return nil
}

// write appends the next chunk.
func (t *inTransfer) write(b []byte) error {
	if t.written+int64(len(b)) > t.t.Size {
		return fmt.Errorf("%w: more than %d bytes", ErrTransferCorrupt, t.t.Size)
	}
	if _, err := t.f.Write(b); err != nil {
		return fmt.Errorf("keypost: transfer: %w", err)
	}
	t.h.Write(b)
	t.written += int64(len(b))
	t.next++
	return nil
}

// complete checks the whole and hands it over.
func (x *transfers) complete(t *inTransfer) {
	switch {
	case t.written != t.t.Size:
		x.fail(t, fmt.Errorf("%w: %d bytes, announced %d", ErrTransferCorrupt, t.written, t.t.Size))
		return
	case hex.EncodeToString(t.h.Sum(nil)) != t.sum:
		x.fail(t, fmt.Errorf("%w: SHA-256 mismatch", ErrTransferCorrupt))
		return
	}
	path := t.f.Name()
	if err := t.f.Close(); err != nil {
		x.fail(t, fmt.Errorf("keypost: transfer: %w", err))
		return
	}
	t.f = nil
	x.forget(t)
	// Removed once OnTransfer is over, unless it moved the file; deferred
	// so that an OnTransfer that panics does not leave it behind either.
	defer os.Remove(path)
	done := t.t
	done.Path = path
	x.report(&done, nil)
}

// fail discards a transfer's data and reports why.
func (x *transfers) fail(t *inTransfer, err error) {
	x.discard(t)
	x.forget(t)
	x.report(&t.t, err)
}

func (x *transfers) discard(t *inTransfer) {
	if t.f != nil {
		_ = t.f.Close()
		_ = os.Remove(t.f.Name())
		t.f = nil
	}
	t.ahead = nil
}

func (x *transfers) forget(t *inTransfer) {
	delete(x.m, t.key)
	x.finished.add(t.key, &seenEntry{at: time.Now()})
}

func (x *transfers) report(t *Transfer, err error) {
	x.c.opts.OnTransfer(t, err)
}

// expire fails transfers that got no chunk in time.
func (x *transfers) expire(now time.Time) {
	for _, t := range x.m {
		if !now.Before(t.deadline) {
			x.fail(t, fmt.Errorf("%w: no chunk for %v (%d of %d received)", ErrTransferTimeout, x.timeout(), t.next, t.total))
		}
	}
	x.rearm()
}

// rearm resets the timer to the earliest deadline.
func (x *transfers) rearm() {
	var first time.Time
	for _, t := range x.m {
		if first.IsZero() || t.deadline.Before(first) {
			first = t.deadline
		}
	}
	if first.IsZero() {
		x.timer.Stop()
		return
	}
	x.timer.Reset(time.Until(first))
}

// closeAll discards transfers in progress when the client stops; they are
// reported unless the application itself closed the client.
func (x *transfers) closeAll(c *Client) {
	x.timer.Stop()
	err := c.closedErr()
	for _, t := range x.m {
		x.discard(t)
		delete(x.m, t.key)
		if err != ErrClosed {
			x.report(&t.t, err)
		}
	}
}
