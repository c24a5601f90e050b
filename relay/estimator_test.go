package relay

import (
	"testing"
	"time"
)

func TestEstimatorRTTAndBandwidth(t *testing.T) {
	now := time.Unix(0, 0)
	e := newEstimator(DefaultInitialBandwidth)
	for range 20 {
		e.sample(100, 40*time.Millisecond, now)
	}
	if e.srtt != 40*time.Millisecond {
		t.Fatalf("srtt %v", e.srtt)
	}
	// 1 MB answered in 40 ms + 1 s: about 1 MB/s.
	for range 20 {
		e.sample(1_000_000, 1040*time.Millisecond, now)
	}
	if e.bw < 0.95e6 || e.bw > 1.05e6 {
		t.Fatalf("bandwidth %.0f B/s, want ≈ 1e6", e.bw)
	}
	if p := e.predict(500_000); p < 520*time.Millisecond || p > 560*time.Millisecond {
		t.Fatalf("t(500 kB) = %v, want ≈ 540 ms", p)
	}
}

func TestEstimatorTimeoutClamped(t *testing.T) {
	now := time.Unix(0, 0)
	e := newEstimator(DefaultInitialBandwidth)
	e.sample(100, time.Millisecond, now)
	if got := e.timeout(100, DefaultMaxAckDelay, time.Second, time.Minute); got != time.Second {
		t.Fatalf("fast link: %v, want the 1 s floor", got)
	}
	e.sample(100, 100*time.Second, now)
	if got := e.timeout(100, DefaultMaxAckDelay, time.Second, time.Minute); got != time.Minute {
		t.Fatalf("slow link: %v, want the 60 s ceiling", got)
	}
}

// §9.1: a sample counts as fresh for sizes within a factor of two and for
// 30 s; at 30 s it is stale.
func TestEstimatorFresh(t *testing.T) {
	t0 := time.Unix(1000, 0)
	e := newEstimator(DefaultInitialBandwidth)
	e.sample(10000, time.Millisecond, t0)
	for _, tc := range []struct {
		n    int
		at   time.Duration
		want bool
	}{
		{10000, 0, true},
		{5000, 0, true},
		{20000, 0, true},
		{4999, 0, false},
		{20001, 0, false},
		{10000, 30*time.Second - time.Millisecond, true},
		{10000, 30 * time.Second, false},
		{100, 0, false}, // no small sample yet
	} {
		if got := e.fresh(tc.n, t0.Add(tc.at), 30*time.Second); got != tc.want {
			t.Errorf("fresh(%d, +%v) = %v, want %v", tc.n, tc.at, got, tc.want)
		}
	}
}

func TestCoarseMS(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int64
	}{
		{0, 1}, {time.Microsecond, 1}, {time.Millisecond, 1}, {1001 * time.Microsecond, 2},
		{3 * time.Millisecond, 4}, {4 * time.Millisecond, 4}, {5 * time.Millisecond, 8}, {1000 * time.Millisecond, 1024},
	} {
		if got := coarseMS(tc.d); got != tc.want {
			t.Errorf("coarseMS(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

func BenchmarkEstimator(b *testing.B) {
	now := time.Unix(0, 0)
	e := newEstimator(DefaultInitialBandwidth)
	for i := 0; b.Loop(); i++ {
		e.sample(100+i%5000, time.Duration(i%1000)*time.Microsecond, now)
		_ = e.timeout(1000, DefaultMaxAckDelay, time.Second, time.Minute)
		_ = e.fresh(1000, now, 30*time.Second)
	}
}

// §9.1 for small sizes: any small sample younger than 30 s will do.
func TestEstimatorFreshSmall(t *testing.T) {
	t0 := time.Unix(1000, 0)
	e := newEstimator(DefaultInitialBandwidth)
	e.sample(70, time.Millisecond, t0)
	if !e.fresh(1500, t0, 30*time.Second) || e.fresh(1500, t0.Add(30*time.Second), 30*time.Second) {
		t.Fatal("a small sample should cover small sizes for 30 s")
	}
	if e.fresh(5000, t0, 30*time.Second) {
		t.Fatal("a small sample must not cover 5000 bytes")
	}
}
