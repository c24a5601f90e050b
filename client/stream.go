package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/keypost/keypost/internal/sse"
	"github.com/keypost/keypost/protocol"
)

var errStreamIdle = fmt.Errorf("keypost: the stream was silent for %v", streamIdle)

// run keeps a session alive: it opens a stream, registers, reads it until
// it ends, and reconnects with backoff, until Close or a final closing. It
// is the only goroutine that reads the stream and reports states.
func (c *Client) run() {
	defer c.wg.Done()
	bo := backoff{min: c.opts.MinBackoff, max: c.opts.MaxBackoff}
	c.setState(State{Phase: Connecting})
	everReady := false
	for {
		readied, err := c.runSession()
		if readied {
			everReady = true
			bo.reset()
		}
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		if c.ctx.Err() != nil {
			break
		}
		var ce *CloseError
		var fe *fatalError
		if errors.As(err, &ce) && ce.Code.Final() {
			// The relay said not to come back on our own (design §6):
			// reconnecting would take the key back from whoever has it.
			c.stop(ce)
			break
		}
		if !everReady && errors.As(err, &fe) {
			c.stop(fe.err)
			break
		}
		d := bo.next()
		c.setState(State{Phase: Reconnecting, Err: err, Retry: d})
		if sleep(c.ctx, d) != nil {
			break
		}
	}
	c.setState(State{Phase: Closed, Err: c.closedErr()})
}

// runSession runs one stream from its opening to its end (§1–§4) and
// returns why it ended; readied reports that it reached ready.
func (c *Client) runSession() (readied bool, err error) {
	ctx, cancel := context.WithCancelCause(c.ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+protocol.PathEvents, nil)
	if err != nil {
		return false, &fatalError{err}
	}
	req.Header.Set("Accept", "text/event-stream")
	// The idle timer runs from the request on: a relay that accepts the
	// connection but never answers is as dead as a silent stream.
	idle := time.AfterFunc(streamIdle, func() { cancel(errStreamIdle) })
	defer idle.Stop()
	resp, err := c.http.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); cause == errStreamIdle {
			err = cause
		}
		return false, fmt.Errorf("keypost: opening the stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		pe := problem(resp, b)
		if !pe.transient() {
			return false, &fatalError{pe} // a wrong URL, or not a keypost relay
		}
		return false, pe
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, &fatalError{fmt.Errorf("keypost: %s%s is not an event stream (Content-Type %q)", c.base, protocol.PathEvents, mt)}
	}
	dec := sse.NewDecoder(&idleReader{r: resp.Body, t: idle})
	defer func() {
		if cause := context.Cause(ctx); cause == errStreamIdle {
			err = cause
		}
	}()

	s, err := c.openSession(ctx, cancel, dec)
	if err != nil {
		return false, err
	}
	if err := c.authenticate(s); err != nil {
		return false, err
	}
	c.bind(s)
	defer c.unbind(s)
	for {
		ev, err := dec.Next()
		if err != nil {
			return readied, fmt.Errorf("keypost: stream ended: %w", err)
		}
		switch ev.Type {
		case protocol.EventChallenge:
			// §4.1: the next challenge comes only after this answer, so
			// answering here, before reading on, loses nothing.
			var ch protocol.ChallengeEvent
			if err := json.Unmarshal([]byte(ev.Data), &ch); err != nil {
				return readied, fmt.Errorf("keypost: bad challenge event: %w", err)
			}
			if err := c.postJSON(ctx, s, protocol.PathChallenge, protocol.ChallengeRequest{ID: ch.ID}, nil); err != nil {
				var pe *ProblemError
				if errors.As(err, &pe) && pe.Code == protocol.CodeBadChallenge {
					// The stream's last event is closing bad_challenge,
					// final: do not reconnect into the same failure.
					return readied, &CloseError{Code: protocol.CloseBadChallenge}
				}
				return readied, fmt.Errorf("keypost: answering challenge %d: %w", ch.N, err)
			}
		case protocol.EventReady:
			readied = true
			c.becomeReady(s)
		case protocol.EventMessage:
			c.onMessage(ev.Data)
		case protocol.EventReceipt:
			c.onReceipt(ev.Data)
		case protocol.EventPing:
			// Answered aside so that reading goes on: the message that
			// follows a padded ping (§9.1) is not held up by the pong.
			var p protocol.PingEvent
			if json.Unmarshal([]byte(ev.Data), &p) == nil {
				c.wg.Go(func() { _ = c.postJSON(ctx, s, protocol.PathPong, protocol.PongRequest{ID: p.ID}, nil) })
			}
		case protocol.EventClosing:
			var cl protocol.ClosingEvent
			_ = json.Unmarshal([]byte(ev.Data), &cl)
			return readied, &CloseError{Code: cl.Code}
		}
		// Session re-sends (§2.1) and unknown events are ignored.
	}
}

// openSession reads the session event that starts the stream (§2).
func (c *Client) openSession(ctx context.Context, cancel context.CancelCauseFunc, dec *sse.Decoder) (*session, error) {
	ev, err := dec.Next()
	if err != nil {
		return nil, fmt.Errorf("keypost: stream ended before the session event: %w", err)
	}
	var se protocol.SessionEvent
	if ev.Type != protocol.EventSession || json.Unmarshal([]byte(ev.Data), &se) != nil || se.Session == "" {
		return nil, &fatalError{fmt.Errorf("keypost: the stream did not start with a session event (got %q)", ev.Type)}
	}
	if major, _, _ := strings.Cut(se.Protocol, "."); major != "1" {
		return nil, &fatalError{fmt.Errorf("keypost: the relay speaks protocol %q, this client 1.x", se.Protocol)}
	}
	// A message event escapes its data at most six-fold (\u00XX).
	if n := 6*se.Limits.MaxMessageBytes + 4096; n > dec.MaxLine {
		dec.MaxLine, dec.MaxEvent = n, n
	}
	c.mu.Lock()
	c.limits = se.Limits
	c.mu.Unlock()
	return &session{id: se.Session, limits: se.Limits, ctx: ctx, cancel: func() { cancel(nil) }}, nil
}

// authenticate binds the key to s (§3). On key_in_use the relay has just
// closed the older session holding the key; §3.1 says to repeat after at
// least a second, which then succeeds. It is repeated once: refused again,
// the stream is dropped and reopened with backoff.
func (c *Client) authenticate(s *session) error {
	req := protocol.AuthRequest{Key: c.key.String(), HMAC: c.opts.SessionHMAC}
	var res protocol.AuthResponse
	err := c.postJSON(s.ctx, s, protocol.PathAuth, req, &res)
	var pe *ProblemError
	if errors.As(err, &pe) && pe.Code == protocol.CodeKeyInUse {
		if err := sleep(s.ctx, keyInUseWait+rand.N(250*time.Millisecond)); err != nil {
			return err
		}
		err = c.postJSON(s.ctx, s, protocol.PathAuth, req, &res)
	}
	if err == nil && res.HMACKey != "" {
		secret, serr := protocol.DecodeSessionSecret(res.HMACKey)
		if serr != nil {
			return fmt.Errorf("keypost: auth: %w", serr)
		}
		s.secret.Store(secret)
	}
	if err != nil {
		err = fmt.Errorf("keypost: auth: %w", err)
		if errors.As(err, &pe) && pe.Status >= 400 && pe.Status < 500 && !pe.transient() &&
			pe.Code != protocol.CodeKeyInUse && pe.Code != protocol.CodeUnknownSession {
			// bad_signature, bad_key, ...: this key cannot authenticate
			// here, and trying again will not change that.
			err = &fatalError{err}
		}
		return err
	}
	return nil
}

// bind makes s the session acks go to.
func (c *Client) bind(s *session) {
	c.mu.Lock()
	c.sess = s
	c.mu.Unlock()
}

// becomeReady lets senders through (§4: only a ready session may send).
// After an absence longer than the relay's retention this key's entity,
// and with it the receipts owed to it, may be gone, so messages still
// waiting for a receipt are offered again (resendLost).
func (c *Client) becomeReady(s *session) {
	c.mu.Lock()
	if c.isReady { // a repeated ready event: nothing changes
		c.mu.Unlock()
		return
	}
	c.isReady = true
	close(c.ready)
	var lost []*Sent
	retention := time.Duration(s.limits.RetentionMS) * time.Millisecond
	if !c.droppedAt.IsZero() && time.Since(c.droppedAt) >= retention {
		for _, st := range c.inflight {
			if st.accepted {
				lost = append(lost, st)
			}
		}
	}
	c.droppedAt = time.Time{}
	c.mu.Unlock()
	c.setState(State{Phase: Ready, Session: s.id})
	c.firstOne.Do(func() { close(c.first) })
	if len(lost) > 0 {
		c.wg.Go(func() { c.resendLost(lost) })
	}
}

// unbind marks the end of s: senders wait for the next ready session.
func (c *Client) unbind(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == s && c.isReady {
		c.isReady = false
		c.ready = make(chan struct{})
		c.droppedAt = time.Now()
	}
}

// idleReader resets the stream's idle timer whenever bytes arrive (an
// event or a keep-alive comment).
type idleReader struct {
	r io.Reader
	t *time.Timer
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.t.Reset(streamIdle)
	}
	return n, err
}
