package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/metrics"
	"github.com/keypost/keypost/metrics/metricstest"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// metered is a relay with the given transport settings behind a real HTTP
// server on 127.0.0.1, with its metrics on /metrics as serve mounts them.
type metered struct {
	*relaytest.Server
	API     *httpapi.Server
	Metrics *metrics.Metrics
	client  *http.Client
}

func newMetered(t *testing.T, rc relay.Config, hc httpapi.Config) *metered {
	t.Helper()
	m := metrics.New("test")
	rc.Observer = m
	r := relay.New(rc)
	m.WatchRelay(r)
	hc.Observer = m
	api := httpapi.New(r, hc)
	m.WatchReady(api.Ready)
	api.Handle("/metrics", m.Handler())
	ts := httptest.NewServer(api)
	c := ts.Client()
	t.Cleanup(func() {
		r.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	return &metered{Server: &relaytest.Server{URL: ts.URL, Relay: r, HTTP: ts, Client: c}, API: api, Metrics: m, client: c}
}

// scrape GETs /metrics as Prometheus would.
func (s *metered) scrape(t *testing.T) metricstest.Families {
	t.Helper()
	return metricstest.Scrape(t, s.client, s.URL+"/metrics")
}

// metric is the value of one series in a fresh scrape.
func (s *metered) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return s.scrape(t).Value(t, name, labels...)
}

// eventually polls cond until it holds, failing the test after a generous
// bound: for effects that follow a request asynchronously (a stream's
// handler returning after its client left). It asserts no timing.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(relaytest.Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, relaytest.Wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// get does a GET and returns the status, Retry-After and problem code.
func get(t *testing.T, c *http.Client, url string) (status int, retryAfter string, code string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, "", ""
	}
	var p struct{ Code string }
	decodeJSON(t, resp, &p)
	return resp.StatusCode, resp.Header.Get("Retry-After"), p.Code
}
