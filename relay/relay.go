package relay

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/keypost/keypost/protocol"
)

// Relay is the one-node relay core. Its methods are safe for concurrent use.
type Relay struct {
	cfg    Config          // set at construction
	limits protocol.Limits // set at construction
	seed   maphash.Seed    // set at construction; hashes message data for de-duplication

	mu           sync.Mutex
	sessions     map[protocol.ID]*Session // guarded by mu
	entities     map[protocol.Key]*entity // guarded by mu
	unauthTotal  int                      // guarded by mu
	unauthByAddr map[string]int           // guarded by mu
	heldBytes    int                      // guarded by mu
	scratch      []byte                   // guarded by mu: the hot events are encoded here, then copied to an outbox
	closed       bool                     // guarded by mu
}

// New returns a relay with cfg's zero fields set to their defaults.
func New(cfg Config) *Relay {
	cfg = cfg.withDefaults()
	return &Relay{
		cfg:          cfg,
		limits:       cfg.Limits(),
		seed:         maphash.MakeSeed(),
		sessions:     make(map[protocol.ID]*Session),
		entities:     make(map[protocol.Key]*entity),
		unauthByAddr: make(map[string]int),
	}
}

// Config is the effective configuration (defaults filled in).
func (r *Relay) Config() Config { return r.cfg }

// Open starts a session for a new stream from addr (§1, §2): its outbox
// starts with the SSE retry hint and the session event. The caller serves
// the stream with Session.Next and calls StreamEnded when it is over.
func (r *Relay) Open(addr string) (*Session, error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errorf(protocol.CodeShuttingDown, "the relay is shutting down")
	}
	if r.unauthTotal >= r.cfg.MaxUnauthStreams {
		return nil, &Error{Code: protocol.CodeTooManyStreams, Status: 503, Detail: "too many streams waiting to authorize"}
	}
	if r.unauthByAddr[addr] >= r.cfg.MaxUnauthPerAddr {
		return nil, errorf(protocol.CodeTooManyStreams, "too many streams waiting to authorize from this address")
	}
	s := &Session{
		id:     protocol.NewID(),
		addr:   addr,
		opened: now,
		out:    newOutbox(r.cfg.MaxOutboxBytes),
		relay:  r,
		est:    newEstimator(r.cfg.InitialBandwidth),
		unauth: true,
	}
	s.idStr = s.id.String()
	r.sessions[s.id] = s
	r.unauthTotal++
	r.unauthByAddr[addr]++
	s.out.appendRaw([]byte("retry: " + itoa(DefaultRetryMS) + "\n\n"))
	r.sendSessionEvent(s, now)
	s.schedule(s.authDeadline())
	r.cfg.Observer.StreamOpened()
	return s, nil
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func (s *Session) authDeadline() time.Time { return s.opened.Add(s.relay.cfg.AuthTimeout) }

// sendSessionEvent sends (or re-sends, §2.1) the session event.
func (r *Relay) sendSessionEvent(s *Session, now time.Time) {
	s.send(protocol.EventSession, protocol.SessionEvent{
		Session:    s.idStr,
		Protocol:   protocol.Version,
		ServerTime: now.UnixMilli(),
		Limits:     r.limits,
	})
	s.nextResend = now.Add(r.cfg.SessionResend)
	s.schedule(s.nextResend)
}

// Lookup finds a session by its id string; ended sessions are found while
// their entity lives (acks are still accepted on them).
func (r *Relay) Lookup(id string) (*Session, error) {
	sid, err := protocol.ParseID(id)
	if err != nil {
		return nil, errorf(protocol.CodeUnknownSession, "no such session")
	}
	r.mu.Lock()
	s := r.sessions[sid]
	r.mu.Unlock()
	if s == nil {
		return nil, errorf(protocol.CodeUnknownSession, "no such session")
	}
	return s, nil
}

// UseNonce consumes a verified request's nonce (§4.5 replay protection) and
// marks the session as heard from. Call it once the signature verified,
// whatever happens next.
func (r *Relay) UseNonce(s *Session, nonce uint64) error {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !s.nonces.Accept(nonce) {
		return errorf(protocol.CodeReplayed, "nonce already used or too old; sign again with a new one")
	}
	s.lastHeard = now
	return nil
}

// StreamEnded is called by the transport when a stream is over, for any
// reason. Idempotent.
func (r *Relay) StreamEnded(s *Session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.endSession(s, "", time.Now())
}

// endSession ends s: its stream is closed with code (none when the client
// went away) and its entity goes offline (§6, §7). Relay.mu must be held.
func (r *Relay) endSession(s *Session, code protocol.CloseCode, now time.Time) {
	if s.state == stateEnded {
		return
	}
	prev := s.state
	s.state = stateEnded
	s.stopTimer()
	s.out.close(code, code == protocol.CloseSlowReader)
	r.cfg.Observer.StreamClosed(code, prev == stateReady)
	if s.unauth {
		r.releaseUnauth(s)
	}
	e := s.entity
	if e == nil {
		delete(r.sessions, s.id)
		return
	}
	// Messages written on this stream will be redelivered (attempt+1).
	for n := e.held.head; n != nil; n = n.next {
		if n.v.writtenOn == s {
			n.v.writtenOn, n.v.suspect = nil, false
		}
	}
	if e.sess != s {
		return
	}
	e.sess = nil
	switch {
	case prev == stateReady:
		r.retain(e, now, r.cfg.Retention)
	case e.everReady:
		r.retain(e, now, e.retainLeft) // §7: offline again for the time it had left
	default:
		// Never ready: nothing was held for it, nothing can be lost.
		r.dropEntity(e, now)
	}
}

func (r *Relay) releaseUnauth(s *Session) {
	s.unauth = false
	r.unauthTotal--
	if r.unauthByAddr[s.addr]--; r.unauthByAddr[s.addr] <= 0 {
		delete(r.unauthByAddr, s.addr)
	}
}

// retain makes e offline for d (§7), after which it is dropped.
func (r *Relay) retain(e *entity, now time.Time, d time.Duration) {
	if d <= 0 {
		r.dropEntity(e, now)
		return
	}
	e.retainUntil = now.Add(d)
	if e.timer == nil {
		e.timer = time.AfterFunc(d, func() { r.onEntityTimer(e) })
	} else {
		e.timer.Reset(d)
	}
}

func (r *Relay) onEntityTimer(e *entity) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.dropped || e.sess != nil || e.retainUntil.IsZero() {
		return
	}
	if now.Before(e.retainUntil) { // the timer was reset late; wait again
		e.timer.Reset(e.retainUntil.Sub(now))
		return
	}
	r.dropEntity(e, now)
}

// dropEntity removes e (§7: its undelivered data is cleared from memory);
// each sender of a message held for it gets an `expired` receipt.
func (r *Relay) dropEntity(e *entity, now time.Time) {
	if e.dropped {
		return
	}
	e.dropped = true
	if e.timer != nil {
		e.timer.Stop()
	}
	for e.held.head != nil {
		r.settle(e.held.head.v, protocol.StatusExpired, now)
	}
	for _, s := range []*Session{e.last, e.prev} {
		if s != nil && s.state == stateEnded {
			delete(r.sessions, s.id)
		}
	}
	delete(r.entities, e.key)
}

// Close ends every stream with `closing {"code":"shutdown"}` and refuses new
// ones. Held messages are in memory only and are lost with the process.
func (r *Relay) Close() {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, s := range r.sessions {
		r.endSession(s, protocol.CloseShutdown, now)
	}
	for _, e := range r.entities {
		if e.timer != nil {
			e.timer.Stop()
		}
	}
}

// Stats is a snapshot of the relay's size, for health checks and tests.
type Stats struct {
	Sessions, Ready, Unauth, Entities, Offline, HeldMessages, HeldBytes int
}

// Stats returns a snapshot.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Stats{Unauth: r.unauthTotal, Entities: len(r.entities), HeldBytes: r.heldBytes}
	for _, s := range r.sessions {
		if s.state != stateEnded {
			st.Sessions++
		}
		if s.state == stateReady {
			st.Ready++
		}
	}
	for _, e := range r.entities {
		if e.sess == nil {
			st.Offline++
		}
		st.HeldMessages += e.held.len
	}
	return st
}
