package client_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// algRecorder records the alg of every signed request a client sends.
type algRecorder struct {
	base *http.Transport
	mu   sync.Mutex
	algs map[string]map[string]int // path → alg → count
}

func (r *algRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if in := req.Header.Get(protocol.HeaderSignatureInput); in != "" {
		_, alg, _ := strings.Cut(in, `;alg="`)
		alg, _, _ = strings.Cut(alg, `"`)
		r.mu.Lock()
		if r.algs[req.URL.Path] == nil {
			r.algs[req.URL.Path] = map[string]int{}
		}
		r.algs[req.URL.Path][alg]++
		r.mu.Unlock()
	}
	return r.base.RoundTrip(req)
}

// With SessionHMAC, /v1/auth is signed with Ed25519 and asks for a secret;
// every other request of the session (challenge answers, sends, acks) is
// hmac-sha256, and messages flow both ways with a client that does not opt in.
func TestSessionHMAC(t *testing.T) {
	srv := newServer(t, relay.Config{})
	rec := &algRecorder{base: &http.Transport{}, algs: map[string]map[string]int{}}
	t.Cleanup(rec.base.CloseIdleConnections)
	opts := fast()
	opts.SessionHMAC = true
	opts.HTTPClient = &http.Client{Transport: rec}
	a := connect(t, srv, opts)
	b := connect(t, srv, fast())
	ctx := ctxT(t)

	sent, err := a.Send(ctx, b.Key(), "over hmac")
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, b); m.From != a.Key() || m.Data != "over hmac" {
		t.Fatalf("b got %+v", m)
	}
	awaitDelivered(t, ctx, sent)
	back, err := b.Send(ctx, a.Key(), "and back")
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, a); m.Data != "and back" {
		t.Fatalf("a got %+v", m)
	}
	awaitDelivered(t, ctx, back)
	waitFor(t, "a's ack", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.algs[protocol.PathAck][protocol.SignatureAlgHMAC] > 0
	})

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := rec.algs[protocol.PathAuth]; got[protocol.SignatureAlg] == 0 || len(got) != 1 {
		t.Errorf("auth signed with %v, want ed25519 only", got)
	}
	for _, p := range []string{protocol.PathChallenge, protocol.PathSend, protocol.PathAck} {
		if got := rec.algs[p]; got[protocol.SignatureAlgHMAC] == 0 || len(got) != 1 {
			t.Errorf("%s signed with %v, want hmac-sha256 only", p, got)
		}
	}
}
