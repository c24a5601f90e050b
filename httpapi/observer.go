package httpapi

import (
	"time"

	"github.com/keypost/keypost/protocol"
)

// Observer is told what the HTTP transport does, for metrics. Its methods
// are called from request goroutines, concurrently: they must be fast and
// safe for concurrent use. Embed NopObserver to implement only some.
type Observer interface {
	// Request is called once per request, when its response headers are
	// written (for a stream: when it opened). endpoint is one of the
	// Endpoint… values; code is the problem code of an error answer, ""
	// otherwise; d is the time from the request's arrival to its headers.
	Request(endpoint string, status int, code protocol.ErrorCode, d time.Duration)
	// StreamWrite is called after each write (and flush) to an SSE stream
	// with the bytes written and the error, if the write failed.
	StreamWrite(bytes int, err error)
	// Refused is called when a request is refused by one of the limits.
	Refused(limit Limit)
	// Verified is called once per POST whose signature verified and whose
	// nonce was fresh, with the signature's algorithm:
	// protocol.SignatureAlg (Ed25519) or protocol.SignatureAlgHMAC (the
	// session profile, docs/protocol.md §4.6).
	Verified(alg string)
}

// Limit names a limit against abuse; it is the label of its metric.
type Limit string

// The limits the transport enforces (Refused), and the relay's stream caps
// it reports for the relay.
const (
	LimitStreamsPerAddr       Limit = "streams_per_addr"        // --max-streams-per-addr: 429 too_many_streams
	LimitStreams              Limit = "streams"                 // --max-streams: 503 too_many_streams
	LimitUnauthStreamsPerAddr Limit = "unauth_streams_per_addr" // relay --max-unauth-per-addr: 429 too_many_streams
	LimitUnauthStreams        Limit = "unauth_streams"          // relay --max-unauth-streams: 503 too_many_streams
	LimitKeyRate              Limit = "key_rate"                // --key-rate/--key-burst: 429 rate_limited
	LimitBodySize             Limit = "body_size"               // --max-body-bytes: 413 body_too_large
	LimitCORSOrigin           Limit = "cors_origin"             // --cors-origins: no CORS headers for the origin
)

// Limits lists every Limit, for metrics that start each series at zero.
var Limits = []Limit{
	LimitStreamsPerAddr, LimitStreams, LimitUnauthStreamsPerAddr, LimitUnauthStreams,
	LimitKeyRate, LimitBodySize, LimitCORSOrigin,
}

// Endpoint labels of Observer.Request: the path of each endpoint, and
// these for the rest. The set is fixed, so a metric labelled by it stays
// small whatever clients request.
const (
	EndpointPreflight = "preflight" // a CORS preflight (OPTIONS), answered before routing
	EndpointOther     = "other"     // any other path: 404s, and the web page if one is mounted
)

// NopObserver ignores everything.
type NopObserver struct{}

func (NopObserver) Request(string, int, protocol.ErrorCode, time.Duration) {}
func (NopObserver) StreamWrite(int, error)                                 {}
func (NopObserver) Refused(Limit)                                          {}
func (NopObserver) Verified(string)                                        {}

var _ Observer = NopObserver{}
