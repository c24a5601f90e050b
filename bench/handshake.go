package bench

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// connectAll makes n sessions ready, with o.Concurrency handshakes in
// flight, and starts reading each one's stream with h. It returns the
// ready sessions, the handshake times and how long it took.
func (r *runner) connectAll(ctx context.Context, n int, h handler, nc *netClient) ([]*session, *hist, time.Duration) {
	r.res.Handshake = &Handshake{FDLimit: raiseFileLimit(uint64(2*n + 4096))}
	var (
		next    atomic.Int64
		ready   atomic.Int64
		failed  atomic.Int64
		mu      sync.Mutex
		all     = make([]*session, 0, n)
		times   hist
		wg      sync.WaitGroup
		workers = min(r.o.Concurrency, n)
	)
	// Keys are made before the clock starts: a client has its key before
	// it connects.
	pre := make([]*session, n)
	for i := range pre {
		pre[i] = newSession(r, nc)
	}
	stop := r.progress(func() string {
		return fmt.Sprintf("handshakes: %d/%d ready, %d failed", ready.Load(), n, failed.Load())
	})
	t0 := time.Now()
	for range workers {
		wg.Go(func() {
			var local hist
			for i := next.Add(1); i <= int64(n) && ctx.Err() == nil; i = next.Add(1) {
				s := pre[i-1]
				pre[i-1] = nil
				start := time.Now()
				if err := s.connect(ctx); err != nil {
					s.close()
					failed.Add(1)
					r.fail(err)
					continue
				}
				local.add(int64(time.Since(start)))
				ready.Add(1)
				go s.read(ctx, h)
				mu.Lock()
				all = append(all, s)
				mu.Unlock()
			}
			mu.Lock()
			times.merge(&local)
			mu.Unlock()
		})
	}
	wg.Wait()
	took := time.Since(t0)
	stop()
	hs := r.res.Handshake
	hs.Ready, hs.Failed = int(ready.Load()), int(failed.Load())
	hs.ReadyPerS = float64(hs.Ready) / took.Seconds()
	r.res.Sessions = n
	return all, &times, took
}

func latencyOf(h *hist) *Latency {
	return &Latency{
		Samples: h.n,
		P50MS:   round3(h.quantile(0.5)),
		P99MS:   round3(h.quantile(0.99)),
		P999MS:  round3(h.quantile(0.999)),
		MaxMS:   round3(float64(h.max) / 1e6),
	}
}

func round3(v float64) float64 {
	if v != v { // NaN: no samples
		return 0
	}
	return float64(int64(v*1000+0.5)) / 1000
}

func closeAll(ss []*session) {
	for _, s := range ss {
		s.close()
	}
}

// connectN makes o.N sessions ready (connectAll) and records how long it
// took and the handshake times; it fails if none became ready. The caller
// closes the sessions.
func (r *runner) connectN(ctx context.Context) ([]*session, error) {
	ss, times, took := r.connectAll(ctx, r.o.N, nil, r.nc)
	r.res.DurationS = took.Seconds()
	r.res.Latency = latencyOf(times)
	if len(ss) == 0 {
		return nil, fmt.Errorf("no session became ready: %v", deref(r.errSample.Load()))
	}
	return ss, nil
}

// handshake: N sessions connect and become ready as fast as they can.
func (r *runner) handshake(ctx context.Context) error {
	ss, err := r.connectN(ctx)
	closeAll(ss)
	return err
}

// idle: N ready sessions that do nothing; the relay's resident memory
// before and after, as the OS counts it.
func (r *runner) idle(ctx context.Context) error {
	pid := r.tg.pid
	if pid == 0 {
		return fmt.Errorf("idle needs the relay's process: give --server-pid with --url")
	}
	time.Sleep(500 * time.Millisecond) // let the relay settle after its start
	before, err := rssKB(pid)
	if err != nil {
		return err
	}
	ss, err := r.connectN(ctx)
	defer closeAll(ss)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // the streams' first writes and the runtime settle
	after, err := rssKB(pid)
	if err != nil {
		return err
	}
	if r.o.AtPeak != nil {
		r.o.AtPeak()
	}
	alive := 0
	for _, s := range ss {
		if !s.ended.Load() {
			alive++
		}
	}
	r.res.Idle = &Idle{
		Alive:                 alive,
		ServerPID:             pid,
		ServerRSSBeforeKB:     before,
		ServerRSSAfterKB:      after,
		ServerRSSKBPerSession: round3(float64(after-before) / float64(len(ss))),
	}
	return nil
}

// progress prints line() every half second on o.Progress, in place, until
// the returned function is called.
func (r *runner) progress(line func() string) (stop func()) {
	w := r.o.Progress
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s: %s", r.o.Scenario, line())
			case <-done:
				io.WriteString(w, "\r\033[K")
				return
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}
