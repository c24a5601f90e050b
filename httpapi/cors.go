package httpapi

import "net/http"

// Headers a browser client sends on signed POSTs, allowed in preflights.
const corsAllowHeaders = "Content-Type, Content-Digest, Signature, Signature-Input, Relay-Session"

// cors answers CORS for browsers: Access-Control-Allow-Origin from the
// allow-list (never with credentials), Retry-After exposed, preflights
// cached. It reports whether the request was a preflight it answered.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	if s.origins != nil && !s.origins[origin] {
		s.obs.Refused(LimitCORSOrigin)
		return false // no CORS headers: the browser refuses the answer
	}
	if s.origins == nil {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	h.Set("Access-Control-Expose-Headers", "Retry-After")
	if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}
