package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// The whole protocol over real HTTP and real SSE streams on 127.0.0.1:
// handshake, a message, its ack, the receipt and the receipt's ack.
func TestEndToEndExchange(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.Register()
	if rd := b.Register(); rd.Key != b.Key.String() {
		t.Fatalf("ready %+v", rd)
	}
	res := a.Send(protocol.OutMessage{To: b.Key.String(), Data: "hello, b", ID: protocol.NewID().String()})
	if res[0].Status != protocol.StatusAccepted {
		t.Fatalf("send %+v", res[0])
	}
	var m protocol.MessageEvent
	b.ExpectSkippingPings(protocol.EventMessage, &m)
	if m.Data != "hello, b" || m.From != a.Key.String() || m.ID != res[0].ID || m.Attempt != 1 {
		t.Fatalf("message %+v", m)
	}
	b.Ack([]protocol.MessageRef{{From: m.From, ID: m.ID}}, nil)
	var rc protocol.ReceiptEvent
	a.ExpectSkippingPings(protocol.EventReceipt, &rc)
	if rc.ID != m.ID || rc.To != b.Key.String() || rc.Status != protocol.StatusDelivered {
		t.Fatalf("receipt %+v", rc)
	}
	a.Ack(nil, []protocol.ReceiptRef{{To: rc.To, ID: rc.ID}})
	// And back the other way.
	res = b.Send(protocol.OutMessage{To: a.Key.String(), Data: "hello, a"})
	a.ExpectSkippingPings(protocol.EventMessage, &m)
	if m.Data != "hello, a" || m.ID != res[0].ID {
		t.Fatalf("reply %+v (result %+v)", m, res[0])
	}
}

// Many clients, each sending to every other one concurrently: every message
// arrives exactly once per (sender, id), none is refused.
func TestEndToEndManyClients(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	const n = 5
	cs := make([]*relaytest.Client, n)
	for i := range cs {
		cs[i] = srv.NewClient(t)
		cs[i].Register()
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var msgs []protocol.OutMessage
			for j, d := range cs {
				if j != i {
					msgs = append(msgs, protocol.OutMessage{To: d.Key.String(), Data: c.Key.String()[:6], ID: protocol.NewID().String()})
				}
			}
			for _, r := range c.Send(msgs...) {
				if r.Status != protocol.StatusAccepted {
					t.Errorf("result %+v", r)
				}
			}
		}()
	}
	wg.Wait()
	for _, c := range cs {
		from := map[string]int{}
		for range n - 1 {
			var m protocol.MessageEvent
			for {
				c.ExpectSkippingPings(protocol.EventMessage, &m)
				break
			}
			from[m.From]++
			c.Ack([]protocol.MessageRef{{From: m.From, ID: m.ID}}, nil)
		}
		if len(from) != n-1 {
			t.Fatalf("%v got messages from %d senders, want %d", c, len(from), n-1)
		}
	}
}

// The stream is a plain SSE stream a browser's EventSource accepts, with the
// headers that keep proxies from buffering it.
func TestEventStreamHeaders(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	resp, err := http.Get(srv.URL + protocol.PathEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := resp.Header
	if h.Get("Content-Type") != "text/event-stream" || h.Get("Cache-Control") != "no-cache, no-transform" || h.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("headers %v", h)
	}
	buf := make([]byte, 6)
	if _, err := resp.Body.Read(buf); err != nil || string(buf) != "retry:" {
		t.Fatalf("stream starts with %q (%v), want the retry hint", buf, err)
	}
}

// CORS: any origin by default, the signing headers allowed in preflight,
// Retry-After exposed, no credentials.
func TestCORSPreflight(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+protocol.PathSend, nil)
	req.Header.Set("Origin", "https://app.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type, signature, signature-input, content-digest, relay-session")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header
	allow := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
	for _, want := range []string{"signature", "signature-input", "content-digest", "relay-session", "content-type"} {
		if !strings.Contains(allow, want) {
			t.Errorf("preflight does not allow %s: %q", want, allow)
		}
	}
	if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		h.Get("Access-Control-Max-Age") == "" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight %d %v", resp.StatusCode, h)
	}
}

// Shutdown: every stream gets closing {"code":"shutdown"} and ends.
func TestShutdownClosesStreams(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.Register()
	b.Connect()
	srv.Relay.Close()
	for _, c := range []*relaytest.Client{a, b} {
		if code := c.Ended(); code != protocol.CloseShutdown {
			t.Fatalf("closing %q, want shutdown", code)
		}
	}
	resp, err := http.Get(srv.URL + protocol.PathEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var p protocol.Problem
	_ = json.NewDecoder(resp.Body).Decode(&p)
	if resp.StatusCode != http.StatusServiceUnavailable || p.Code != protocol.CodeShuttingDown {
		t.Fatalf("new stream while shutting down: %d %+v", resp.StatusCode, p)
	}
}
