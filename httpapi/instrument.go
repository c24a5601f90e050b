package httpapi

import (
	"net/http"
	"time"

	"github.com/keypost/keypost/protocol"
)

// recorder wraps a request's ResponseWriter to tell the Observer about the
// request once its headers are written: endpoint, status, problem code and
// the time to the headers. It keeps http.ResponseController working
// (Unwrap, FlushError), which the stream writer needs for its deadlines.
type recorder struct {
	http.ResponseWriter
	r        *http.Request
	obs      Observer
	start    time.Time
	code     protocol.ErrorCode // set by writeError
	reported bool
}

func (rec *recorder) WriteHeader(status int) {
	rec.report(status)
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *recorder) Write(b []byte) (int, error) {
	rec.report(http.StatusOK)
	return rec.ResponseWriter.Write(b)
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

func (rec *recorder) FlushError() error {
	rec.report(http.StatusOK)
	return http.NewResponseController(rec.ResponseWriter).Flush()
}

func (rec *recorder) Flush() { _ = rec.FlushError() }

// report tells the Observer about the request, once. Informational (1xx)
// headers are not the answer and are not reported.
func (rec *recorder) report(status int) {
	if rec.reported || (status >= 100 && status < 200) {
		return
	}
	rec.reported = true
	rec.obs.Request(endpointOf(rec.r), status, rec.code, time.Since(rec.start))
}

// endpointOf is the bounded label of a request: its ServeMux pattern for
// the protocol's endpoints and the health and metrics ones, preflight for
// CORS preflights (answered before routing), other for the rest.
func endpointOf(r *http.Request) string {
	switch r.Pattern {
	case "":
		if r.Method == http.MethodOptions {
			return EndpointPreflight
		}
		return EndpointOther
	case "/", "/v1/":
		return EndpointOther
	}
	return r.Pattern
}

// setProblemCode records the code of an error answer for the Observer.
func setProblemCode(w http.ResponseWriter, code protocol.ErrorCode) {
	if rec, ok := w.(*recorder); ok {
		rec.code = code
	}
}
