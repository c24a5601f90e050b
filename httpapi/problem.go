package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// apiError is a refusal on its way to the client.
type apiError struct {
	code       protocol.ErrorCode
	status     int // 0: the code's usual status
	detail     string
	retryAfter int
}

func (e *apiError) Error() string { return string(e.code) + ": " + e.detail }

func fail(code protocol.ErrorCode, detail string) *apiError {
	return &apiError{code: code, detail: detail}
}

// writeError maps any error to an RFC 9457 problem+json answer: the one
// place where errors become HTTP statuses.
func writeError(w http.ResponseWriter, err error) {
	var (
		ae *apiError
		re *relay.Error
		p  protocol.Problem
	)
	retry := 0
	switch {
	case errors.As(err, &ae):
		p.Code, p.Status, p.Detail, retry = ae.code, ae.status, ae.detail, ae.retryAfter
	case errors.As(err, &re):
		p.Code, p.Status, p.Detail, retry = re.Code, re.Status, re.Detail, re.RetryAfter
	case errors.Is(err, protocol.ErrMultipleSignatures):
		p.Code, p.Detail = protocol.CodeBadRequest, err.Error()
	case errors.Is(err, protocol.ErrBadDigest):
		p.Code, p.Detail = protocol.CodeBadDigest, err.Error()
	case errors.Is(err, protocol.ErrBadSignature):
		p.Code, p.Detail = protocol.CodeBadSignature, err.Error()
	case errors.Is(err, protocol.ErrBadKey):
		p.Code, p.Detail = protocol.CodeBadKey, err.Error()
	case errors.Is(err, protocol.ErrBadID):
		p.Code, p.Detail = protocol.CodeBadID, err.Error()
	default:
		p.Code, p.Detail = protocol.CodeInternal, "internal error"
	}
	if p.Status == 0 {
		p.Status = p.Code.Status()
	}
	setProblemCode(w, p.Code)
	p.Type = protocol.ProblemType(p.Code)
	p.Title = http.StatusText(p.Status)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if retry > 0 {
		h.Set("Retry-After", strconv.Itoa(retry))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// jsonAppender is a value with a hand-written encoder (protocol's hot
// wire types) that writes what encoding/json would.
type jsonAppender interface{ AppendJSON(dst []byte) []byte }

// okBody is the answer of most verbs, encoded once.
var okBody = []byte("{\"ok\":true}\n")

// writeJSON answers 200 with v.
func writeJSON(w http.ResponseWriter, v any) {
	var b []byte
	switch v := v.(type) {
	case protocol.OK:
		if v.OK {
			writeJSONBytes(w, okBody)
			return
		}
		b, _ = json.Marshal(v)
	case jsonAppender:
		b = v.AppendJSON(make([]byte, 0, 512))
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			writeError(w, err)
			return
		}
	}
	writeJSONBytes(w, append(b, '\n'))
}

// writeJSONBytes answers 200 with b, a JSON value and a newline.
func writeJSONBytes(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
}
