package relaytest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypost/keypost/internal/sse"
	"github.com/keypost/keypost/protocol"
)

// Wait is how long a test client waits for an event before failing. Tests
// assert what happens, never how fast: this is only a bound on a hang.
var Wait = 10 * time.Second

// Client is a low-level protocol client for tests.
type Client struct {
	tb   testing.TB
	URL  string
	HTTP *http.Client
	Priv ed25519.PrivateKey
	Key  protocol.Key

	Session string // from the first session event
	// Secret, once set (RegisterHMAC), signs requests but /v1/auth with
	// the session profile (hmac-sha256) instead of Ed25519.
	Secret *[protocol.SessionSecretSize]byte
	nonce  atomic.Uint64

	events chan sse.Event
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error       // why the stream ended
	kept   []time.Time // when each ": keep-alive" comment was read
}

// NewClient returns a client with a fresh key; it is not connected.
func (s *Server) NewClient(tb testing.TB) *Client {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		tb.Fatal(err)
	}
	k, _ := protocol.KeyFromPublic(pub)
	return &Client{tb: tb, URL: s.URL, HTTP: s.Client, Priv: priv, Key: k}
}

// WithKey returns a new unconnected client with the same key as c.
func (c *Client) WithKey(tb testing.TB) *Client {
	return &Client{tb: tb, URL: c.URL, HTTP: c.HTTP, Priv: c.Priv, Key: c.Key}
}

// Connect opens the event stream and waits for the session event.
func (c *Client) Connect() protocol.SessionEvent {
	c.tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+protocol.PathEvents, nil)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		cancel()
		c.tb.Fatalf("GET /v1/events: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		c.tb.Fatalf("GET /v1/events: %d %s", resp.StatusCode, b)
	}
	c.cancel = cancel
	c.events = make(chan sse.Event, 1024)
	c.done = make(chan struct{})
	go c.read(resp.Body)
	c.tb.Cleanup(c.Close)
	var ev protocol.SessionEvent
	c.Expect(protocol.EventSession, &ev)
	c.Session = ev.Session
	return ev
}

func (c *Client) read(body io.ReadCloser) {
	defer close(c.done)
	defer close(c.events)
	defer body.Close()
	d := sse.NewDecoder(body)
	d.OnComment = func(text string) {
		if text == "keep-alive" {
			c.mu.Lock()
			c.kept = append(c.kept, time.Now())
			c.mu.Unlock()
		}
	}
	for {
		ev, err := d.Next()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		c.events <- ev
	}
}

// KeepAlives returns when each ": keep-alive" comment was read.
func (c *Client) KeepAlives() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.kept)
}

// Close drops the stream (as a client whose network failed would).
func (c *Client) Close() {
	if c.cancel != nil {
		c.cancel()
		<-c.done
	}
}

// Next returns the next event, failing the test after Wait.
func (c *Client) Next() sse.Event {
	c.tb.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			c.tb.Fatalf("stream ended: %v", c.err)
		}
		return ev
	case <-time.After(Wait):
		c.tb.Fatalf("no event within %v", Wait)
	}
	return sse.Event{}
}

// TryNext returns the next event within d, or false.
func (c *Client) TryNext(d time.Duration) (sse.Event, bool) {
	select { // an event already there wins over an expired wait
	case ev, ok := <-c.events:
		return ev, ok
	default:
	}
	select {
	case ev, ok := <-c.events:
		return ev, ok
	case <-time.After(d):
		return sse.Event{}, false
	}
}

// Expect reads the next event, which must be of type typ, into v.
func (c *Client) Expect(typ string, v any) sse.Event {
	c.tb.Helper()
	ev := c.Next()
	if ev.Type != typ {
		c.tb.Fatalf("got event %q %s, want %q", ev.Type, ev.Data, typ)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(ev.Data), v); err != nil {
			c.tb.Fatalf("event %s: %v", typ, err)
		}
	}
	return ev
}

// ExpectSkippingPings is Expect, answering any pings on the way.
func (c *Client) ExpectSkippingPings(typ string, v any) sse.Event {
	c.tb.Helper()
	for {
		ev := c.Next()
		if ev.Type == protocol.EventPing {
			var p protocol.PingEvent
			_ = json.Unmarshal([]byte(ev.Data), &p)
			c.MustPost(protocol.PathPong, protocol.PongRequest{ID: p.ID}, nil)
			continue
		}
		if ev.Type != typ {
			c.tb.Fatalf("got event %q %s, want %q", ev.Type, ev.Data, typ)
		}
		if v != nil {
			if err := json.Unmarshal([]byte(ev.Data), v); err != nil {
				c.tb.Fatal(err)
			}
		}
		return ev
	}
}

// Ended waits for the stream to end and returns the closing code it got
// ("" if it ended without one).
func (c *Client) Ended() protocol.CloseCode {
	c.tb.Helper()
	var code protocol.CloseCode
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				return code
			}
			if ev.Type == protocol.EventClosing {
				var cl protocol.ClosingEvent
				_ = json.Unmarshal([]byte(ev.Data), &cl)
				code = cl.Code
			}
		case <-time.After(Wait):
			c.tb.Fatalf("stream did not end within %v", Wait)
			return ""
		}
	}
}

// Request builds a signed POST with the next nonce.
func (c *Client) Request(path string, body []byte) *http.Request {
	req, err := http.NewRequest(http.MethodPost, c.URL+path, bytes.NewReader(body))
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Secret != nil && path != protocol.PathAuth { // auth is always Ed25519
		err = protocol.SignRequestHMAC(req.Header, c.Key, c.Secret, http.MethodPost, path, c.Session, body, c.nonce.Add(1), time.Now())
	} else {
		err = protocol.SignRequest(req.Header, c.Priv, http.MethodPost, path, c.Session, body, c.nonce.Add(1), time.Now())
	}
	if err != nil {
		c.tb.Fatal(err)
	}
	return req
}

// Do sends req and returns the status and body.
func (c *Client) Do(req *http.Request) (int, []byte) {
	c.tb.Helper()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// Post signs and sends v as JSON to path.
func (c *Client) Post(path string, v any) (int, []byte) {
	c.tb.Helper()
	body, err := json.Marshal(v)
	if err != nil {
		c.tb.Fatal(err)
	}
	return c.Do(c.Request(path, body))
}

// MustPost is Post that fails the test unless the answer is 200, decoding
// the answer into out (if not nil).
func (c *Client) MustPost(path string, v, out any) {
	c.tb.Helper()
	code, b := c.Post(path, v)
	if code != http.StatusOK {
		c.tb.Fatalf("POST %s: %d %s", path, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.tb.Fatal(err)
		}
	}
}

// Problem decodes a problem+json answer.
func Problem(tb testing.TB, b []byte) protocol.Problem {
	tb.Helper()
	var p protocol.Problem
	if err := json.Unmarshal(b, &p); err != nil {
		tb.Fatalf("not a problem body: %s", b)
	}
	return p
}

// Register runs the whole handshake (§2–§4): connect, auth, three
// challenges, ready.
func (c *Client) Register() protocol.ReadyEvent {
	c.tb.Helper()
	if c.Session == "" || c.cancel == nil {
		c.Connect()
	}
	c.MustPost(protocol.PathAuth, protocol.AuthRequest{Key: c.Key.String()}, nil)
	return c.Challenges()
}

// RegisterHMAC is Register asking /v1/auth for a session secret; every
// later request (challenge answers included) is signed with it.
func (c *Client) RegisterHMAC() protocol.ReadyEvent {
	c.tb.Helper()
	if c.Session == "" || c.cancel == nil {
		c.Connect()
	}
	var res protocol.AuthResponse
	c.MustPost(protocol.PathAuth, protocol.AuthRequest{Key: c.Key.String(), HMAC: true}, &res)
	secret, err := protocol.DecodeSessionSecret(res.HMACKey)
	if err != nil {
		c.tb.Fatalf("auth answer %+v: %v", res, err)
	}
	c.Secret = secret
	return c.Challenges()
}

// Challenges answers the challenges and waits for ready.
func (c *Client) Challenges() protocol.ReadyEvent {
	c.tb.Helper()
	for {
		ev := c.Next()
		switch ev.Type {
		case protocol.EventSession:
			continue // a re-send that crossed the auth (§2.1)
		case protocol.EventChallenge:
			var ch protocol.ChallengeEvent
			_ = json.Unmarshal([]byte(ev.Data), &ch)
			c.MustPost(protocol.PathChallenge, protocol.ChallengeRequest{ID: ch.ID}, nil)
		case protocol.EventReady:
			var r protocol.ReadyEvent
			_ = json.Unmarshal([]byte(ev.Data), &r)
			return r
		default:
			c.tb.Fatalf("unexpected event during registration: %s %s", ev.Type, ev.Data)
		}
	}
}

// Send sends messages and returns the results.
func (c *Client) Send(msgs ...protocol.OutMessage) []protocol.SendResult {
	c.tb.Helper()
	var res protocol.SendResponse
	c.MustPost(protocol.PathSend, protocol.SendRequest{Messages: msgs}, &res)
	if len(res.Results) != len(msgs) {
		c.tb.Fatalf("got %d results for %d messages", len(res.Results), len(msgs))
	}
	return res.Results
}

// Ack acknowledges messages and receipts.
func (c *Client) Ack(msgs []protocol.MessageRef, receipts []protocol.ReceiptRef) {
	c.tb.Helper()
	c.MustPost(protocol.PathAck, protocol.AckRequest{Messages: msgs, Receipts: receipts}, nil)
}

// String names the client in failures.
func (c *Client) String() string { return fmt.Sprintf("client %s", c.Key.String()[:8]) }
