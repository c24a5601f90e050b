package relay

import (
	"math/bits"
	"time"
)

// estimator is a session's link estimate (§9.1): the time to get an answer
// to L bytes is modelled as t(L) ≈ srtt + L/bandwidth, with a variance term,
// as in RFC 6298. Samples (bytes written, time to the answer) come from
// challenges, pongs and first deliveries with their acks (never from resent
// messages: Karn's rule, RFC 6298 §3).
//
// Small samples (≤ smallSampleBytes) update srtt and rttvar; larger ones
// update the bandwidth from the time beyond srtt. A value type with no
// locks: its session's owner (Relay.mu) guards it.
type estimator struct {
	srtt, rttvar time.Duration
	bw           float64 // bytes per second
	samples      int
	// recent holds the newest sample per power-of-two size class, so §9.1's
	// "no sample of a size between L/2 and 2L younger than 30 s" is O(1).
	recent [32]struct {
		size int
		at   time.Time
	}
	lastSmall time.Time // newest sample of at most smallSampleBytes
}

func newEstimator(initialBandwidth int) estimator {
	return estimator{bw: float64(initialBandwidth)}
}

func sizeClass(n int) int {
	if n <= 1 {
		return 0
	}
	c := bits.Len(uint(n)) - 1
	if c >= 32 {
		c = 31
	}
	return c
}

// sample feeds one exchange of n bytes answered after d.
func (e *estimator) sample(n int, d time.Duration, now time.Time) {
	if d <= 0 {
		d = time.Microsecond
	}
	c := sizeClass(n)
	e.recent[c].size, e.recent[c].at = n, now
	if n <= smallSampleBytes {
		e.lastSmall = now
	}
	e.samples++
	if e.samples == 1 {
		e.srtt, e.rttvar = d, d/2
		return
	}
	if n <= smallSampleBytes {
		// RFC 6298 §2.3 with alpha = 1/8, beta = 1/4.
		e.rttvar = (3*e.rttvar + absDur(e.srtt-d)) / 4
		e.srtt = (7*e.srtt + d) / 8
		return
	}
	predicted := e.predict(n)
	e.rttvar = (3*e.rttvar + absDur(predicted-d)) / 4
	transfer := max(d-e.srtt, time.Millisecond)
	bw := float64(n) / transfer.Seconds()
	e.bw = (3*e.bw + bw) / 4
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// predict is t(L): the expected time from writing n bytes to the answer.
func (e *estimator) predict(n int) time.Duration {
	return e.srtt + e.transfer(n)
}

func (e *estimator) transfer(n int) time.Duration {
	if e.bw <= 0 {
		return 0
	}
	return time.Duration(float64(n) / e.bw * float64(time.Second))
}

// timeout is §9.3's ack timeout for n bytes before any backoff:
// srtt + 4·rttvar + n/bandwidth + maxAckDelay, clamped to [lo, hi].
func (e *estimator) timeout(n int, maxAckDelay, lo, hi time.Duration) time.Duration {
	t := e.srtt + 4*e.rttvar + e.transfer(n) + maxAckDelay
	return min(max(t, lo), hi)
}

// fresh reports whether a sample of a size in [n/2, 2n] is younger than
// maxAge (§9.1: otherwise a padded ping goes first). Up to
// smallSampleBytes, where the answer time is the round trip and not the
// transfer, any small sample counts: a ping per "hi" would double the
// traffic of a chat and teach nothing.
func (e *estimator) fresh(n int, now time.Time, maxAge time.Duration) bool {
	if n <= smallSampleBytes && !e.lastSmall.IsZero() && now.Sub(e.lastSmall) < maxAge {
		return true
	}
	c := sizeClass(n)
	for k := max(c-1, 0); k <= min(c+1, len(e.recent)-1); k++ {
		s := e.recent[k]
		if s.at.IsZero() || now.Sub(s.at) >= maxAge {
			continue
		}
		if 2*s.size >= n && s.size <= 2*n {
			return true
		}
	}
	return false
}

// coarseMS rounds d up to a power of two milliseconds, at least 1, so that
// eta_ms leaks little about a recipient's link.
func coarseMS(d time.Duration) int64 {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms <= 1 {
		return 1
	}
	return 1 << bits.Len64(uint64(ms-1))
}
