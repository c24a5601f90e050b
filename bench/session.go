package bench

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypost/keypost/internal/sse"
	"github.com/keypost/keypost/protocol"
)

// handshakeTimeout bounds one session's handshake.
const handshakeTimeout = 30 * time.Second

// session is one of the generator's sessions: a key, a stream, a nonce
// counter, and (in the load scenarios) the state of its pairs.
type session struct {
	r      *runner
	nc     *netClient // the transport of its stream and POSTs
	priv   ed25519.PrivateKey
	key    protocol.Key
	keyStr string
	id     string
	nonce  atomic.Uint64
	secret *[protocol.SessionSecretSize]byte // from /v1/auth (Options.HMAC); set before any other POST
	st     *stream
	closed atomic.Bool // we closed the stream: its end is no error
	ended  atomic.Bool // the stream is over (read returned)

	// Load state, guarded by mu.
	mu         sync.Mutex
	out        []*pair               // as a sender: its pairs
	acks       []protocol.MessageRef // messages to ack
	racks      []protocol.ReceiptRef // receipts to ack
	racksSince time.Time             // when racks became non-empty
	acksSince  time.Time             // when acks became non-empty
	lat        *hist                 // send-to-delivery times of messages it received (load scenarios)
	ackWake    chan struct{}         // capacity 1
	sendWake   chan struct{}         // capacity 1
}

func newSession(r *runner, nc *netClient) *session {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	k, _ := protocol.KeyFromPublic(pub)
	return &session{
		r: r, nc: nc, priv: priv, key: k, keyStr: k.String(),
		ackWake: make(chan struct{}, 1), sendWake: make(chan struct{}, 1),
	}
}

func (s *session) signer() signer {
	return signer{priv: s.priv, key: s.key, secret: s.secret, session: s.id, nonce: &s.nonce}
}

// post sends a signed POST and returns the answer's body; any status but
// 200 is an error.
func (s *session) post(ctx context.Context, path string, body []byte) ([]byte, error) {
	status, b, err := s.nc.post(ctx, s.signer(), path, body)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	if status != http.StatusOK {
		return b, fmt.Errorf("POST %s: %w", path, &httpError{status, b})
	}
	return b, nil
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// connect opens the stream and runs the handshake (§5): session event,
// auth, three challenges one after another, ready.
func (s *session) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	st, err := s.nc.openStream(ctx)
	if err != nil {
		return err
	}
	s.st = st
	// A handshake that hangs is cut by closing its stream.
	stop := context.AfterFunc(ctx, st.close)
	defer stop()
	ev, err := st.dec.Next()
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if ev.Type != protocol.EventSession {
		return fmt.Errorf("first event is %q, want session", ev.Type)
	}
	s.id = field(ev.Data, "session")
	if !s.r.o.HMAC {
		if _, err := s.post(ctx, protocol.PathAuth, []byte(`{"key":"`+s.keyStr+`"}`)); err != nil {
			return err
		}
	} else {
		b, err := s.post(ctx, protocol.PathAuth, []byte(`{"key":"`+s.keyStr+`","hmac":true}`))
		if err != nil {
			return err
		}
		if s.secret, err = protocol.DecodeSessionSecret(field(string(b), "hmac_key")); err != nil {
			return fmt.Errorf("auth answered %s: %w", b, err)
		}
	}
	for {
		ev, err := st.dec.Next()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("handshake: %w", ctx.Err())
			}
			return fmt.Errorf("stream: %w", err)
		}
		switch ev.Type {
		case protocol.EventSession:
			// A re-send that crossed the auth (§5.1).
		case protocol.EventChallenge:
			if _, err := s.post(ctx, protocol.PathChallenge, []byte(`{"id":"`+field(ev.Data, "id")+`"}`)); err != nil {
				return err
			}
		case protocol.EventReady:
			return nil
		case protocol.EventPing:
			s.pong(ctx, ev.Data)
		default:
			return fmt.Errorf("unexpected event %q during the handshake: %s", ev.Type, ev.Data)
		}
	}
}

func (s *session) pong(ctx context.Context, data string) {
	if _, err := s.post(ctx, protocol.PathPong, []byte(`{"id":"`+field(data, "id")+`"}`)); err != nil {
		s.r.fail(err)
	}
}

// handler takes the events of a ready session.
type handler interface {
	message(s *session, data string)
	receipt(s *session, data string)
}

// read serves the stream of a ready session until it ends: pings are
// answered here, messages and receipts go to h (nil: none expected).
func (s *session) read(ctx context.Context, h handler) {
	defer s.ended.Store(true)
	for {
		ev, err := s.st.dec.Next()
		if err != nil {
			if !s.closed.Load() && !errors.Is(err, io.EOF) {
				s.r.fail(fmt.Errorf("stream: %w", err))
			}
			return
		}
		s.dispatch(ctx, h, ev)
	}
}

func (s *session) dispatch(ctx context.Context, h handler, ev sse.Event) {
	switch ev.Type {
	case protocol.EventMessage:
		if h != nil {
			h.message(s, ev.Data)
		}
	case protocol.EventReceipt:
		if h != nil {
			h.receipt(s, ev.Data)
		}
	case protocol.EventPing:
		s.pong(ctx, ev.Data)
	case protocol.EventClosing:
		if !s.closed.Load() {
			s.r.fail(fmt.Errorf("closing %s", ev.Data))
		}
	}
}

func (s *session) close() {
	s.closed.Store(true)
	if s.st != nil {
		s.st.close()
	}
}

// Acks are batched as a client may (protocol §6.4: within max_ack_delay,
// 200 ms): a message ack waits until ackBatch are pending or the oldest
// has waited Options.AckDelay; it holds its pair's window, so that delay
// is short. Receipts hold no window, so theirs wait longer
// (receiptAckDelay) unless a message ack goes anyway.
const (
	ackBatch        = 64
	receiptAckBatch = 256
	receiptAckDelay = 50 * time.Millisecond
)

// acker sends the session's acks, batched (above), one POST at a time. It
// returns when done is closed and nothing is left.
func (s *session) acker(ctx context.Context, done <-chan struct{}, posts *atomic.Int64) {
	var body []byte
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-s.ackWake:
		case <-timer.C:
		case <-done:
			s.flushAcks(ctx, &body, posts)
			return
		}
		s.mu.Lock()
		msgs, rcs, msince, rsince := len(s.acks), len(s.racks), s.acksSince, s.racksSince
		s.mu.Unlock()
		var wait time.Duration
		switch {
		case msgs > 0 && msgs < ackBatch:
			wait = s.r.o.AckDelay - time.Since(msince)
		case msgs == 0 && rcs > 0 && rcs < receiptAckBatch:
			wait = receiptAckDelay - time.Since(rsince)
		}
		if wait > 0 {
			timer.Reset(wait)
			continue
		}
		s.flushAcks(ctx, &body, posts)
	}
}

func (s *session) flushAcks(ctx context.Context, body *[]byte, posts *atomic.Int64) {
	for {
		s.mu.Lock()
		acks, racks := s.acks, s.racks
		s.acks, s.racks = nil, nil
		s.mu.Unlock()
		if len(acks) == 0 && len(racks) == 0 {
			return
		}
		b := (*body)[:0]
		b = append(b, `{"messages":[`...)
		for i, a := range acks {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"from":"`...)
			b = append(b, a.From...)
			b = append(b, `","id":"`...)
			b = append(b, a.ID...)
			b = append(b, `"}`...)
		}
		b = append(b, `],"receipts":[`...)
		for i, a := range racks {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"to":"`...)
			b = append(b, a.To...)
			b = append(b, `","id":"`...)
			b = append(b, a.ID...)
			b = append(b, `"}`...)
		}
		b = append(b, `]}`...)
		*body = b
		posts.Add(1)
		if _, err := s.post(ctx, protocol.PathAck, b); err != nil {
			s.r.fail(err)
		}
	}
}
