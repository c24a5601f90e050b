// Package metrics exposes what keypost does in the Prometheus text format:
// a relay.Observer and an httpapi.Observer backed by Prometheus counters and
// histograms, gauges read from Relay.Stats at scrape time, and the handler
// of GET /metrics. Every label has a small fixed set of values (codes,
// states, endpoints); no key, session or message id is ever a label.
// docs/operations.md lists the metrics.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

const namespace = "keypost"

// closeClientGone is the label of streams that ended without a closing
// event (the client went away, or its connection broke).
const closeClientGone = "client_gone"

// Label values known up front; their series start at zero, so a dashboard
// shows a rate of 0 rather than no data.
var (
	closeCodes = []protocol.CloseCode{
		protocol.CloseAuthTimeout, protocol.CloseRegisterTimeout, protocol.CloseBadChallenge,
		protocol.CloseKeyConflict, protocol.CloseShutdown, protocol.CloseSlowReader, protocol.CloseDead,
	}
	entryCodes = []protocol.ErrorCode{
		protocol.CodeBadKey, protocol.CodeBadID, protocol.CodeBadData, protocol.CodeDuplicateID,
		protocol.CodeTooLarge, protocol.CodeRecipientUnknown, protocol.CodeRecipientOffline,
		protocol.CodeQueueFull, protocol.CodeRecipientBusy, protocol.CodeSenderBusy, protocol.CodeServerBusy,
	}
	settleStatuses = []string{protocol.StatusDelivered, protocol.StatusExpired, protocol.StatusUndeliverable}
)

// Metrics holds keypost's metrics in a registry of its own. It implements
// relay.Observer (its methods run with the relay's lock held, so each is a
// few atomic operations on series resolved at construction) and
// httpapi.Observer. Create it with New.
type Metrics struct {
	reg *prometheus.Registry

	// relay.Observer
	streamsOpened     prometheus.Counter
	streamsClosed     map[protocol.CloseCode]prometheus.Counter
	streamsClosedVec  *prometheus.CounterVec
	handshakesStarted prometheus.Counter
	handshakesDone    prometheus.Counter
	handshakesFailed  map[protocol.CloseCode]prometheus.Counter
	accepted          prometheus.Counter
	rejected          map[protocol.ErrorCode]prometheus.Counter
	rejectedVec       *prometheus.CounterVec
	deliveries        prometheus.Counter
	retransmissions   prometheus.Counter
	settled           map[string]prometheus.Counter
	settledVec        *prometheus.CounterVec
	ackTime           prometheus.Histogram
	pings             prometheus.Counter
	linkRTT           prometheus.Histogram
	linkBandwidth     prometheus.Histogram
	readyRTT          prometheus.Histogram
	sseWriteErrors    prometheus.Counter
	sseBytes          prometheus.Counter
	requestDuration   *prometheus.HistogramVec
	httpErrors        *prometheus.CounterVec
	refusals          map[httpapi.Limit]prometheus.Counter
	refusalsVec       *prometheus.CounterVec
	verifiedEd25519   prometheus.Counter
	verifiedHMAC      prometheus.Counter
}

var (
	_ relay.Observer   = (*Metrics)(nil)
	_ httpapi.Observer = (*Metrics)(nil)
)

// Buckets of the histograms, in seconds or bytes per second.
var (
	ackTimeBuckets   = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}
	rttBuckets       = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	bandwidthBuckets = prometheus.ExponentialBuckets(16<<10, 4, 9) // 16 KiB/s … 1 GiB/s
	requestBuckets   = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

// smallSample is the largest link sample that measures latency rather than
// bandwidth (the relay's estimator uses the same bound, docs/protocol.md §7.2).
const smallSample = 2048

// New returns keypost's metrics, with the Go runtime and process
// collectors, and keypost_build_info for version.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{reg: reg}

	m.streamsOpened = f.counter("streams_opened_total", "SSE streams opened (each is a new session).")
	m.streamsClosedVec = f.counterVec("streams_closed_total",
		"SSE streams ended, by the code of their closing event ("+closeClientGone+": the client went away).", "code")
	m.streamsClosed = make(map[protocol.CloseCode]prometheus.Counter)
	for _, c := range append([]protocol.CloseCode{""}, closeCodes...) {
		m.streamsClosed[c] = m.streamsClosedVec.WithLabelValues(closeLabel(c))
	}
	m.handshakesStarted = f.counter("handshakes_started_total",
		"Handshakes started: streams opened (session event, auth, challenges, ready).")
	m.handshakesDone = f.counter("handshakes_completed_total", "Handshakes completed: sessions that became ready.")
	failed := f.counterVec("handshakes_failed_total",
		"Handshakes the relay ended before ready, by reason (the closing code).", "reason")
	m.handshakesFailed = make(map[protocol.CloseCode]prometheus.Counter)
	for _, c := range append([]protocol.CloseCode{""}, closeCodes...) {
		m.handshakesFailed[c] = failed.WithLabelValues(closeLabel(c))
	}

	m.accepted = f.counter("messages_accepted_total", "Send entries accepted (held until settled).")
	m.rejectedVec = f.counterVec("messages_rejected_total", "Send entries rejected, by code.", "code")
	m.rejected = make(map[protocol.ErrorCode]prometheus.Counter)
	for _, c := range entryCodes {
		m.rejected[c] = m.rejectedVec.WithLabelValues(string(c))
	}
	m.deliveries = f.counter("deliveries_total", "Messages written to a recipient's stream for the first time.")
	m.retransmissions = f.counter("retransmissions_total",
		"Messages written again: resent after an ack timeout, or redelivered after a reconnect.")
	m.settledVec = f.counterVec("messages_settled_total",
		"Messages settled, by final status (delivered: acknowledged by the recipient).", "status")
	m.settled = make(map[string]prometheus.Counter)
	for _, s := range settleStatuses {
		m.settled[s] = m.settledVec.WithLabelValues(s)
	}
	m.ackTime = f.histogram("ack_time_seconds",
		"Time from a message's acceptance to the recipient's ack, for delivered messages.", ackTimeBuckets)
	m.pings = f.counter("pings_total", "Pings sent (idle, ack-timeout and padded pings).")
	m.linkRTT = f.histogram("link_rtt_seconds",
		"Link samples of at most 2 KiB (challenges, pongs, acks): the round trip.", rttBuckets)
	m.linkBandwidth = f.histogram("link_bandwidth_bytes_per_second",
		"Link bandwidth estimates (docs/protocol.md §7.2), observed after each sample over 2 KiB.",
		bandwidthBuckets)
	m.readyRTT = f.histogram("session_ready_rtt_seconds",
		"Smoothed round trip of each session when it became ready (after its challenges).", rttBuckets)

	m.sseWriteErrors = f.counter("sse_write_errors_total", "Writes or flushes to an SSE stream that failed (the stream ends).")
	m.sseBytes = f.counter("sse_written_bytes_total", "Bytes written to SSE streams.")
	m.requestDuration = f.histogramVec("http_request_duration_seconds",
		"Time from a request's arrival to its response headers (for /v1/events: until the stream opened), by endpoint and status.",
		requestBuckets, "endpoint", "status")
	m.httpErrors = f.counterVec("http_errors_total", "Problem (error) answers, by endpoint and code.", "endpoint", "code")
	m.refusalsVec = f.counterVec("limit_refusals_total", "Requests refused by a limit against abuse, by limit.", "limit")
	m.refusals = make(map[httpapi.Limit]prometheus.Counter)
	for _, l := range httpapi.Limits {
		m.refusals[l] = m.refusalsVec.WithLabelValues(string(l))
	}
	verified := f.counterVec("verified_requests_total",
		"Signed POSTs whose signature verified and whose nonce was fresh, by signature algorithm (hmac-sha256: the session profile, docs/protocol.md §4.6).", "alg")
	m.verifiedEd25519 = verified.WithLabelValues(protocol.SignatureAlg)
	m.verifiedHMAC = verified.WithLabelValues(protocol.SignatureAlgHMAC)

	f.gaugeVec("build_info", "Always 1; the labels say which keypost runs.", "version", "goversion").
		WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func closeLabel(c protocol.CloseCode) string {
	if c == "" {
		return closeClientGone
	}
	return string(c)
}

// Registry is the registry the metrics are in, for tests and for adding
// collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// WatchRelay adds the gauges read from r.Stats() at each scrape: sessions
// by state, keys, and the held messages and bytes (queue depths).
func (m *Metrics) WatchRelay(r *relay.Relay) {
	m.reg.MustRegister(&statsCollector{r: r})
}

// WatchReady adds keypost_ready, 1 while ready (what /readyz answers) and 0
// while draining.
func (m *Metrics) WatchReady(ready func() bool) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "ready",
		Help: "1 while the relay accepts new streams (/readyz answers 200), 0 while draining.",
	}, func() float64 {
		if ready() {
			return 1
		}
		return 0
	}))
}

// relay.Observer: called with the relay's lock held.

func (m *Metrics) StreamOpened() {
	m.streamsOpened.Inc()
	m.handshakesStarted.Inc()
}

func (m *Metrics) StreamClosed(code protocol.CloseCode, ready bool) {
	if c, ok := m.streamsClosed[code]; ok {
		c.Inc()
	} else {
		m.streamsClosedVec.WithLabelValues(string(code)).Inc()
	}
	if ready {
		return
	}
	if c, ok := m.handshakesFailed[code]; ok {
		c.Inc()
	}
}

func (m *Metrics) SessionReady(rtt time.Duration) {
	m.handshakesDone.Inc()
	m.readyRTT.Observe(rtt.Seconds())
}

func (m *Metrics) Accepted() { m.accepted.Inc() }

func (m *Metrics) Rejected(code protocol.ErrorCode) {
	if c, ok := m.rejected[code]; ok {
		c.Inc()
	} else {
		m.rejectedVec.WithLabelValues(string(code)).Inc()
	}
}

func (m *Metrics) Delivered(attempt int) {
	if attempt <= 1 {
		m.deliveries.Inc()
	} else {
		m.retransmissions.Inc()
	}
}

func (m *Metrics) Settled(status string, held time.Duration) {
	if c, ok := m.settled[status]; ok {
		c.Inc()
	} else {
		m.settledVec.WithLabelValues(status).Inc()
	}
	if status == protocol.StatusDelivered {
		m.ackTime.Observe(held.Seconds())
	}
}

func (m *Metrics) Ping() { m.pings.Inc() }

func (m *Metrics) LinkSample(bytes int, d, _ time.Duration, bandwidth float64) {
	if d <= 0 {
		return
	}
	if bytes <= smallSample {
		m.linkRTT.Observe(d.Seconds())
		return
	}
	m.linkBandwidth.Observe(bandwidth) // the estimate this large sample updated
}

// httpapi.Observer: called from request goroutines.

func (m *Metrics) Request(endpoint string, status int, code protocol.ErrorCode, d time.Duration) {
	m.requestDuration.WithLabelValues(endpoint, strconv.Itoa(status)).Observe(d.Seconds())
	if code != "" {
		m.httpErrors.WithLabelValues(endpoint, string(code)).Inc()
	}
}

func (m *Metrics) StreamWrite(bytes int, err error) {
	m.sseBytes.Add(float64(bytes))
	if err != nil {
		m.sseWriteErrors.Inc()
	}
}

func (m *Metrics) Refused(limit httpapi.Limit) {
	if c, ok := m.refusals[limit]; ok {
		c.Inc()
	} else {
		m.refusalsVec.WithLabelValues(string(limit)).Inc()
	}
}

func (m *Metrics) Verified(alg string) {
	if alg == protocol.SignatureAlgHMAC {
		m.verifiedHMAC.Inc()
	} else {
		m.verifiedEd25519.Inc()
	}
}

// statsCollector reads Relay.Stats once per scrape.
type statsCollector struct{ r *relay.Relay }

var (
	sessionsDesc = prometheus.NewDesc(namespace+"_sessions",
		"Sessions by state: connecting (stream open, no key yet), registering (challenges under way), ready, "+
			"and offline_retained (keys whose stream ended, kept with their messages for the retention time).",
		[]string{"state"}, nil)
	keysDesc         = prometheus.NewDesc(namespace+"_keys", "Keys the relay knows: bound to a session or retained offline.", nil, nil)
	heldMessagesDesc = prometheus.NewDesc(namespace+"_held_messages", "Messages held until settled (the queues, all recipients).", nil, nil)
	heldBytesDesc    = prometheus.NewDesc(namespace+"_held_bytes", "Bytes the held messages count against the memory caps.", nil, nil)
)

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- sessionsDesc
	ch <- keysDesc
	ch <- heldMessagesDesc
	ch <- heldBytesDesc
}

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.r.Stats()
	g := prometheus.GaugeValue
	ch <- prometheus.MustNewConstMetric(sessionsDesc, g, float64(st.Unauth), "connecting")
	ch <- prometheus.MustNewConstMetric(sessionsDesc, g, float64(max(st.Sessions-st.Ready-st.Unauth, 0)), "registering")
	ch <- prometheus.MustNewConstMetric(sessionsDesc, g, float64(st.Ready), "ready")
	ch <- prometheus.MustNewConstMetric(sessionsDesc, g, float64(st.Offline), "offline_retained")
	ch <- prometheus.MustNewConstMetric(keysDesc, g, float64(st.Entities))
	ch <- prometheus.MustNewConstMetric(heldMessagesDesc, g, float64(st.HeldMessages))
	ch <- prometheus.MustNewConstMetric(heldBytesDesc, g, float64(st.HeldBytes))
}

// factory creates metrics in the keypost namespace and registers them.
type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
