package client

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypost/keypost/protocol"
)

// Defaults of Options. A zero Options field means the default.
const (
	DefaultMinBackoff = 100 * time.Millisecond // first reconnect wait
	DefaultMaxBackoff = 10 * time.Second       // longest reconnect wait
	DefaultAckDelay   = 20 * time.Millisecond  // acks are batched this long
	// MaxAckDelay is the design's bound: a client acks within 200 ms of
	// parsing a message, because the relay's ack timeout counts on it.
	MaxAckDelay             = 200 * time.Millisecond
	DefaultBuffer           = 64      // parsed messages waiting to be handed over before acks are deferred
	DefaultMaxTransfers     = 16      // incoming transfers in progress at once
	DefaultMaxTransferBytes = 1 << 30 // size of one incoming transfer
	// DefaultTransferMargin is added to the relay's retention to make the
	// default TransferTimeout: chunks held for an offline receiver come
	// back within the retention, or never.
	DefaultTransferMargin = 30 * time.Second
)

// Fixed timings.
const (
	requestTimeout = 30 * time.Second // one POST attempt
	// streamIdle: the relay writes a keep-alive comment on a stream
	// silent for 28 s (at most 30 s, by design) and pings idle sessions
	// every ping_interval (25 s), so a stream silent this long is
	// half-open and is dropped.
	streamIdle = 90 * time.Second
	// keyInUseWait is §3.1's "after ≥ 1 s" before repeating /v1/auth.
	keyInUseWait = time.Second
)

// Options configure a Client. The zero value is usable.
type Options struct {
	// HTTPClient makes the requests. It must not have a Timeout (the
	// event stream lasts as long as the session). Nil means a private
	// client whose connections Close closes.
	HTTPClient *http.Client

	// MinBackoff and MaxBackoff bound the jittered exponential wait
	// before reconnecting and before retrying a failed request.
	MinBackoff, MaxBackoff time.Duration

	// AckDelay is how long acks are collected into one POST /v1/ack. It
	// is capped at MaxAckDelay.
	AckDelay time.Duration

	// OnState, if set, is called with every state change, in order, from
	// the client's stream goroutine. It must return quickly and must not
	// call Close.
	OnState func(State)

	// OnMessage, if set, is called with every message, in order, from one
	// goroutine, instead of delivering it on Messages(). It must not call
	// Close. While it runs, later messages wait (see Buffer).
	OnMessage func(Message)

	// Buffer is how many parsed messages may wait to be handed over. A
	// message is acked as soon as it is parsed while the buffer has room;
	// past that its ack waits until it is handed over, so a slow reader
	// stops its senders through the relay's per-pair window (§8) instead
	// of growing memory.
	Buffer int

	// OnTransfer, if set, receives incoming transfers (see SendStream):
	// err is nil and t.Path names a temporary file with the whole,
	// verified content, removed when OnTransfer returns unless moved
	// away; or err says why the transfer failed and its partial data was
	// discarded. It is called from the goroutine that hands over
	// messages. When OnTransfer is nil, chunks are delivered as plain
	// messages.
	OnTransfer func(t *Transfer, err error)

	// TransferDir is where incoming transfers are spooled; "" means
	// os.TempDir().
	TransferDir string

	// TransferTimeout fails an incoming transfer that gets no chunk for
	// this long. Zero means the relay's retention plus
	// DefaultTransferMargin.
	TransferTimeout time.Duration

	// MaxTransferBytes and MaxTransfers bound incoming transfers (size
	// of one, number in progress), since any key may send one.
	MaxTransferBytes int64
	MaxTransfers     int

	// SessionHMAC opts into the session profile (docs/protocol.md §4.6):
	// each session asks /v1/auth for a secret and signs its later
	// requests with hmac-sha256, about 50 times cheaper than Ed25519 for
	// both sides. The relay may refuse (it then hands out no secret) and
	// the client keeps Ed25519. Anyone who learns a session's secret can
	// act as the key on that session until it ends; use it over TLS.
	SessionHMAC bool

	hooks *hooks // test hooks (export_test.go)
}

func (o Options) withDefaults() Options {
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.AckDelay <= 0 {
		o.AckDelay = DefaultAckDelay
	}
	o.AckDelay = min(o.AckDelay, MaxAckDelay)
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.MaxTransfers <= 0 {
		o.MaxTransfers = DefaultMaxTransfers
	}
	if o.MaxTransferBytes <= 0 {
		o.MaxTransferBytes = DefaultMaxTransferBytes
	}
	if o.hooks == nil {
		o.hooks = &hooks{}
	}
	return o
}

// Client is a connection to a keypost relay under one key. It keeps its
// session alive (reconnecting after drops), acks and de-duplicates what it
// receives, and windows what it sends. Its methods are safe for concurrent
// use.
//
// Goroutines: one reads the stream and answers challenges (run); one
// batches acks (ackLoop); one hands messages and transfers to the
// application (deliverLoop); short-lived ones answer pings. Close stops
// and waits for all of them.
type Client struct {
	// Set at construction.
	base    string // relay URL without a trailing slash
	path    string // its path prefix, for signing
	priv    ed25519.PrivateKey
	key     protocol.Key
	opts    Options
	http    *http.Client
	ownHTTP bool
	ctx     context.Context // cancelled by Close and by a final stop
	cancel  context.CancelFunc
	quit    chan struct{} // closed by Close: stop handing over
	done    chan struct{} // closed when the client stopped for good
	first   chan struct{} // closed at the first ready
	msgs    chan Message  // closed by deliverLoop when it ends
	acks    *acker
	in      *inbox
	wg      sync.WaitGroup
	closeMu sync.Once

	pauseUntil atomic.Int64 // Unix ns before which no signed request is sent (429 Retry-After)

	mu        sync.Mutex // guards the fields below; never held during I/O
	state     State
	sess      *session        // the last session bound to the key (acks go there)
	ready     chan struct{}   // closed when sess is ready; replaced when it ends
	isReady   bool            // sess is ready
	limits    protocol.Limits // from the latest session event
	lastErr   error           // the last reason a stream ended, for Connect
	err       error           // why the client stopped
	droppedAt time.Time       // when the last ready session ended
	win       window
	inflight  map[protocol.ID]*Sent // accepted or being sent, until their receipt
	firstOne  sync.Once
}

// Connect opens a session with the relay at url (e.g. "http://host:8080")
// for the key priv: it opens the event stream, authenticates, answers the
// three challenges and returns once the session is ready. Network errors
// and busy answers are retried with backoff until ctx is done; a final
// closing, or a relay that cannot be this protocol (a 4xx on the stream, a
// different version), ends Connect at once.
//
// ctx bounds only the connecting: the client then runs, reconnecting after
// any drop, until Close or a final closing (Done, Err).
func Connect(ctx context.Context, rawURL string, priv ed25519.PrivateKey, opts Options) (*Client, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("keypost: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("keypost: relay URL %q is not an http(s) URL without query", rawURL)
	}
	priv = append(ed25519.PrivateKey(nil), priv...) // the caller's slice may change
	key, _ := protocol.KeyFromPublic(priv.Public().(ed25519.PublicKey))
	opts = opts.withDefaults()
	c := &Client{
		base:     strings.TrimSuffix(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"),
		path:     strings.TrimSuffix(u.EscapedPath(), "/"),
		priv:     priv,
		key:      key,
		opts:     opts,
		http:     opts.HTTPClient,
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		first:    make(chan struct{}),
		msgs:     make(chan Message),
		ready:    make(chan struct{}),
		inflight: make(map[protocol.ID]*Sent),
		state:    State{Phase: Connecting},
	}
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16 // acks, sends and pongs run side by side
		c.http, c.ownHTTP = &http.Client{Transport: t}, true
	}
	c.win.init()
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.acks = newAcker()
	c.in = newInbox(opts.Buffer)
	c.wg.Add(3)
	go c.run()
	go c.ackLoop()
	go c.deliverLoop()

	select {
	case <-c.first:
		return c, nil
	case <-c.done:
		err := c.Err()
		c.Close()
		return nil, err
	case <-ctx.Done():
		last := c.lastError()
		c.Close()
		if last != nil {
			return nil, fmt.Errorf("keypost: connect: %w (last error: %v)", ctx.Err(), last)
		}
		return nil, fmt.Errorf("keypost: connect: %w", ctx.Err())
	}
}

// Key is the client's public key: its address.
func (c *Client) Key() protocol.Key { return c.key }

// State returns the current state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Limits returns the limits the relay announced in the latest session
// event.
func (c *Client) Limits() protocol.Limits {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.limits
}

// Done is closed when the client has stopped for good: after Close, or a
// final closing from the relay (Err says which).
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the client runs, then why it stopped: ErrClosed
// after Close, or a *CloseError (key_conflict matches ErrKeyConflict).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Messages returns the channel messages are delivered on (unless
// Options.OnMessage is set). It is closed when the client has stopped and
// every parsed message was handed over, or at Close.
func (c *Client) Messages() <-chan Message { return c.msgs }

// Close stops the client: it flushes pending acks (briefly), ends the
// stream, stops every goroutine and waits for them. Messages not yet handed
// over are dropped, and so are incoming transfers in progress. Sends in
// progress return ErrClosed. It returns nil, also when called again.
func (c *Client) Close() error {
	c.closeMu.Do(func() {
		c.flushAcks()
		c.stop(ErrClosed)
		close(c.quit)
	})
	c.wg.Wait()
	if c.ownHTTP {
		c.http.CloseIdleConnections()
	}
	return nil
}

// stop records why the client stops (the first reason wins), closes Done
// and cancels everything in flight.
func (c *Client) stop(err error) {
	c.mu.Lock()
	first := c.err == nil
	if first {
		c.err = err
	}
	c.mu.Unlock()
	if first {
		close(c.done)
	}
	c.cancel()
}

func (c *Client) lastError() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastErr
}

// setState records and reports a state change. Only the run goroutine
// calls it, so OnState sees changes in order.
func (c *Client) setState(s State) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
	if c.opts.OnState != nil {
		c.opts.OnState(s)
	}
}

// waitReady returns the ready session, waiting for one (bounded by ctx).
func (c *Client) waitReady(ctx context.Context) (*session, protocol.Limits, error) {
	for {
		c.mu.Lock()
		s, ready, ch, lim, err := c.sess, c.isReady, c.ready, c.limits, c.err
		c.mu.Unlock()
		if err != nil {
			return nil, lim, err
		}
		if ready {
			return s, lim, nil
		}
		select {
		case <-ch:
		case <-c.done:
		case <-ctx.Done():
			return nil, lim, ctx.Err()
		}
	}
}

// closedErr is the error for work cut short because the client stopped.
func (c *Client) closedErr() error {
	if err := c.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// hooks are test-only controls, set through export_test.go.
type hooks struct {
	dropAcks  atomic.Bool       // acks are dropped instead of sent (a lost ack)
	duplicate func(attempt int) // called for each copy that is not handed over
	paused    atomic.Int32      // 429s with Retry-After seen
}
