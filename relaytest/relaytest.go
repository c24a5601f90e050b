// Package relaytest is the test harness of keypost: a real relay behind a
// real HTTP server on 127.0.0.1 (a random port), and a low-level protocol
// client that gives a test full control of every step (it can skip a
// challenge, answer wrongly, forget to ack), for tests of the relay itself.
// Applications use package client instead.
package relaytest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/relay"
)

// Server is a relay served over HTTP for a test.
type Server struct {
	URL    string
	Relay  *relay.Relay
	HTTP   *httptest.Server // nil for a pipe server
	Client *http.Client     // speaks to this server
}

// NewServer starts a relay with cfg on 127.0.0.1 and stops it when the test
// ends.
func NewServer(tb testing.TB, cfg relay.Config) *Server {
	tb.Helper()
	r := relay.New(cfg)
	ts := httptest.NewServer(httpapi.New(r, httpapi.Config{}))
	tb.Cleanup(func() {
		r.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	return &Server{URL: ts.URL, Relay: r, HTTP: ts, Client: ts.Client()}
}
