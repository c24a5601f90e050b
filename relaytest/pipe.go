package relaytest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/relay"
)

// PipeListener is an in-memory net.Listener whose connections are net.Pipe
// pairs. Inside a testing/synctest bubble, a goroutine blocked on a real
// socket would stop the bubble's clock; one blocked on a pipe does not, so
// HTTP, SSE and the relay's timers can run together on fake time.
type PipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

// NewPipeListener returns an open PipeListener.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next DialContext.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and DialContext.
func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a placeholder address.
func (l *PipeListener) Addr() net.Addr { return pipeAddr{} }

// DialContext connects to the listener; use it as an http.Transport's.
func (l *PipeListener) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, errors.New("relaytest: pipe listener closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "127.0.0.1:1" }

// NewPipeServer starts a relay behind a real http.Server on an in-memory
// listener, for tests inside a synctest bubble: call it inside the bubble.
// Its clients speak real HTTP and SSE over pipes. Everything is shut down
// when the test ends.
func NewPipeServer(tb testing.TB, cfg relay.Config) *Server {
	tb.Helper()
	r := relay.New(cfg)
	ln := NewPipeListener()
	hs := httpapi.NewHTTPServer(httpapi.New(r, httpapi.Config{}))
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(ln)
	}()
	tr := &http.Transport{DialContext: ln.DialContext}
	tb.Cleanup(func() {
		r.Close()
		_ = hs.Close()
		tr.CloseIdleConnections()
		<-served
	})
	return &Server{URL: "http://keypost.test", Relay: r, Client: &http.Client{Transport: tr}}
}
