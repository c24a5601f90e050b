package httpapi

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/keypost/keypost/protocol"
)

// The token bucket as a function of now: a burst, then one token per
// 1/rate, and the wait until the next token.
func TestKeyLimiterBucket(t *testing.T) {
	l := newKeyLimiter(2, 3) // 2 per second, bursts of 3
	var k protocol.Key
	k[0] = 1
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := l.allow(k, t0); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := l.allow(k, t0)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("past the burst: ok %v, wait %v; want a refusal and 500ms", ok, wait)
	}
	if ok, wait := l.allow(k, t0.Add(499*time.Millisecond)); ok || wait != time.Millisecond {
		t.Fatalf("at 499ms: ok %v wait %v", ok, wait)
	}
	if ok, _ := l.allow(k, t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("at 500ms a token is back")
	}
	// Another key has its own bucket.
	var k2 protocol.Key
	k2[0] = 2
	if ok, _ := l.allow(k2, t0.Add(500*time.Millisecond)); !ok {
		t.Fatal("another key refused")
	}
	// Tokens never pile up past the burst.
	t1 := t0.Add(time.Hour)
	for i := range 3 {
		if ok, _ := l.allow(k, t1); !ok {
			t.Fatalf("after an hour, request %d refused", i+1)
		}
	}
	if ok, _ := l.allow(k, t1); ok {
		t.Fatal("after an hour, more than a burst allowed")
	}
}

// Buckets idle long enough to be full again are forgotten: the memory
// follows the active keys.
func TestKeyLimiterForgetsIdleKeys(t *testing.T) {
	l := newKeyLimiter(10, 20) // full again after 2 s
	t0 := time.Unix(1000, 0)
	for i := range 100 {
		var k protocol.Key
		k[0], k[1] = byte(i), 1
		l.allow(k, t0)
	}
	if n := l.size(); n != 100 {
		t.Fatalf("%d buckets", n)
	}
	var k protocol.Key
	l.allow(k, t0.Add(1999*time.Millisecond))
	if n := l.size(); n != 101 {
		t.Fatalf("swept too early: %d buckets", n)
	}
	l.allow(k, t0.Add(4*time.Second))
	if n := l.size(); n != 1 {
		t.Fatalf("after 4 s: %d buckets, want only the active one", n)
	}
}

// The stream caps count per address and in total, and release frees a
// slot.
func TestStreamLimiter(t *testing.T) {
	l := newStreamLimiter(3, 2)
	for _, addr := range []string{"a", "a"} {
		if _, err := l.acquire(addr); err != nil {
			t.Fatal(err)
		}
	}
	if limit, err := l.acquire("a"); limit != LimitStreamsPerAddr || err == nil {
		t.Fatalf("third from a: %v %v", limit, err)
	}
	if _, err := l.acquire("b"); err != nil {
		t.Fatal(err)
	}
	if limit, err := l.acquire("c"); limit != LimitStreams || err == nil {
		t.Fatalf("fourth in total: %v %v", limit, err)
	}
	l.release("a")
	if _, err := l.acquire("c"); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	l.release("a")
	l.release("b")
	l.release("c")
	if l.total != 0 || len(l.byAddr) != 0 {
		t.Fatalf("after releasing everything: total %d, %v", l.total, l.byAddr)
	}
}

// The client address behind trusted proxies: the rightmost X-Forwarded-For
// entry that is not a trusted proxy; never a client's own claim.
func TestClientAddr(t *testing.T) {
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	}}}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.7:4000", nil, "192.0.2.7"},
		{"192.0.2.7:4000", []string{"198.51.100.1"}, "192.0.2.7"}, // not a trusted proxy: its header is ignored
		{"10.1.2.3:4000", nil, "10.1.2.3"},
		{"10.1.2.3:4000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:4000", []string{"203.0.113.9, 198.51.100.1"}, "198.51.100.1"}, // the left one is the client's claim
		{"10.1.2.3:4000", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},    // two proxies
		{"10.1.2.3:4000", []string{"198.51.100.1", "10.9.9.9"}, "198.51.100.1"},  // as two header lines
		{"10.1.2.3:4000", []string{"10.9.9.9, 10.8.8.8"}, "10.9.9.9"},            // all trusted: the leftmost
		{"10.1.2.3:4000", []string{"nonsense, 198.51.100.1"}, "198.51.100.1"},
		{"10.1.2.3:4000", []string{"198.51.100.1, nonsense"}, "10.1.2.3"}, // garbage from a trusted hop: stop there
		{"[::1]:4000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"[::ffff:10.1.2.3]:4000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/v1/events", nil)
		r.RemoteAddr = tc.remote
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientAddr(r); got != tc.want {
			t.Errorf("%s %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}
