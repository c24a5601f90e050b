package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/keypost/keypost/internal/sse"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

var keepAliveComment = sse.AppendComment(nil, "keep-alive")

// events serves GET /v1/events (§1, §2): every connection is a new session
// (§3.2). The handler's goroutine is the session's only writer: it takes
// everything queued, writes it, flushes once, and waits for more.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		writeError(w, fail(protocol.CodeMethodNotAllowed, "use GET"))
		return
	}
	addr := s.clientAddr(r)
	if limit, err := s.streams.acquire(addr); err != nil {
		s.obs.Refused(limit)
		writeError(w, err)
		return
	}
	defer s.streams.release(addr)
	sess, err := s.relay.Open(addr)
	if err != nil {
		s.refusedByRelay(err)
		writeError(w, err)
		return
	}
	defer s.relay.StreamEnded(sess)
	s.log.Debug("stream opened", "session", sess.ID(), "addr", r.RemoteAddr)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)

	// The keep-alive timer counts silence: every write sets it again, so
	// a stream gets a comment only once it has been silent for KeepAlive,
	// and a stream that carries events or the relay's idle pings (§9)
	// never wakes for it. (A ticker would wake every stream every period,
	// which at 100,000 idle streams is thousands of wake-ups a second.)
	keepAlive := time.NewTimer(s.cfg.KeepAlive)
	defer keepAlive.Stop()
	var prev []byte
	for {
		b, closed := sess.Take(prev)
		if len(b) > 0 {
			if !s.write(rc, w, b) {
				return
			}
			prev = b
			keepAlive.Reset(s.cfg.KeepAlive)
			continue
		}
		if closed {
			return
		}
		select {
		case <-sess.Wake():
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			if !s.write(rc, w, keepAliveComment) {
				return
			}
			keepAlive.Reset(s.cfg.KeepAlive)
		}
	}
}

// write writes b and flushes, under a deadline so a stalled reader cannot
// hold the stream forever. The deadline is lifted once the write is done:
// over HTTP/2 a deadline that passes resets the stream even when no write
// is under way, which would end every stream idle for WriteTimeout.
func (s *Server) write(rc *http.ResponseController, w http.ResponseWriter, b []byte) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	n, err := w.Write(b)
	if err == nil {
		err = rc.Flush()
	}
	if err == nil {
		_ = rc.SetWriteDeadline(time.Time{})
	}
	s.obs.StreamWrite(n, err)
	return err == nil
}

// refusedByRelay tells the Observer which of the relay's stream caps
// refused a stream, if one did.
func (s *Server) refusedByRelay(err error) {
	var re *relay.Error
	if !errors.As(err, &re) || re.Code != protocol.CodeTooManyStreams {
		return
	}
	if re.Status == http.StatusServiceUnavailable {
		s.obs.Refused(LimitUnauthStreams)
	} else {
		s.obs.Refused(LimitUnauthStreamsPerAddr)
	}
}
