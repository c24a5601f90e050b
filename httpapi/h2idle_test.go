package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/internal/sse"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// An HTTP/2 stream that stays quiet for longer than WriteTimeout lives on:
// the write deadline covers a write, not the time between writes (over
// HTTP/2 a passed deadline resets the stream even when it is idle).
func TestHTTP2StreamOutlivesWriteTimeout(t *testing.T) {
	r := relay.New(relay.Config{SessionResend: 400 * time.Millisecond})
	ts := httptest.NewUnstartedServer(httpapi.New(r, httpapi.Config{WriteTimeout: 100 * time.Millisecond}))
	ts.Config.Protocols = new(http.Protocols)
	ts.Config.Protocols.SetHTTP1(true)
	ts.Config.Protocols.SetUnencryptedHTTP2(true)
	ts.Start()
	t.Cleanup(func() {
		r.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: p}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(ts.URL + protocol.PathEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("served over %s, want HTTP/2", resp.Proto)
	}
	guard := time.AfterFunc(relaytest.Wait, func() { resp.Body.Close() })
	defer guard.Stop()
	dec := sse.NewDecoder(resp.Body)
	// The session event, then its re-send (§2.1) 400 ms later: four write
	// timeouts of quiet in between.
	for i := range 2 {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i+1, err)
		}
		if ev.Type != protocol.EventSession {
			t.Fatalf("event %d is %q, want session", i+1, ev.Type)
		}
	}
}
