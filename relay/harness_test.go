package relay

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keypost/keypost/protocol"
)

// The core is tested without HTTP: a tclient plays the transport's writer
// (it takes the session's output and parses the SSE frames) and calls the
// relay's methods as the HTTP layer would after verifying a request. Tests
// run inside synctest bubbles, so 3 s, 20 s and 60 s rules take no time.

type event struct {
	typ  string
	data string
}

type tclient struct {
	t      *testing.T
	r      *Relay
	s      *Session
	key    protocol.Key
	queue  []event
	ended  bool
	closed protocol.CloseCode
}

func newKey(t *testing.T) protocol.Key {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := protocol.KeyFromPublic(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// open starts a stream with a fresh key (not yet bound).
func open(t *testing.T, r *Relay) *tclient {
	t.Helper()
	return openKey(t, r, newKey(t))
}

func openKey(t *testing.T, r *Relay, k protocol.Key) *tclient {
	t.Helper()
	s, err := r.Open("192.0.2.1")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return &tclient{t: t, r: r, s: s, key: k}
}

// pull moves everything the relay queued into c.queue.
func (c *tclient) pull() {
	for {
		b, closed := c.s.Take(nil)
		if len(b) == 0 {
			if closed {
				c.ended = true
			}
			return
		}
		for _, frame := range strings.Split(string(b), "\n\n") {
			var ev event
			for _, line := range strings.Split(frame, "\n") {
				switch {
				case strings.HasPrefix(line, "event: "):
					ev.typ = line[len("event: "):]
				case strings.HasPrefix(line, "data: "):
					ev.data = line[len("data: "):]
				}
			}
			if ev.typ == "" {
				continue
			}
			if ev.typ == protocol.EventClosing {
				var cl protocol.ClosingEvent
				_ = json.Unmarshal([]byte(ev.data), &cl)
				c.closed = cl.Code
			}
			c.queue = append(c.queue, ev)
		}
	}
}

// events returns and clears what arrived so far.
func (c *tclient) events() []event {
	c.pull()
	q := c.queue
	c.queue = nil
	return q
}

// next returns the next event, failing if there is none now.
func (c *tclient) next() event {
	c.t.Helper()
	c.pull()
	if len(c.queue) == 0 {
		c.t.Fatalf("no event")
	}
	ev := c.queue[0]
	c.queue = c.queue[1:]
	return ev
}

func (c *tclient) expect(typ string, v any) {
	c.t.Helper()
	ev := c.next()
	if ev.typ != typ {
		c.t.Fatalf("got %s %s, want %s", ev.typ, ev.data, typ)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(ev.data), v); err != nil {
			c.t.Fatal(err)
		}
	}
}

// none fails if any event is queued.
func (c *tclient) none() {
	c.t.Helper()
	if evs := c.events(); len(evs) > 0 {
		c.t.Fatalf("unexpected events: %v", evs)
	}
}

// count returns how many events of typ are queued, consuming all.
func (c *tclient) count(typ string) int {
	n := 0
	for _, ev := range c.events() {
		if ev.typ == typ {
			n++
		}
	}
	return n
}

// register runs the handshake to ready (§2–§4).
func (c *tclient) register() protocol.ReadyEvent {
	c.t.Helper()
	c.expect(protocol.EventSession, nil)
	if err := c.r.Auth(c.s, c.key); err != nil {
		c.t.Fatalf("Auth: %v", err)
	}
	return c.challenges()
}

func (c *tclient) challenges() protocol.ReadyEvent {
	c.t.Helper()
	for {
		ev := c.next()
		switch ev.typ {
		case protocol.EventSession:
		case protocol.EventChallenge:
			var ch protocol.ChallengeEvent
			_ = json.Unmarshal([]byte(ev.data), &ch)
			if err := c.r.Challenge(c.s, ch.ID); err != nil {
				c.t.Fatalf("Challenge: %v", err)
			}
		case protocol.EventReady:
			var r protocol.ReadyEvent
			_ = json.Unmarshal([]byte(ev.data), &r)
			return r
		default:
			c.t.Fatalf("unexpected %s during registration", ev.typ)
		}
	}
}

// ready opens and registers a client with a fresh key.
func ready(t *testing.T, r *Relay) *tclient {
	t.Helper()
	c := open(t, r)
	c.register()
	return c
}

// reconnect opens a new stream for the same key and registers it.
func (c *tclient) reconnect() *tclient {
	c.t.Helper()
	n := openKey(c.t, c.r, c.key)
	n.register()
	return n
}

// drop ends the stream as a client that went away would.
func (c *tclient) drop() { c.r.StreamEnded(c.s) }

func (c *tclient) send(msgs ...Outgoing) []protocol.SendResult {
	c.t.Helper()
	res, err := c.r.Send(c.s, msgs)
	if err != nil {
		c.t.Fatalf("Send: %v", err)
	}
	return res
}

func msgTo(to *tclient, data string) Outgoing {
	return Outgoing{To: to.key, ToStr: to.key.String(), ID: protocol.NewID(), HasID: true, Data: data}
}

func (c *tclient) message() protocol.MessageEvent {
	c.t.Helper()
	var m protocol.MessageEvent
	for {
		ev := c.next()
		if ev.typ == protocol.EventPing {
			continue
		}
		if ev.typ != protocol.EventMessage {
			c.t.Fatalf("got %s %s, want message", ev.typ, ev.data)
		}
		_ = json.Unmarshal([]byte(ev.data), &m)
		return m
	}
}

func (c *tclient) receipt() protocol.ReceiptEvent {
	c.t.Helper()
	var rc protocol.ReceiptEvent
	for {
		ev := c.next()
		if ev.typ == protocol.EventPing {
			continue
		}
		if ev.typ != protocol.EventReceipt {
			c.t.Fatalf("got %s %s, want receipt", ev.typ, ev.data)
		}
		_ = json.Unmarshal([]byte(ev.data), &rc)
		return rc
	}
}

func (c *tclient) ack(m protocol.MessageEvent) {
	c.t.Helper()
	from, err := protocol.DecodeKey(m.From)
	if err != nil {
		c.t.Fatal(err)
	}
	id, _ := protocol.ParseID(m.ID)
	if err := c.r.Ack(c.s, Acks{Messages: []MessageAck{{From: from, ID: id}}}); err != nil {
		c.t.Fatal(err)
	}
}

// answerPings answers every queued ping and leaves the other events queued.
func (c *tclient) answerPings() {
	c.t.Helper()
	var rest []event
	for _, ev := range c.events() {
		if ev.typ != protocol.EventPing {
			rest = append(rest, ev)
			continue
		}
		var p protocol.PingEvent
		_ = json.Unmarshal([]byte(ev.data), &p)
		if err := c.r.Pong(c.s, p.ID); err != nil {
			c.t.Fatal(err)
		}
	}
	c.queue = rest
}

// run runs f in a synctest bubble with a relay of cfg, closed at the end.
func run(t *testing.T, cfg Config, f func(t *testing.T, r *Relay)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		r := New(cfg)
		defer r.Close()
		f(t, r)
	})
}

// advance moves the bubble's clock by d and lets timers run.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// live moves the clock by d in small steps while the given clients answer
// their pings, as live clients do.
func live(d time.Duration, cs ...*tclient) {
	const step = 250 * time.Millisecond
	for d > 0 {
		s := min(step, d)
		advance(s)
		d -= s
		for _, c := range cs {
			if !c.ended {
				c.answerPings()
			}
		}
	}
}

func code(t *testing.T, err error) protocol.ErrorCode {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("error %v is not *Error", err)
	}
	return e.Code
}
