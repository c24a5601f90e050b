package httpapi

import (
	"math"
	"sync"
	"time"

	"github.com/keypost/keypost/protocol"
)

// streamLimiter counts the streams being served, per client address and in
// total: a stream holds a connection, a goroutine and its buffers for as
// long as it lives, authorized or not. (The relay caps the streams still
// waiting to authorize on its own; this caps all of them.)
type streamLimiter struct {
	max, perAddr int // set at construction

	mu     sync.Mutex
	total  int            // guarded by mu
	byAddr map[string]int // guarded by mu
}

func newStreamLimiter(max, perAddr int) *streamLimiter {
	return &streamLimiter{max: max, perAddr: perAddr, byAddr: make(map[string]int)}
}

// streamRetryAfter is the Retry-After of a refused stream, in seconds: a
// stream slot frees when another stream ends, which may take a while.
const streamRetryAfter = 5

// acquire takes a stream slot for addr; the caller calls release(addr)
// when the stream is over. It refuses with too_many_streams, naming the
// limit it hit.
func (l *streamLimiter) acquire(addr string) (Limit, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max {
		return LimitStreams, &apiError{code: protocol.CodeTooManyStreams, status: 503, retryAfter: streamRetryAfter,
			detail: "the relay serves as many streams as it may; retry later or elsewhere"}
	}
	if l.byAddr[addr] >= l.perAddr {
		return LimitStreamsPerAddr, &apiError{code: protocol.CodeTooManyStreams, status: 429, retryAfter: streamRetryAfter,
			detail: "too many streams from this address"}
	}
	l.total++
	l.byAddr[addr]++
	return "", nil
}

func (l *streamLimiter) release(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byAddr[addr]--; l.byAddr[addr] <= 0 {
		delete(l.byAddr, addr)
	}
}

// keyLimiter is a token bucket per key (§4.5: the signer of a verified
// request): each request takes a token, tokens come back at rate per
// second up to burst. Buckets that have been idle long enough to be full
// again are forgotten, so its memory follows the keys active in the last
// few seconds.
type keyLimiter struct {
	rate  float64 // tokens per second; set at construction
	burst float64 // set at construction
	idle  time.Duration

	mu        sync.Mutex
	buckets   map[protocol.Key]*bucket // guarded by mu
	lastSweep time.Time                // guarded by mu
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newKeyLimiter(rate, burst int) *keyLimiter {
	l := &keyLimiter{rate: float64(rate), burst: float64(burst), buckets: make(map[protocol.Key]*bucket)}
	l.idle = time.Duration(l.burst / l.rate * float64(time.Second))
	return l
}

// allow takes a token of k's bucket at now. When there is none it answers
// how long until there is one.
func (l *keyLimiter) allow(k protocol.Key, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.idle {
		l.sweep(now)
	}
	b := l.buckets[k]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[k] = b
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep forgets buckets that are full again: a new bucket would be the
// same. l.mu must be held.
func (l *keyLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.last) >= l.idle {
			delete(l.buckets, k)
		}
	}
}

// size is the number of buckets kept (for tests).
func (l *keyLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// limitKey refuses a request signed by k when k's bucket is empty:
// 429 rate_limited with Retry-After, in whole seconds (at least 1).
func (s *Server) limitKey(k protocol.Key) error {
	ok, wait := s.keys.allow(k, time.Now())
	if ok {
		return nil
	}
	s.obs.Refused(LimitKeyRate)
	return &apiError{code: protocol.CodeRateLimited, retryAfter: max(1, int(math.Ceil(wait.Seconds()))),
		detail: "too many requests signed by this key; wait for Retry-After seconds"}
}
