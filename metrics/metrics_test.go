package metrics_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/metrics"
	"github.com/keypost/keypost/metrics/metricstest"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

func scrape(t *testing.T, m *metrics.Metrics) metricstest.Families {
	t.Helper()
	return metricstest.ScrapeHandler(t, m.Handler())
}

// Names and labels follow Prometheus conventions, as promlint checks them
// (units in names, _total on counters, help on every metric).
func TestLint(t *testing.T) {
	m := metrics.New("test")
	r := relay.New(relay.Config{})
	defer r.Close()
	m.WatchRelay(r)
	m.WatchReady(func() bool { return true })
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// Each observer call lands in its metric, with its label.
func TestObserverCalls(t *testing.T) {
	m := metrics.New("v1.2.3")
	var ro relay.Observer = m
	var ho httpapi.Observer = m

	ro.StreamOpened()
	ro.StreamOpened()
	ro.StreamClosed("", false)
	ro.StreamClosed(protocol.CloseAuthTimeout, false)
	ro.StreamClosed(protocol.CloseSlowReader, true)
	ro.SessionReady(12 * time.Millisecond)
	ro.Accepted()
	ro.Rejected(protocol.CodeQueueFull)
	ro.Rejected(protocol.CodeQueueFull)
	ro.Delivered(1)
	ro.Delivered(2)
	ro.Delivered(3)
	ro.Settled(protocol.StatusDelivered, 30*time.Millisecond)
	ro.Settled(protocol.StatusExpired, time.Minute)
	ro.Ping()
	ro.LinkSample(100, 5*time.Millisecond, 5*time.Millisecond, 1<<20)
	ro.LinkSample(64<<10, 100*time.Millisecond, 5*time.Millisecond, 700<<10)
	ho.Request("/v1/send", 200, "", time.Millisecond)
	ho.Request("/v1/send", 429, protocol.CodeRateLimited, time.Millisecond)
	ho.StreamWrite(100, nil)
	ho.StreamWrite(0, errors.New("broken pipe"))
	ho.Refused(httpapi.LimitKeyRate)

	f := scrape(t, m)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"keypost_streams_opened_total", nil, 2},
		{"keypost_handshakes_started_total", nil, 2},
		{"keypost_streams_closed_total", []string{"code", "client_gone"}, 1},
		{"keypost_streams_closed_total", []string{"code", "auth_timeout"}, 1},
		{"keypost_streams_closed_total", []string{"code", "slow_reader"}, 1},
		{"keypost_streams_closed_total", []string{"code", "dead"}, 0},
		{"keypost_handshakes_failed_total", []string{"reason", "auth_timeout"}, 1},
		{"keypost_handshakes_failed_total", []string{"reason", "client_gone"}, 1},
		{"keypost_handshakes_failed_total", nil, 2}, // the ready session's slow_reader is no handshake failure
		{"keypost_handshakes_completed_total", nil, 1},
		{"keypost_session_ready_rtt_seconds", nil, 1},
		{"keypost_messages_accepted_total", nil, 1},
		{"keypost_messages_rejected_total", []string{"code", "queue_full"}, 2},
		{"keypost_messages_rejected_total", []string{"code", "recipient_offline"}, 0},
		{"keypost_deliveries_total", nil, 1},
		{"keypost_retransmissions_total", nil, 2},
		{"keypost_messages_settled_total", []string{"status", "delivered"}, 1},
		{"keypost_messages_settled_total", []string{"status", "expired"}, 1},
		{"keypost_messages_settled_total", []string{"status", "undeliverable"}, 0},
		{"keypost_ack_time_seconds", nil, 1}, // only delivered messages
		{"keypost_pings_total", nil, 1},
		{"keypost_link_rtt_seconds", nil, 1},
		{"keypost_link_bandwidth_bytes_per_second", nil, 1},
		{"keypost_http_request_duration_seconds", []string{"endpoint", "/v1/send"}, 2},
		{"keypost_http_request_duration_seconds", []string{"endpoint", "/v1/send", "status", "429"}, 1},
		{"keypost_http_errors_total", []string{"endpoint", "/v1/send", "code", "rate_limited"}, 1},
		{"keypost_sse_written_bytes_total", nil, 100},
		{"keypost_sse_write_errors_total", nil, 1},
		{"keypost_limit_refusals_total", []string{"limit", "key_rate"}, 1},
		{"keypost_limit_refusals_total", []string{"limit", "streams_per_addr"}, 0},
		{"keypost_build_info", []string{"version", "v1.2.3"}, 1},
	} {
		if got := f.Value(t, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v (series %v)", tc.name, tc.labels, got, tc.want, f.Series(tc.name))
		}
	}
	if _, ok := f["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}

// The gauges read from the relay at scrape time, and readiness.
func TestRelayGauges(t *testing.T) {
	m := metrics.New("test")
	r := relay.New(relay.Config{Observer: m})
	defer r.Close()
	m.WatchRelay(r)
	ready := true
	m.WatchReady(func() bool { return ready })
	if _, err := r.Open("192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	f := scrape(t, m)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"keypost_sessions", []string{"state", "connecting"}, 1},
		{"keypost_sessions", []string{"state", "registering"}, 0},
		{"keypost_sessions", []string{"state", "ready"}, 0},
		{"keypost_sessions", []string{"state", "offline_retained"}, 0},
		{"keypost_keys", nil, 0},
		{"keypost_held_messages", nil, 0},
		{"keypost_held_bytes", nil, 0},
		{"keypost_ready", nil, 1},
		{"keypost_streams_opened_total", nil, 1},
	} {
		if got := f.Value(t, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	ready = false
	if got := scrape(t, m).Value(t, "keypost_ready"); got != 0 {
		t.Errorf("keypost_ready while draining = %v", got)
	}
}

// No metric is labelled by anything a client chooses: every label value
// comes from a fixed set.
func TestLabelsAreBounded(t *testing.T) {
	m := metrics.New("test")
	for _, l := range httpapi.Limits {
		m.Refused(l)
	}
	f := scrape(t, m)
	for name, fam := range f {
		if !strings.HasPrefix(name, "keypost_") {
			continue
		}
		for _, s := range fam.GetMetric() {
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "code", "reason", "status", "limit", "state", "endpoint", "version", "goversion", "alg":
				default:
					t.Errorf("%s has label %s", name, l.GetName())
				}
			}
		}
	}
}
