// Package httpapi is keypost's HTTP transport: the SSE stream
// (GET /v1/events), the signed POST endpoints, RFC 9457 problem+json
// errors, CORS and request limits. It is the only package that knows HTTP:
// it adapts an http.ResponseWriter to a relay.Session and turns verified
// requests into calls on the relay core.
package httpapi
