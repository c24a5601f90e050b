package relay

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"time"

	"github.com/keypost/keypost/internal/replay"
	"github.com/keypost/keypost/protocol"
)

// sessionState is where a session is in its life (docs/protocol.md has the
// state machine).
type sessionState uint8

const (
	stateFresh       sessionState = iota // stream open, no key bound (§2)
	stateRegistering                     // key bound, challenges under way (§4)
	stateReady                           // may send and receive
	stateEnded                           // stream over; kept only for acks
)

func (s sessionState) String() string {
	return [...]string{"fresh", "registering", "ready", "ended"}[s]
}

// Session is one SSE stream (§3.2: a key is bound to it for life).
type Session struct {
	// Set at construction.
	id     protocol.ID
	idStr  string
	addr   string
	opened time.Time
	out    *outbox
	relay  *Relay

	key atomic.Pointer[protocol.Key] // set once at bind (§3.2), read without the lock
	// secret keys the session's hmac-sha256 signatures (the opt-in session
	// profile, docs/protocol.md §4.6); made once, on request, and read
	// without the lock by every request of the session.
	secret atomic.Pointer[[protocol.SessionSecretSize]byte]

	// Guarded by Relay.mu.
	state      sessionState
	entity     *entity
	nonces     replay.Window
	nextResend time.Time // §2.1
	authAt     time.Time
	challenges []challenge // issued so far, in order (§4.1)
	est        estimator
	pings      []ping
	missed     int       // pings unanswered in a row (§9.3)
	lastHeard  time.Time // last verified request on this session
	lastPing   time.Time // last ping of any kind sent
	lastPadded time.Time // last padded ping sent before a message (§9.1)
	timer      *time.Timer
	timerAt    time.Time // when timer fires; zero if stopped
	nextAck    time.Time // lower bound of held messages' ack deadlines
	unauth     bool      // counted in the unauthenticated stream caps
}

type challenge struct {
	id       protocol.ID
	sentAt   time.Time
	answered bool
	size     int
}

type ping struct {
	id       protocol.ID
	pad      int
	sentAt   time.Time
	deadline time.Time
}

// ID is the session id, as sent in the session event.
func (s *Session) ID() string { return s.idStr }

// Key is the key bound to the session, or nil before /v1/auth.
func (s *Session) Key() *protocol.Key { return s.key.Load() }

// Secret is the session's hmac-sha256 secret, or nil if none was made.
func (s *Session) Secret() *[protocol.SessionSecretSize]byte { return s.secret.Load() }

// MakeSecret returns the session's hmac-sha256 secret, making it (from
// crypto/rand) on the first call; every later call returns the same one,
// so a retried /v1/auth gets the secret its lost answer carried. The
// transport calls it only after a successful Auth, whose request was
// signed with the bound key: the secret is handed to that key's holder
// alone, and it dies with the session.
func (s *Session) MakeSecret() *[protocol.SessionSecretSize]byte {
	if k := s.secret.Load(); k != nil {
		return k
	}
	k := new([protocol.SessionSecretSize]byte)
	rand.Read(k[:])
	if !s.secret.CompareAndSwap(nil, k) {
		return s.secret.Load()
	}
	return k
}

// Take hands the transport's writer everything queued for the stream; the
// writer writes it, flushes once, and passes the buffer back as prev next
// time. closed reports that the relay ended the stream and all its output
// was handed out. When b is empty and closed is false, wait on Wake.
func (s *Session) Take(prev []byte) (b []byte, closed bool) { return s.out.take(prev) }

// Wake is signalled when there may be something to take.
func (s *Session) Wake() <-chan struct{} { return s.out.wake }

// Next blocks until there is output and returns it, like Take; it returns
// ErrStreamClosed once the stream is over, or ctx's error.
func (s *Session) Next(ctx context.Context, prev []byte) ([]byte, error) {
	for {
		b, closed := s.Take(prev)
		prev = nil
		switch {
		case len(b) > 0:
			return b, nil
		case closed:
			return nil, ErrStreamClosed
		}
		select {
		case <-s.Wake():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// send queues an event on the session's stream. A stream that cannot take
// it (closed, or its cap reached) is closed as a slow reader; the caller
// keeps whatever state it has (held messages stay held).
func (s *Session) send(typ string, v any) (gen uint64, ok bool) {
	gen, ok = s.out.appendEvent(typ, v)
	if !ok && s.state != stateEnded {
		s.relay.endSession(s, protocol.CloseSlowReader, time.Now())
	}
	return gen, ok
}

// sendData is send for an event already encoded (the hot events, message
// and receipt, are encoded by hand into Relay.scratch).
func (s *Session) sendData(typ string, data []byte) (gen uint64, ok bool) {
	gen, ok = s.out.appendData(typ, data)
	if !ok && s.state != stateEnded {
		s.relay.endSession(s, protocol.CloseSlowReader, time.Now())
	}
	return gen, ok
}

// schedule makes the session's timer fire no later than at.
func (s *Session) schedule(at time.Time) {
	if at.IsZero() || s.state == stateEnded {
		return
	}
	if !s.timerAt.IsZero() && !at.Before(s.timerAt) {
		return
	}
	s.timerAt = at
	d := time.Until(at)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, func() { s.relay.onSessionTimer(s) })
		return
	}
	s.timer.Reset(d)
}

func (s *Session) stopTimer() {
	if s.timer != nil {
		s.timer.Stop()
	}
	s.timerAt = time.Time{}
}
