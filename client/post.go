package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/keypost/keypost/protocol"
)

// session is one event stream and the key binding on it (§3.2: a new
// stream is a new session).
type session struct {
	// Set at construction.
	id     string
	limits protocol.Limits
	ctx    context.Context // ends with the stream
	cancel context.CancelFunc

	// nonce is the last nonce used; every POST of the session takes the
	// next one, starting at 1 (the relay counts nonces per session).
	nonce atomic.Uint64

	// secret, once /v1/auth handed one out (Options.SessionHMAC), signs
	// the session's other requests with hmac-sha256.
	secret atomic.Pointer[[protocol.SessionSecretSize]byte]
}

// postJSON signs v as JSON and POSTs it to path on s; see post.
func (c *Client) postJSON(ctx context.Context, s *session, path string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.post(ctx, s, path, body, out)
}

// post sends one signed request (RFC 9421, protocol.SignRequest) on s and
// decodes a 200 answer into out. A refusal is a *ProblemError; a network
// failure is returned as is (the outcome is then unknown).
func (c *Client) post(ctx context.Context, s *session, path string, body []byte, out any) error {
	if path != protocol.PathPong && path != protocol.PathChallenge && path != protocol.PathAuth {
		// Registration and pongs are rare and cannot wait: a late pong
		// counts as a missed ping, and three of those end the session.
		if err := c.waitPause(ctx); err != nil {
			return err
		}
	}
	nonce := s.nonce.Add(1)
	if nonce > protocol.MaxNonce {
		return fmt.Errorf("keypost: session %s used every nonce", s.id)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if secret := s.secret.Load(); secret != nil && path != protocol.PathAuth {
		err = protocol.SignRequestHMAC(req.Header, c.key, secret, http.MethodPost, c.path+path, s.id, body, nonce, time.Now())
	} else {
		err = protocol.SignRequest(req.Header, c.priv, http.MethodPost, c.path+path, s.id, body, nonce, time.Now())
	}
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("keypost: POST %s: reading the answer: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		pe := problem(resp, b)
		if pe.Status == http.StatusTooManyRequests && pe.RetryAfter > 0 {
			c.pause(pe.RetryAfter)
			c.opts.hooks.paused.Add(1)
		}
		return pe
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("keypost: POST %s: bad answer: %w", path, err)
	}
	return nil
}

// problem turns a non-200 answer into a *ProblemError.
func problem(resp *http.Response, body []byte) *ProblemError {
	e := &ProblemError{Status: resp.StatusCode}
	var p protocol.Problem
	if json.Unmarshal(body, &p) == nil {
		e.Code, e.Detail = p.Code, p.Detail
	}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	return e
}

// rateMemory is how long a 429 makes the client more frugal with its
// requests (see ackDelay).
const rateMemory = 10 * time.Second

// pause holds every signed request of the client back for d. The relay
// limits requests per key (429 with Retry-After); the budget is the key's,
// not the request's, so one refusal means every request would be refused,
// and sending them anyway would only burn the relay's verification work.
func (c *Client) pause(d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	for {
		old := c.pauseUntil.Load()
		if old >= until || c.pauseUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// waitPause waits out a pause (bounded by ctx).
func (c *Client) waitPause(ctx context.Context) error {
	if d := time.Until(time.Unix(0, c.pauseUntil.Load())); d > 0 {
		return sleep(ctx, d)
	}
	return nil
}
