package bench

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/protocol"
)

// BaselineStats are the machine's own limits, measured the same way as the
// relay: a bare net/http POST handler, the same handler verifying each
// request's Ed25519 signature (the client signing each one), both driven by
// the generator's own HTTP client, and Ed25519 alone on one core.
type BaselineStats struct {
	Cores             int     `json:"cores"`
	Concurrency       int     `json:"concurrency"`                   // POSTs in flight
	BarePostPerS      float64 `json:"bare_post_per_s"`               // POST answered {"ok":true}, nothing checked
	VerifiedPostPerS  float64 `json:"verified_post_per_s"`           // signed by the client, signature and digest checked
	VerifyPerSPerCore float64 `json:"ed25519_verify_per_s_per_core"` // one goroutine, ed25519.Verify
	SignPerSPerCore   float64 `json:"ed25519_sign_per_s_per_core"`   // one goroutine, ed25519.Sign
}

// baselineConcurrency is the number of POSTs in flight, as many as the
// throughput scenario's default pairs.
const baselineConcurrency = 32

func measureBaseline(ctx context.Context, d time.Duration, progress io.Writer) (*BaselineStats, error) {
	b := &BaselineStats{Cores: numCPU(), Concurrency: baselineConcurrency}
	crypto := max(d/10, 300*time.Millisecond)
	_, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 300) // about a signature base's size
	sig := ed25519.Sign(priv, msg)
	pub := priv.Public().(ed25519.PublicKey)
	b.VerifyPerSPerCore = perSecond(crypto, func() {
		if !ed25519.Verify(pub, msg, sig) {
			panic("bench: signature does not verify")
		}
	})
	b.SignPerSPerCore = perSecond(crypto, func() { ed25519.Sign(priv, msg) })

	mux := http.NewServeMux()
	ok := []byte("{\"ok\":true}\n")
	mux.HandleFunc("/bare", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ok)
	})
	mux.HandleFunc("/verified", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		sig, err := protocol.ParseSignature(r.Header)
		if err == nil {
			err = sig.CheckDigest(r.Header, body)
		}
		if err == nil {
			err = sig.Verify(r.Method, r.URL.EscapedPath(), protocol.FieldValue(r.Header, protocol.HeaderRelaySession),
				protocol.FieldValue(r.Header, protocol.HeaderContentDigest), time.Now())
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ok)
	})
	srv := httpapi.NewHTTPServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go pprof.Do(context.Background(), pprof.Labels("side", "baseline"), func(context.Context) {
		defer close(done)
		_ = srv.Serve(ln)
	})
	defer func() {
		_ = srv.Close()
		<-done
	}()
	u, _ := url.Parse("http://" + ln.Addr().String())
	nc := newNetClient(u, 1, false)
	defer nc.close()

	each := max((d-2*crypto)/2, 500*time.Millisecond)
	body := []byte(`{"messages":[{"to":"A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg","data":"0;xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","id":"00000000-0000-4000-8000-000000000001"}]}`)
	bareH := http.Header{"Content-Type": {"application/json"}}
	if b.BarePostPerS, err = postRate(ctx, each, func() error {
		status, _, err := nc.postHeaders(ctx, "/bare", bareH, body)
		return checkOK(status, err)
	}); err != nil {
		return nil, fmt.Errorf("bare POST: %w", err)
	}
	var session atomic.Uint64
	if b.VerifiedPostPerS, err = postRate(ctx, each, func() error {
		// One key per request would measure key generation; one nonce
		// counter is enough here (this handler keeps no window).
		sg := signer{priv: priv, session: "5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e10", nonce: &session}
		status, _, err := nc.post(ctx, sg, "/verified", body)
		return checkOK(status, err)
	}); err != nil {
		return nil, fmt.Errorf("verified POST: %w", err)
	}
	b.BarePostPerS, b.VerifiedPostPerS = round3(b.BarePostPerS), round3(b.VerifiedPostPerS)
	b.VerifyPerSPerCore, b.SignPerSPerCore = round3(b.VerifyPerSPerCore), round3(b.SignPerSPerCore)
	if progress != nil {
		fmt.Fprint(progress, "\r\033[K")
	}
	return b, nil
}

func checkOK(status int, err error) error {
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("HTTP %d", status)
	}
	return nil
}

// perSecond runs f on this goroutine for about d and returns its rate.
func perSecond(d time.Duration, f func()) float64 {
	start := time.Now()
	n := 0
	for time.Since(start) < d {
		for range 16 {
			f()
		}
		n += 16
	}
	return float64(n) / time.Since(start).Seconds()
}

// postRate runs f from baselineConcurrency goroutines for d and returns
// the calls per second.
func postRate(ctx context.Context, d time.Duration, f func() error) (float64, error) {
	var (
		n     atomic.Int64
		first atomic.Pointer[error]
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range baselineConcurrency {
		wg.Go(func() {
			for time.Since(start) < d && ctx.Err() == nil {
				if err := f(); err != nil {
					first.CompareAndSwap(nil, &err)
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if e := first.Load(); e != nil {
		return 0, *e
	}
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}
