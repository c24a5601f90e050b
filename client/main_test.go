package client_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// Every test leaves no goroutine behind: streams, ack batchers, deliverers
// and pong answers all end with Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds how long a test waits for an event before failing. Tests
// assert what happens, never how fast: this only turns a hang into a
// failure.
const wait = 20 * time.Second

// fast are options for tests: short backoff so reconnects do not dominate
// the run time.
func fast() client.Options {
	return client.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
}

func newServer(t *testing.T, cfg relay.Config) *relaytest.Server {
	t.Helper()
	return relaytest.NewServer(t, cfg)
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func keyOf(priv ed25519.PrivateKey) protocol.Key {
	k, _ := protocol.KeyFromPublic(priv.Public().(ed25519.PublicKey))
	return k
}

// connect connects a client with a fresh key and closes it when the test
// ends (before the server stops).
func connect(t *testing.T, srv *relaytest.Server, opts client.Options) *client.Client {
	t.Helper()
	return connectKey(t, srv, newKey(t), opts)
}

func connectKey(t *testing.T, srv *relaytest.Server, priv ed25519.PrivateKey, opts client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := client.Connect(ctx, srv.URL, priv, opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// ctxT is a context that ends after wait, or when the test ends.
func ctxT(t *testing.T) context.Context {
	ctx, _ := contextWithCancel(t)
	return ctx
}

// contextWithCancel is ctxT with its cancel function, for a test that
// ends the context itself.
func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx, cancel
}

// recv returns the next message from c.Messages().
func recv(t *testing.T, c *client.Client) client.Message {
	t.Helper()
	select {
	case m, ok := <-c.Messages():
		if !ok {
			t.Fatalf("Messages closed: %v", c.Err())
		}
		return m
	case <-time.After(wait):
		t.Fatalf("no message within %v", wait)
	}
	return client.Message{}
}

// sendRecv sends data from a to b and fails unless it is the next message
// b receives.
func sendRecv(t *testing.T, ctx context.Context, a, b *client.Client, data string) *client.Sent {
	t.Helper()
	sent, err := a.Send(ctx, b.Key(), data)
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, b); m.ID != sent.ID {
		t.Fatalf("got %q (id %s), want %q (id %s)", m.Data, m.ID, data, sent.ID)
	}
	return sent
}

// awaitDelivered waits for the receipt of s and fails unless it says
// delivered.
func awaitDelivered(t *testing.T, ctx context.Context, s *client.Sent) {
	t.Helper()
	if st, err := s.Wait(ctx); err != nil || st != protocol.StatusDelivered {
		t.Fatalf("message %s: receipt %q, %v", s.ID, st, err)
	}
}

// waitFor polls cond until it holds; for conditions of the relay that no
// channel announces.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// states records a client's state changes.
type states struct {
	mu   sync.Mutex
	list []client.State
	ch   chan client.State
}

func newStates() *states { return &states{ch: make(chan client.State, 1024)} }

func (s *states) on(st client.State) {
	s.mu.Lock()
	s.list = append(s.list, st)
	s.mu.Unlock()
	s.ch <- st
}

func (s *states) all() []client.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]client.State(nil), s.list...)
}

func (s *states) count(p client.Phase) int {
	n := 0
	for _, st := range s.all() {
		if st.Phase == p {
			n++
		}
	}
	return n
}

// await waits for the next state of phase p.
func (s *states) await(t *testing.T, p client.Phase) client.State {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case st := <-s.ch:
			if st.Phase == p {
				return st
			}
		case <-timeout:
			t.Fatalf("no %v state within %v (states %v)", p, wait, s.all())
		}
	}
}

// cutter is an HTTP client whose TCP connections a test can cut, as a
// network failure would.
type cutter struct {
	tr     *http.Transport
	refuse atomic.Bool // new connections fail, as with no network at all
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutter(t *testing.T) *cutter {
	k := &cutter{}
	d := &net.Dialer{}
	k.tr = &http.Transport{
		MaxIdleConnsPerHost: 16,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if k.refuse.Load() {
				return nil, errors.New("test: network down")
			}
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				k.mu.Lock()
				k.conns = append(k.conns, c)
				k.mu.Unlock()
			}
			return c, err
		},
	}
	t.Cleanup(k.tr.CloseIdleConnections)
	return k
}

func (k *cutter) client() *http.Client { return &http.Client{Transport: k.tr} }

// cut closes every connection made so far.
func (k *cutter) cut() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, c := range k.conns {
		c.Close()
	}
	k.conns = nil
}
