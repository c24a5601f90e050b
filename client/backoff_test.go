package client

import (
	"testing"
	"time"
)

// The wait doubles from min to max, is never below half of its step nor
// above max, and starts over after reset.
func TestBackoffBounds(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: 10 * time.Second}
	step := b.min
	for i := range 60 {
		d := b.next()
		if d < step/2 || d > step || d > b.max {
			t.Fatalf("attempt %d: %v, want within [%v, %v]", i, d, step/2, step)
		}
		step = min(step*2, b.max)
	}
	b.reset()
	if d := b.next(); d > b.min {
		t.Fatalf("after reset: %v", d)
	}
}
