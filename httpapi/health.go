package httpapi

import (
	"errors"
	"net/http"

	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// Paths of the health endpoints.
const (
	PathHealthz = "/healthz" // alive: the process serves HTTP
	PathReadyz  = "/readyz"  // ready: it accepts new streams (not draining, and Config.ReadyCheck passes)
)

// healthz answers 200 while the process serves, draining or not: a load
// balancer or supervisor that restarts dead processes must not restart a
// draining one.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, protocol.OK{OK: true})
}

// readyz answers 200 while the relay accepts new streams, and a 503 problem
// once it drains (shutting_down) or Config.ReadyCheck fails, so that load
// balancers send new clients elsewhere.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := s.ready(); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, protocol.OK{OK: true})
}

func (s *Server) ready() error {
	if s.draining.Load() {
		return fail(protocol.CodeShuttingDown, "the relay is draining; connect elsewhere")
	}
	if s.cfg.ReadyCheck == nil {
		return nil
	}
	err := s.cfg.ReadyCheck()
	var re *relay.Error
	if err == nil || errors.As(err, &re) {
		return err
	}
	return &apiError{code: protocol.CodeServerBusy, status: http.StatusServiceUnavailable, detail: "not ready: " + err.Error()}
}

// Ready reports what /readyz answers.
func (s *Server) Ready() bool { return s.ready() == nil }

// Drain marks the server as draining: /readyz answers 503 from now on,
// while everything else works as before. It is the first step of a
// graceful shutdown: load balancers stop sending new clients, then the
// caller closes the relay (every stream gets closing {"code":"shutdown"})
// and shuts the http.Server down. Idempotent.
func (s *Server) Drain() { s.draining.Store(true) }
