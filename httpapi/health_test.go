package httpapi_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// /healthz says the process serves; /readyz says it takes new streams, and
// goes false as soon as draining starts, before any stream is closed:
// existing streams keep working until the relay closes them with
// closing {"code":"shutdown"}.
func TestReadyzDuringDrain(t *testing.T) {
	srv := newMetered(t, relay.Config{}, httpapi.Config{})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.Register()
	b.Register()
	if status, _, _ := get(t, srv.client, srv.URL+"/readyz"); status != 200 {
		t.Fatalf("/readyz before draining: %d", status)
	}
	if got := srv.metric(t, "keypost_ready"); got != 1 {
		t.Fatalf("keypost_ready = %v", got)
	}

	srv.API.Drain()
	if status, retry, code := get(t, srv.client, srv.URL+"/readyz"); status != 503 || code != string(protocol.CodeShuttingDown) {
		t.Fatalf("/readyz while draining: %d %s %s", status, code, retry)
	}
	if status, _, _ := get(t, srv.client, srv.URL+"/healthz"); status != 200 {
		t.Fatalf("/healthz while draining: %d", status)
	}
	if got := srv.metric(t, "keypost_ready"); got != 0 {
		t.Fatalf("keypost_ready while draining = %v", got)
	}
	// Draining has closed nothing yet: messages still flow.
	if res := a.Send(protocol.OutMessage{To: b.Key.String(), Data: "still here"}); res[0].Status != protocol.StatusAccepted {
		t.Fatalf("send while draining: %+v", res[0])
	}
	var m protocol.MessageEvent
	b.ExpectSkippingPings(protocol.EventMessage, &m)

	srv.Relay.Close()
	for _, c := range []interface{ Ended() protocol.CloseCode }{a, b} {
		if code := c.Ended(); code != protocol.CloseShutdown {
			t.Fatalf("closing %q, want shutdown", code)
		}
	}
	if status, _, code := get(t, srv.client, srv.URL+protocol.PathEvents); status != 503 || code != "shutting_down" {
		t.Fatalf("new stream after close: %d %s", status, code)
	}
	if got := srv.metric(t, "keypost_streams_closed_total", "code", "shutdown"); got != 2 {
		t.Fatalf("streams closed with shutdown: %v", got)
	}
}

// Config.ReadyCheck can make a node unready for reasons of its own (a
// cluster node that lost its cluster link).
func TestReadyCheck(t *testing.T) {
	var down error
	srv := newMetered(t, relay.Config{}, httpapi.Config{ReadyCheck: func() error { return down }})
	if status, _, _ := get(t, srv.client, srv.URL+"/readyz"); status != 200 {
		t.Fatalf("/readyz: %d", status)
	}
	down = errors.New("no cluster link")
	if status, _, code := get(t, srv.client, srv.URL+"/readyz"); status != http.StatusServiceUnavailable || code != "server_busy" {
		t.Fatalf("/readyz with a failing check: %d %s", status, code)
	}
	down = &relay.Error{Code: protocol.CodeShuttingDown, Detail: "cluster link lost"}
	if status, _, code := get(t, srv.client, srv.URL+"/readyz"); status != 503 || code != string(protocol.CodeShuttingDown) {
		t.Fatalf("/readyz with a coded failure: %d %s", status, code)
	}
}
