package cli

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/keypost/keypost/metrics/metricstest"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relaytest"
)

// Graceful drain: on the signal /readyz goes false first, while streams
// still work; then every stream gets closing {"code":"shutdown"} and serve
// returns nil.
func TestServeDrain(t *testing.T) {
	reached, release := make(chan struct{}), make(chan struct{})
	cmd := newServeCmd(func(ctx context.Context, o *serveOptions, stderr io.Writer) error {
		o.beforeClose = func() {
			close(reached)
			<-release
		}
		return serve(ctx, o, stderr)
	})
	s := startServeCmd(t, cmd)
	base := "http://" + s.addr
	hc := newClient(t)
	a, b := newProtocolClient(t, base, hc), newProtocolClient(t, base, hc)
	a.Register()
	b.Register()
	status := func(path string) int {
		t.Helper()
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/readyz"); got != 200 {
		t.Fatalf("/readyz before the signal: %d", got)
	}

	s.cancel() // SIGTERM
	select {
	case <-reached:
	case <-time.After(hangGuard):
		t.Fatalf("serve did not start draining\n%s", s.stderr)
	}
	if got := status("/readyz"); got != 503 {
		t.Errorf("/readyz while draining: %d, want 503", got)
	}
	if got := status("/healthz"); got != 200 {
		t.Errorf("/healthz while draining: %d, want 200", got)
	}
	if got := metricstest.Scrape(t, hc, base+"/metrics").Value(t, "keypost_ready"); got != 0 {
		t.Errorf("keypost_ready while draining: %v", got)
	}
	a.Send(protocol.OutMessage{To: b.Key.String(), Data: "before the close"})
	var m protocol.MessageEvent
	b.ExpectSkippingPings(protocol.EventMessage, &m)

	close(release)
	for _, c := range []*relaytest.Client{a, b} {
		if code := c.Ended(); code != protocol.CloseShutdown {
			t.Fatalf("closing %q, want shutdown", code)
		}
	}
	if err := s.wait(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	logs := s.stderr.String()
	if i, j := strings.Index(logs, "msg=draining"), strings.Index(logs, `msg="shutting down"`); i < 0 || j < i {
		t.Errorf("logs do not say draining, then shutting down:\n%s", logs)
	}
}

// serve mounts the web page and SDK; other paths stay problem+json 404s.
func TestServeWebPage(t *testing.T) {
	s := startServeCmd(t, newServeCmd(serve))
	c := newClient(t)
	for _, tc := range []struct {
		path, ctype string
		status      int
	}{
		{"/", "text/html", 200},
		{"/keypost.js", "text/javascript", 200},
		{"/favicon.ico", "application/problem+json", 404},
		{"/v1/nope", "application/problem+json", 404},
	} {
		resp, err := c.Get("http://" + s.addr + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s: %d %s, want %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype)
		}
	}
}
