package client

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/keypost/keypost/protocol"
)

// Message is a message received from another key.
type Message struct {
	From   protocol.Key
	ID     string    // the sender's message id; (From, ID) is unique
	Data   string    // as sent, byte for byte
	SentAt time.Time // when the relay accepted it
}

// inItem is a parsed message waiting to be handed over.
type inItem struct {
	msg   Message
	ref   protocol.MessageRef
	entry *seenEntry
}

// inbox holds parsed messages until deliverLoop hands them over, and
// remembers which it has seen. The stream goroutine adds; deliverLoop
// takes.
type inbox struct {
	signal chan struct{} // capacity 1: "there may be something to take"
	buffer int           // set at construction

	mu    sync.Mutex
	items []inItem // guarded by mu; FIFO from head
	head  int      // guarded by mu
	seen  *seenSet // guarded by mu
}

func newInbox(buffer int) *inbox {
	return &inbox{signal: make(chan struct{}, 1), buffer: buffer, seen: newSeenSet(seenTTL, seenMax)}
}

// add takes one copy of a message. It reports whether to ack it now: a
// new message is acked at once while the buffer has room (its ack is
// otherwise deferred until it is handed over); every later copy is acked
// too (at least once: design §Messages), unless the first one's ack is
// still deferred, and is never handed over again.
func (in *inbox) add(k msgKey, it inItem) (ackNow, dup bool) {
	now := time.Now()
	in.mu.Lock()
	defer in.mu.Unlock()
	if e := in.seen.get(k); e != nil {
		return !e.deferred, true
	}
	it.entry = &seenEntry{at: now, deferred: len(in.items)-in.head >= in.buffer}
	in.seen.add(k, it.entry)
	in.items = append(in.items, it)
	notify(in.signal)
	return !it.entry.deferred, false
}

// take removes the oldest item.
func (in *inbox) take() (inItem, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.head == len(in.items) {
		in.items, in.head = in.items[:0], 0
		return inItem{}, false
	}
	it := in.items[in.head]
	in.items[in.head] = inItem{}
	in.head++
	return it, true
}

// handed marks an item handed over and reports whether its ack was
// deferred (and is now due).
func (in *inbox) handed(it inItem) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	d := it.entry.deferred
	it.entry.deferred = false
	return d
}

// onMessage handles a message event on the stream goroutine: it parses,
// de-duplicates and queues the message, and acks it.
func (c *Client) onMessage(data string) {
	var ev protocol.MessageEvent
	if json.Unmarshal([]byte(data), &ev) != nil {
		return
	}
	from, err1 := protocol.DecodeKey(ev.From)
	id, err2 := protocol.ParseID(ev.ID)
	if err1 != nil || err2 != nil {
		return // a relay bug; nothing to ack it with
	}
	ref := protocol.MessageRef{From: ev.From, ID: ev.ID}
	it := inItem{msg: Message{From: from, ID: ev.ID, Data: ev.Data, SentAt: time.UnixMilli(ev.SentAt)}, ref: ref}
	ackNow, dup := c.in.add(msgKey{from, id}, it)
	if dup && c.opts.hooks.duplicate != nil {
		c.opts.hooks.duplicate(ev.Attempt)
	}
	if ackNow {
		c.acks.addMessage(ref)
	}
}

// deliverLoop hands messages over in order (to OnMessage or Messages()),
// reassembles incoming transfers, and times out stalled ones. It ends at
// Close, or once the client has stopped and everything parsed was handed
// over.
func (c *Client) deliverLoop() {
	defer c.wg.Done()
	defer close(c.msgs)
	xf := newTransfers(c)
	defer xf.closeAll(c)
	for {
		it, ok := c.in.take()
		if !ok {
			select {
			case <-c.done:
				return
			default:
			}
			select {
			case <-c.in.signal:
			case <-xf.timer.C:
				xf.expire(time.Now())
			case <-c.done:
			case <-c.quit:
				return
			}
			continue
		}
		if c.opts.OnTransfer != nil && strings.HasPrefix(it.msg.Data, chunkPrefix) {
			xf.chunk(it.msg)
		} else if c.opts.OnMessage != nil {
			c.opts.OnMessage(it.msg)
		} else {
			select {
			case c.msgs <- it.msg:
			case <-c.quit:
				return
			}
		}
		if c.in.handed(it) {
			c.acks.addMessage(it.ref)
		}
	}
}
