package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/metrics"
	"github.com/keypost/keypost/metrics/metricstest"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// What the relay and the transport do shows in /metrics, scraped over HTTP
// as Prometheus does: a handshake, a message, its ack, a rejection, an
// error answer, a stream that ends.
func TestMetricsScraped(t *testing.T) {
	srv := newMetered(t, relay.Config{}, httpapi.Config{})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.Register()
	b.Register()
	res := a.Send(
		protocol.OutMessage{To: b.Key.String(), Data: "hello"},
		protocol.OutMessage{To: srv.NewClient(t).Key.String(), Data: "nobody"},
	)
	if res[0].Status != protocol.StatusAccepted || res[1].Code != protocol.CodeRecipientUnknown {
		t.Fatalf("send %+v", res)
	}
	var m protocol.MessageEvent
	b.ExpectSkippingPings(protocol.EventMessage, &m)
	b.Ack([]protocol.MessageRef{{From: m.From, ID: m.ID}}, nil)
	var rc protocol.ReceiptEvent
	a.ExpectSkippingPings(protocol.EventReceipt, &rc)
	if status, _, code := get(t, srv.client, srv.URL+"/v1/nope"); status != 404 || code != "not_found" {
		t.Fatalf("unknown endpoint: %d %s", status, code)
	}

	f := srv.scrape(t)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"keypost_streams_opened_total", nil, 2},
		{"keypost_handshakes_started_total", nil, 2},
		{"keypost_handshakes_completed_total", nil, 2},
		{"keypost_handshakes_failed_total", nil, 0},
		{"keypost_sessions", []string{"state", "ready"}, 2},
		{"keypost_sessions", []string{"state", "connecting"}, 0},
		{"keypost_keys", nil, 2},
		{"keypost_messages_accepted_total", nil, 1},
		{"keypost_messages_rejected_total", []string{"code", "recipient_unknown"}, 1},
		{"keypost_deliveries_total", nil, 1},
		{"keypost_retransmissions_total", nil, 0},
		{"keypost_messages_settled_total", []string{"status", "delivered"}, 1},
		{"keypost_ack_time_seconds", nil, 1},
		{"keypost_held_messages", nil, 0},
		{"keypost_link_rtt_seconds", nil, 6 + 1}, // three challenges each, and the ack of a first delivery
		{"keypost_http_request_duration_seconds", []string{"endpoint", protocol.PathEvents, "status", "200"}, 2},
		{"keypost_http_request_duration_seconds", []string{"endpoint", protocol.PathAuth, "status", "200"}, 2},
		{"keypost_http_request_duration_seconds", []string{"endpoint", protocol.PathChallenge, "status", "200"}, 6},
		{"keypost_http_request_duration_seconds", []string{"endpoint", protocol.PathSend, "status", "200"}, 1},
		{"keypost_http_request_duration_seconds", []string{"endpoint", protocol.PathAck, "status", "200"}, 1},
		{"keypost_http_request_duration_seconds", []string{"endpoint", "other", "status", "404"}, 1},
		{"keypost_http_errors_total", []string{"endpoint", "other", "code", "not_found"}, 1},
		{"keypost_sse_write_errors_total", nil, 0},
		{"keypost_verified_requests_total", []string{"alg", protocol.SignatureAlg}, 2 + 6 + 1 + 1}, // auth, challenges, send, ack
		{"keypost_verified_requests_total", []string{"alg", protocol.SignatureAlgHMAC}, 0},
		{"keypost_ready", nil, 1},
	} {
		if got := f.Value(t, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v (series %v)", tc.name, tc.labels, got, tc.want, f.Series(tc.name))
		}
	}
	if got := f.Value(t, "keypost_sse_written_bytes_total"); got <= 0 {
		t.Errorf("sse_written_bytes_total = %v", got)
	}

	// b's stream ends: its key is retained offline.
	b.Close()
	eventually(t, "the stream's end is counted", func() bool {
		return srv.metric(t, "keypost_streams_closed_total", "code", "client_gone") == 1
	})
	f = srv.scrape(t)
	if got := f.Value(t, "keypost_sessions", "state", "offline_retained"); got != 1 {
		t.Errorf("offline_retained = %v", got)
	}
	if got := f.Value(t, "keypost_sessions", "state", "ready"); got != 1 {
		t.Errorf("ready = %v", got)
	}
}

// keypost_verified_requests_total tells the session profile's requests
// (docs/protocol.md §4.6) from Ed25519 ones, and counts no request whose
// signature or nonce was refused.
func TestMetricsVerifiedByAlg(t *testing.T) {
	srv := newMetered(t, relay.Config{}, httpapi.Config{})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.RegisterHMAC() // auth Ed25519, its three challenge answers hmac-sha256
	b.Register()     // four Ed25519
	if res := a.Send(protocol.OutMessage{To: b.Key.String(), Data: "hi"}); res[0].Status != protocol.StatusAccepted {
		t.Fatalf("send %+v", res[0])
	}
	// Refused: a replayed nonce, and an HMAC-signed /v1/auth.
	body := []byte(`{"messages":[]}`)
	first := a.Request(protocol.PathSend, body)
	replay := a.Request(protocol.PathSend, body)
	replay.Header = first.Header.Clone()
	if status, b := a.Do(first); status != http.StatusOK {
		t.Fatalf("send: %d %s", status, b)
	}
	if status, b := a.Do(replay); status != http.StatusUnauthorized {
		t.Fatalf("replayed nonce: %d %s", status, b)
	}
	auth, _ := json.Marshal(protocol.AuthRequest{Key: a.Key.String(), HMAC: true})
	authReq := a.Request(protocol.PathAuth, auth)
	if err := protocol.SignRequestHMAC(authReq.Header, a.Key, a.Secret, http.MethodPost, protocol.PathAuth, a.Session, auth, 1000, time.Now()); err != nil {
		t.Fatal(err)
	}
	if status, b := a.Do(authReq); status != http.StatusUnauthorized {
		t.Fatalf("HMAC-signed auth: %d %s", status, b)
	}
	f := srv.scrape(t)
	if got := f.Value(t, "keypost_verified_requests_total", "alg", protocol.SignatureAlg); got != 1+4 {
		t.Errorf("ed25519: %v, want 5", got)
	}
	if got := f.Value(t, "keypost_verified_requests_total", "alg", protocol.SignatureAlgHMAC); got != 3+1+1 {
		t.Errorf("hmac-sha256: %v, want 5", got)
	}
}

// failingWriter is a ResponseWriter whose client has gone: every write
// fails.
type failingWriter struct{ h http.Header }

func (w *failingWriter) Header() http.Header       { return w.h }
func (w *failingWriter) WriteHeader(int)           {}
func (w *failingWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
func (w *failingWriter) Flush()                    {}

// A stream whose write fails ends, and the failure is counted.
func TestSSEWriteErrorCounted(t *testing.T) {
	m := metrics.New("test")
	r := relay.New(relay.Config{Observer: m})
	defer r.Close()
	api := httpapi.New(r, httpapi.Config{Observer: m})
	api.ServeHTTP(&failingWriter{h: http.Header{}}, httptest.NewRequest(http.MethodGet, protocol.PathEvents, nil))
	f := metricstest.ScrapeHandler(t, m.Handler())
	if got := f.Value(t, "keypost_sse_write_errors_total"); got != 1 {
		t.Fatalf("sse_write_errors_total = %v", got)
	}
	if got := f.Value(t, "keypost_streams_closed_total", "code", "client_gone"); got != 1 {
		t.Fatalf("streams closed: %v", f.Series("keypost_streams_closed_total"))
	}
}
