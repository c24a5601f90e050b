package client_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// The handshake (§2–§4) ends in Ready; messages go both ways, each with
// its sender, id and data intact, and each send gets a delivered receipt.
func TestHandshakeAndMessagesBothWays(t *testing.T) {
	srv := newServer(t, relay.Config{})
	sa := newStates()
	opts := fast()
	opts.OnState = sa.on
	a := connect(t, srv, opts)
	b := connect(t, srv, fast())
	ctx := ctxT(t)

	if got := sa.all(); len(got) < 2 || got[0].Phase != client.Connecting || got[1].Phase != client.Ready || got[1].Session == "" {
		t.Fatalf("states %v, want connecting then ready with a session", got)
	}
	if a.State().Phase != client.Ready {
		t.Fatalf("State() = %v", a.State())
	}
	if lim := a.Limits(); lim.MaxPendingPerPair != relay.DefaultMaxPendingPerPair || lim.MaxMessageBytes != relay.DefaultMaxMessageBytes {
		t.Fatalf("limits %+v", lim)
	}

	sent, err := a.Send(ctx, b.Key(), "hello, b ✓")
	if err != nil {
		t.Fatal(err)
	}
	m := recv(t, b)
	if m.From != a.Key() || m.ID != sent.ID || m.Data != "hello, b ✓" || m.SentAt.IsZero() {
		t.Fatalf("b got %+v, want from a, id %s", m, sent.ID)
	}
	if st, err := sent.Wait(ctx); err != nil || st != protocol.StatusDelivered || sent.Status() != st {
		t.Fatalf("receipt %q, %v", st, err)
	}

	back, err := b.Send(ctx, a.Key(), "hello, a")
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, a); m.From != b.Key() || m.Data != "hello, a" || m.ID != back.ID {
		t.Fatalf("a got %+v", m)
	}
	awaitDelivered(t, ctx, back)
}

// SendMany answers per recipient: an unknown recipient is refused alone
// (ErrRecipientUnknown, *SendError), the others are delivered in order,
// also past the window of three to one recipient.
func TestSendManyPerRecipientResults(t *testing.T) {
	srv := newServer(t, relay.Config{})
	a, b, c := connect(t, srv, fast()), connect(t, srv, fast()), connect(t, srv, fast())
	ctx := ctxT(t)
	stranger := keyOf(newKey(t))
	msgs := []client.Outgoing{
		{To: b.Key(), Data: "b1"}, {To: stranger, Data: "lost"}, {To: c.Key(), Data: "c1"},
		{To: b.Key(), Data: "b2"}, {To: b.Key(), Data: "b3"}, {To: b.Key(), Data: "b4"}, {To: b.Key(), Data: "b5"},
	}
	sents, err := a.SendMany(ctx, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(sents) != len(msgs) {
		t.Fatalf("%d results for %d messages", len(sents), len(msgs))
	}
	var se *client.SendError
	if err := sents[1].Err(); !errors.Is(err, client.ErrRecipientUnknown) || !errors.As(err, &se) || se.Code != protocol.CodeRecipientUnknown || se.To != stranger {
		t.Fatalf("unknown recipient: %v", err)
	}
	if sents[1].Status() != protocol.StatusRejected {
		t.Fatalf("status %q", sents[1].Status())
	}
	for _, want := range []string{"b1", "b2", "b3", "b4", "b5"} {
		if m := recv(t, b); m.Data != want {
			t.Fatalf("b got %q, want %q", m.Data, want)
		}
	}
	if m := recv(t, c); m.Data != "c1" {
		t.Fatalf("c got %q", m.Data)
	}
	for i, s := range sents {
		if i == 1 {
			continue
		}
		awaitDelivered(t, ctx, s)
	}
}

// Data the relay would refuse or mangle is refused before it is sent:
// invalid UTF-8 (json.Marshal would replace it), data over
// max_message_bytes (§9.4), and the chunk prefix.
func TestSendRefusedBeforeSending(t *testing.T) {
	srv := newServer(t, relay.Config{MaxMessageBytes: 1000})
	a, b := connect(t, srv, fast()), connect(t, srv, fast())
	ctx := ctxT(t)
	for _, tc := range []struct {
		data string
		want error
	}{
		{"ok\xff", client.ErrInvalidUTF8},
		{strings.Repeat("x", 1001), client.ErrTooLarge},
		{strings.Repeat("é", 501), client.ErrTooLarge}, // 1002 bytes in 501 runes
		{client.ChunkPrefix + "{}", client.ErrReservedPrefix},
	} {
		if _, err := a.Send(ctx, b.Key(), tc.data); !errors.Is(err, tc.want) {
			t.Errorf("Send(%.20q…): %v, want %v", tc.data, err, tc.want)
		}
	}
	if _, err := a.SendMany(ctx, client.Outgoing{To: b.Key(), Data: "fine"}, client.Outgoing{To: b.Key(), Data: "\xc3"}); !errors.Is(err, client.ErrInvalidUTF8) {
		t.Fatalf("SendMany with one bad message: %v", err)
	}
	// Exactly at the limit is fine, and nothing refused went out before.
	s, err := a.Send(ctx, b.Key(), strings.Repeat("x", 1000))
	if err != nil {
		t.Fatal(err)
	}
	if m := recv(t, b); m.ID != s.ID || len(m.Data) != 1000 {
		t.Fatalf("b got %d bytes, id %s", len(m.Data), m.ID)
	}
}

// A recipient whose stream dropped is offline (§6): the send is refused
// with ErrRecipientOffline, which callers can branch on.
func TestRecipientOffline(t *testing.T) {
	srv := newServer(t, relay.Config{})
	a := connect(t, srv, fast())
	b := connect(t, srv, fast())
	b.Close()
	waitFor(t, "the relay to see b's stream end", func() bool { return srv.Relay.Stats().Offline == 1 })
	_, err := a.Send(ctxT(t), b.Key(), "anyone?")
	var se *client.SendError
	if !errors.Is(err, client.ErrRecipientOffline) || errors.Is(err, client.ErrRecipientUnknown) || !errors.As(err, &se) || se.Code != protocol.CodeRecipientOffline {
		t.Fatalf("send to an offline key: %v", err)
	}
	if !errors.Is(b.Err(), client.ErrClosed) {
		t.Fatalf("b.Err() = %v", b.Err())
	}
	if _, err := b.Send(ctxT(t), a.Key(), "after close"); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("send after Close: %v", err)
	}
	if _, ok := <-b.Messages(); ok {
		t.Fatal("Messages not closed after Close")
	}
}

// The relay limits signed requests per key (429 rate_limited with
// Retry-After). A sender past the limit waits it out: every message is
// accepted and delivered, none is lost or refused.
func TestRateLimitIsWaitedOut(t *testing.T) {
	srv := newServer(t, relay.Config{})
	a, b := connect(t, srv, fast()), connect(t, srv, fast())
	ctx := ctxT(t)
	const n = 200 // past the default burst of 100 signed requests
	got := make(chan string, n)
	go func() {
		for m := range b.Messages() {
			got <- m.Data
		}
	}()
	sents := make([]*client.Sent, n)
	for i := range n {
		s, err := a.Send(ctx, b.Key(), fmt.Sprint(i))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		sents[i] = s
	}
	for i := range n {
		select {
		case d := <-got:
			if d != fmt.Sprint(i) {
				t.Fatalf("message %d is %q", i, d)
			}
		case <-time.After(wait):
			t.Fatalf("message %d did not arrive", i)
		}
	}
	for _, s := range sents {
		awaitDelivered(t, ctx, s)
	}
	t.Logf("paused %d times", client.Pauses(a)+client.Pauses(b))
}
