package httpapi

import (
	"log/slog"
	"net"
	"net/http"
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
)

// NewHTTPServer returns an http.Server for h with the timeouts above. It
// sets no WriteTimeout: that would cut every SSE stream after a fixed time;
// the stream handler puts a deadline on each write instead.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// Defaults of Config.
const (
	DefaultKeepAlive    = 15 * time.Second // SSE comment on idle streams; the design asks for ≤ 30 s
	DefaultWriteTimeout = 15 * time.Second // one stream write; a stalled reader is dropped
)

// Config is the transport's configuration. Zero fields mean the default.
type Config struct {
	// AllowedOrigins is the CORS allow-list; empty means any origin ("*").
	// Credentials are never allowed.
	AllowedOrigins []string
	KeepAlive      time.Duration
	WriteTimeout   time.Duration
	Logger         *slog.Logger
}

// Server serves the keypost protocol over HTTP for one relay.
type Server struct {
	relay   *relay.Relay
	cfg     Config
	log     *slog.Logger
	maxBody int64
	origins map[string]bool // nil: any
	mux     *http.ServeMux
}

// New returns the HTTP handler of the relay r.
func New(r *relay.Relay, cfg Config) *Server {
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = DefaultKeepAlive
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{relay: r, cfg: cfg, log: cfg.Logger, maxBody: int64(r.Config().MaxBodyBytes)}
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
	mux.Handle(protocol.PathAuth, s.post(s.auth))
	mux.Handle(protocol.PathChallenge, s.post(s.challenge))
	mux.Handle(protocol.PathSend, s.post(s.send))
	mux.Handle(protocol.PathAck, s.post(s.ack))
	mux.Handle(protocol.PathPong, s.post(s.pong))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, protocol.OK{OK: true}) })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, fail(protocol.CodeNotFound, "no such endpoint"))
	})
	s.mux = mux
	return s
}

// Handle adds a handler for pattern (the web page, metrics) to the server.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP applies CORS and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cors(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

// clientAddr is the address the unauthenticated stream caps count by.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
