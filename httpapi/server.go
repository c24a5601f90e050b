package httpapi

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// Timeouts of the http.Server in front of the handler (NewHTTPServer).
const (
	// ReadHeaderTimeout bounds a client that opens a connection and sends
	// its headers slowly (slowloris).
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request, body included. It does
	// not cut streams: net/http lifts the read deadline once a request's
	// body is read, and a stream's GET has none (TestStreamOutlivesReadTimeout).
	ReadTimeout = 30 * time.Second
	// IdleTimeout closes keep-alive connections idle between requests.
	IdleTimeout = 120 * time.Second
	// MaxHeaderBytes bounds request headers; signed requests need ~1 KiB.
	MaxHeaderBytes = 64 << 10
	// MaxConcurrentStreams bounds the requests in flight on one HTTP/2
	// connection. A browser puts all its tabs' streams and POSTs for one
	// origin on one connection, so this is well above HTTP/1.1's six
	// connections per origin.
	MaxConcurrentStreams = 250
)

// NewHTTPServer returns an http.Server for h with the timeouts above. It
// sets no WriteTimeout: that would cut every SSE stream after a fixed time;
// the stream handler puts a deadline on each write instead. HTTP/2 is
// served over TLS (ServeTLS); the caller may add unencrypted HTTP/2 (h2c)
// to Protocols for use behind a proxy that terminates TLS.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: MaxConcurrentStreams},
	}
}

// Defaults of Config.
const (
	// DefaultKeepAlive is the longest a stream stays silent: then it gets
	// an SSE comment. Under the design's 30 s, and over the relay's idle
	// ping interval (25 s, §9), so a ready stream that is pinged when idle
	// and answers needs none; streams before ready, streams of clients
	// that only send (never idle, so never pinged) and relays with a
	// longer --ping-interval still get them.
	DefaultKeepAlive         = 28 * time.Second
	DefaultWriteTimeout      = 15 * time.Second // one stream write; a stalled reader is dropped
	DefaultMaxStreams        = 100000           // streams (sessions) served at once, in total
	DefaultMaxStreamsPerAddr = 1000             // streams served at once per client IP address
	DefaultKeyRate           = 50               // signed requests per second per key, on average
	DefaultKeyBurst          = 100              // signed requests per key in a burst
)

// Config is the transport's configuration. Zero fields mean the default.
type Config struct {
	// AllowedOrigins is the CORS allow-list; empty means any origin ("*").
	// Credentials are never allowed.
	AllowedOrigins    []string
	KeepAlive         time.Duration // a stream silent this long gets a ": keep-alive" comment
	WriteTimeout      time.Duration
	MaxStreams        int // streams served at once; more get 503 too_many_streams
	MaxStreamsPerAddr int // streams served at once per client address; more get 429 too_many_streams
	KeyRate           int // signed requests per second per key (token bucket); more get 429 rate_limited
	KeyBurst          int // bucket size of KeyRate
	// TrustedProxies are the addresses of reverse proxies whose
	// X-Forwarded-For header names the client, for the per-address caps;
	// empty means the TCP peer is the client.
	TrustedProxies []netip.Prefix
	Logger         *slog.Logger
	// Observer is told about requests, stream writes and refusals, for
	// metrics; nil means none.
	Observer Observer
	// DisableHMAC refuses the opt-in session profile: /v1/auth hands out
	// no secret, so every request must be signed with Ed25519.
	DisableHMAC bool
	// ReadyCheck, if set, is asked by /readyz after the draining check; an
	// error makes /readyz answer with it (a cluster node without its
	// cluster link, for example): a *relay.Error with its code and status,
	// any other error as 503 server_busy.
	ReadyCheck func() error
}

// Server serves the keypost protocol over HTTP for one relay.
type Server struct {
	relay    *relay.Relay
	cfg      Config
	log      *slog.Logger
	obs      Observer
	maxBody  int64
	origins  map[string]bool // nil: any
	mux      *http.ServeMux
	streams  *streamLimiter
	keys     *keyLimiter
	root     http.Handler // what "/" serves: a 404 problem, or the web page (Handle)
	draining atomic.Bool
}

// New returns the HTTP handler of the relay r.
func New(r *relay.Relay, cfg Config) *Server {
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.MaxStreamsPerAddr <= 0 {
		cfg.MaxStreamsPerAddr = DefaultMaxStreamsPerAddr
	}
	if cfg.KeyRate <= 0 {
		cfg.KeyRate = DefaultKeyRate
	}
	if cfg.KeyBurst <= 0 {
		cfg.KeyBurst = DefaultKeyBurst
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	s := &Server{
		relay: r, cfg: cfg, log: cfg.Logger, obs: cfg.Observer, maxBody: int64(r.Config().MaxBodyBytes),
		streams: newStreamLimiter(cfg.MaxStreams, cfg.MaxStreamsPerAddr),
		keys:    newKeyLimiter(cfg.KeyRate, cfg.KeyBurst),
	}
	notFound := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, fail(protocol.CodeNotFound, "no such endpoint"))
	})
	s.root = notFound
	for _, o := range cfg.AllowedOrigins {
		if o == "*" {
			s.origins = nil
			break
		}
		if s.origins == nil {
			s.origins = make(map[string]bool)
		}
		s.origins[o] = true
	}
	mux := http.NewServeMux()
	mux.HandleFunc(protocol.PathEvents, s.events)
	mux.Handle(protocol.PathAuth, s.post(protocol.PathAuth, s.auth))
	mux.Handle(protocol.PathChallenge, s.post(protocol.PathChallenge, s.challenge))
	mux.Handle(protocol.PathSend, s.post(protocol.PathSend, s.send))
	mux.Handle(protocol.PathAck, s.post(protocol.PathAck, s.ack))
	mux.Handle(protocol.PathPong, s.post(protocol.PathPong, s.pong))
	mux.HandleFunc(PathHealthz, s.healthz)
	mux.HandleFunc(PathReadyz, s.readyz)
	mux.Handle("/v1/", notFound) // unknown API paths stay problems, whatever "/" serves
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { s.root.ServeHTTP(w, r) })
	s.mux = mux
	return s
}

// Handle adds a handler for pattern (the web page, metrics) to the server.
// Pattern "/" replaces the 404 answer for paths outside /v1/ (the web
// page). Call it before serving.
func (s *Server) Handle(pattern string, h http.Handler) {
	if pattern == "/" {
		s.root = h
		return
	}
	s.mux.Handle(pattern, h)
}

// ServeHTTP applies CORS and dispatches, and tells the Observer about the
// request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, r: r, obs: s.obs, start: time.Now()}
	if !s.cors(rec, r) {
		s.mux.ServeHTTP(rec, r)
	}
	rec.report(http.StatusOK) // a handler that wrote nothing answered 200
}

// clientAddr is the address the stream caps count by: the TCP peer's IP,
// or, when the peer is a trusted proxy (Config.TrustedProxies), the client
// it forwarded for: the rightmost X-Forwarded-For entry that is not itself
// a trusted proxy. Entries left of an untrusted one are the client's own
// claims and are never used.
func (s *Server) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !s.trusted(peer) {
		return host
	}
	hops := r.Header.Values("X-Forwarded-For")
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			ip, err := netip.ParseAddr(strings.TrimSpace(list[j]))
			if err != nil {
				return addr.Unmap().String() // garbage: the last hop we trust
			}
			addr = ip
			if !s.trusted(ip) {
				return ip.Unmap().String()
			}
		}
	}
	return addr.Unmap().String()
}

func (s *Server) trusted(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
