package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"testing"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

func decodeJSON(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s: body is not JSON: %v", resp.Request.URL.Path, err)
	}
}

// Streams per client address: past the cap a new stream is refused with
// 429 too_many_streams and Retry-After, counted by limit; a slot frees when
// a stream ends.
func TestLimitStreamsPerAddr(t *testing.T) {
	srv := newMetered(t, relay.Config{}, httpapi.Config{MaxStreamsPerAddr: 2})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.Register() // an authorized stream counts as much as a waiting one
	b.Connect()
	status, retry, code := get(t, srv.client, srv.URL+protocol.PathEvents)
	if status != http.StatusTooManyRequests || code != string(protocol.CodeTooManyStreams) || retry == "" {
		t.Fatalf("third stream: %d %s Retry-After %q", status, code, retry)
	}
	if got := srv.metric(t, "keypost_limit_refusals_total", "limit", "streams_per_addr"); got != 1 {
		t.Fatalf("refusals{streams_per_addr} = %v", got)
	}
	if got := srv.metric(t, "keypost_http_errors_total", "endpoint", protocol.PathEvents, "code", "too_many_streams"); got != 1 {
		t.Fatalf("http_errors{/v1/events,too_many_streams} = %v", got)
	}
	b.Close()
	eventually(t, "a stream slot is freed when a stream ends", func() bool {
		return srv.metric(t, "keypost_streams_closed_total", "code", "client_gone") == 1
	})
	c := srv.NewClient(t)
	c.Connect() // fails the test if refused
}

// Behind a trusted proxy the per-address caps count the client named in
// X-Forwarded-For, not the proxy; from anyone else the header is ignored.
func TestLimitStreamsPerAddrBehindProxy(t *testing.T) {
	open := func(srv *metered, client string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+protocol.PathEvents, nil)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := srv.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
		} else {
			t.Cleanup(func() { resp.Body.Close() })
		}
		return resp.StatusCode
	}
	srv := newMetered(t, relay.Config{}, httpapi.Config{MaxStreamsPerAddr: 1,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if a, b := open(srv, "198.51.100.1"), open(srv, "198.51.100.2"); a != 200 || b != 200 {
		t.Fatalf("two clients behind one proxy: %d %d", a, b)
	}
	if c := open(srv, "198.51.100.1"); c != http.StatusTooManyRequests {
		t.Fatalf("a second stream from one client behind the proxy: %d", c)
	}

	srv = newMetered(t, relay.Config{}, httpapi.Config{MaxStreamsPerAddr: 1})
	if a, b := open(srv, "198.51.100.1"), open(srv, "198.51.100.2"); a != 200 || b != http.StatusTooManyRequests {
		t.Fatalf("untrusted X-Forwarded-For: %d %d, want it ignored", a, b)
	}
}

// Streams in total: 503 too_many_streams, counted.
func TestLimitStreamsTotal(t *testing.T) {
	srv := newMetered(t, relay.Config{}, httpapi.Config{MaxStreams: 1})
	srv.NewClient(t).Connect()
	status, retry, code := get(t, srv.client, srv.URL+protocol.PathEvents)
	if status != http.StatusServiceUnavailable || code != string(protocol.CodeTooManyStreams) || retry == "" {
		t.Fatalf("second stream: %d %s Retry-After %q", status, code, retry)
	}
	if got := srv.metric(t, "keypost_limit_refusals_total", "limit", "streams"); got != 1 {
		t.Fatalf("refusals{streams} = %v", got)
	}
}

// The relay's caps on streams waiting to authorize are counted under their
// own limit names.
func TestLimitUnauthStreams(t *testing.T) {
	srv := newMetered(t, relay.Config{MaxUnauthPerAddr: 1}, httpapi.Config{})
	srv.NewClient(t).Connect()
	if status, _, code := get(t, srv.client, srv.URL+protocol.PathEvents); status != 429 || code != "too_many_streams" {
		t.Fatalf("second unauthorized stream from one address: %d %s", status, code)
	}
	if got := srv.metric(t, "keypost_limit_refusals_total", "limit", "unauth_streams_per_addr"); got != 1 {
		t.Fatalf("refusals{unauth_streams_per_addr} = %v", got)
	}

	srv = newMetered(t, relay.Config{MaxUnauthStreams: 1}, httpapi.Config{})
	srv.NewClient(t).Connect()
	if status, _, code := get(t, srv.client, srv.URL+protocol.PathEvents); status != 503 || code != "too_many_streams" {
		t.Fatalf("second unauthorized stream: %d %s", status, code)
	}
	if got := srv.metric(t, "keypost_limit_refusals_total", "limit", "unauth_streams"); got != 1 {
		t.Fatalf("refusals{unauth_streams} = %v", got)
	}
}

// Requests per key: a token bucket. Past the burst a key gets 429
// rate_limited with Retry-After; other keys are not affected.
func TestLimitKeyRate(t *testing.T) {
	// Only sends are limited: registration leaves the burst of 5 whole,
	// and one token comes back per second.
	srv := newMetered(t, relay.Config{}, httpapi.Config{KeyRate: 1, KeyBurst: 5})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.Register()
	b.Register()
	refused := 0
	var p protocol.Problem
	var retry string
	for i := 0; i < 20 && refused == 0; i++ {
		req := a.Request(protocol.PathSend, []byte(`{"messages":[]}`))
		resp, err := srv.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			refused++
			retry = resp.Header.Get("Retry-After")
			decodeJSON(t, resp, &p)
		}
		resp.Body.Close()
	}
	if refused == 0 || p.Code != protocol.CodeRateLimited || p.Status != 429 {
		t.Fatalf("20 requests at once with a burst of 5: refused %d, problem %+v", refused, p)
	}
	if n, err := strconv.Atoi(retry); err != nil || n < 1 {
		t.Fatalf("Retry-After %q, want whole seconds ≥ 1", retry)
	}
	if got := srv.metric(t, "keypost_limit_refusals_total", "limit", "key_rate"); got != 1 {
		t.Fatalf("refusals{key_rate} = %v", got)
	}
	if got := srv.metric(t, "keypost_http_errors_total", "endpoint", protocol.PathSend, "code", "rate_limited"); got != 1 {
		t.Fatalf("http_errors{/v1/send,rate_limited} = %v", got)
	}
	// b's bucket is its own, and a's answers to the relay are not limited.
	a.MustPost(protocol.PathPong, protocol.PongRequest{ID: protocol.NewID().String()}, nil)
	if res := b.Send(protocol.OutMessage{To: a.Key.String(), Data: "hi"}); res[0].Status != protocol.StatusAccepted {
		t.Fatalf("other key: %+v", res[0])
	}
}

// Request bodies over max_body_bytes: 413 body_too_large, counted.
func TestLimitBodySize(t *testing.T) {
	srv := newMetered(t, relay.Config{MaxBodyBytes: 1024, MaxMessageBytes: 512}, httpapi.Config{})
	a := srv.NewClient(t)
	a.Register()
	status, body := a.Do(a.Request(protocol.PathSend, bytes.Repeat([]byte(" "), 2048)))
	if p := relaytest.Problem(t, body); status != 413 || p.Code != protocol.CodeBodyTooLarge {
		t.Fatalf("large body: %d %s", status, body)
	}
	if got := srv.metric(t, "keypost_limit_refusals_total", "limit", "body_size"); got != 1 {
		t.Fatalf("refusals{body_size} = %v", got)
	}
}

// CORS with an allow-list: a listed origin is echoed in preflights, with
// the headers the browser client signs with; another origin gets no CORS
// headers (the browser refuses the answer), counted.
func TestCORSAllowList(t *testing.T) {
	srv := newMetered(t, relay.Config{}, httpapi.Config{AllowedOrigins: []string{"https://app.example"}})
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+protocol.PathSend, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type, content-digest, signature, signature-input, relay-session")
		resp, err := srv.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight("https://app.example")
	h := resp.Header
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		h.Get("Access-Control-Allow-Credentials") != "" || h.Get("Vary") != "Origin" {
		t.Fatalf("listed origin: %d %v", resp.StatusCode, h)
	}
	for _, want := range []string{"Signature", "Signature-Input", "Content-Digest", "Relay-Session", "Content-Type"} {
		if !bytes.Contains([]byte(h.Get("Access-Control-Allow-Headers")), []byte(want)) {
			t.Errorf("preflight does not allow %s", want)
		}
	}
	resp = preflight("https://evil.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Headers") != "" {
		t.Fatalf("unlisted origin got CORS headers: %v", resp.Header)
	}
	if got := srv.metric(t, "keypost_limit_refusals_total", "limit", "cors_origin"); got != 1 {
		t.Fatalf("refusals{cors_origin} = %v", got)
	}
	if got := srv.metric(t, "keypost_http_request_duration_seconds", "endpoint", "preflight", "status", "204"); got != 1 {
		t.Fatalf("preflights answered 204: %v", got)
	}
}
