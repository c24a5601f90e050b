package client

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is jittered exponential backoff. Why jitter: when a relay
// restarts, every client's stream drops at once; without it they would all
// come back in the same millisecond, again and again.
type backoff struct {
	min, max time.Duration
	n        int // attempts since the last reset
}

// next returns the wait before the next attempt: equal jitter over
// min·2^n capped at max, so it is never shorter than half of that and the
// cap is never exceeded.
func (b *backoff) next() time.Duration {
	d := b.max
	if b.n < 40 {
		if e := b.min << b.n; e > 0 && e < b.max {
			d = e
		}
	}
	b.n++
	half := d / 2
	return half + rand.N(d-half+1)
}

func (b *backoff) reset() { b.n = 0 }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
