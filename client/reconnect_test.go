package client_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// A cut connection is a drop, not an end: the client reports
// reconnecting, registers a new session with the same key and goes on
// receiving.
func TestReconnectAfterCut(t *testing.T) {
	srv := newServer(t, relay.Config{})
	k := newCutter(t)
	sb := newStates()
	opts := fast()
	opts.HTTPClient, opts.OnState = k.client(), sb.on
	a, b := connect(t, srv, fast()), connect(t, srv, opts)
	first := b.State().Session

	k.cut()
	if st := sb.await(t, client.Reconnecting); st.Err == nil {
		t.Fatalf("reconnecting without a reason: %v", st)
	}
	if st := sb.await(t, client.Ready); st.Session == first || st.Session == "" {
		t.Fatalf("ready again on session %q (first %q)", st.Session, first)
	}
	ctx := ctxT(t)
	// The relay may still see b as offline for a moment; a's retry is the
	// caller's business, so wait until it is accepted.
	var sent *client.Sent
	waitFor(t, "b to be online again", func() bool {
		s, err := a.Send(ctx, b.Key(), "still there?")
		if errors.Is(err, client.ErrRecipientOffline) {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		sent = s
		return true
	})
	if m := recv(t, b); m.ID != sent.ID {
		t.Fatalf("b got %+v", m)
	}
	if b.Err() != nil {
		t.Fatalf("b stopped: %v", b.Err())
	}
}

// §3.1, §5, design §6: a second process with the same key takes it over;
// the first gets closing key_conflict, stops with that reason and does
// not reconnect, so the two do not kick each other forever.
func TestKeyConflictIsFinal(t *testing.T) {
	srv := newServer(t, relay.Config{})
	priv := newKey(t)
	s1, s2 := newStates(), newStates()
	o1, o2 := fast(), fast()
	o1.OnState, o2.OnState = s1.on, s2.on
	first := connectKey(t, srv, priv, o1)
	second := connectKey(t, srv, priv, o2) // 409 key_in_use, then its repeat wins

	select {
	case <-first.Done():
	case <-time.After(wait):
		t.Fatal("the first client did not stop")
	}
	var ce *client.CloseError
	if err := first.Err(); !errors.Is(err, client.ErrKeyConflict) || !errors.As(err, &ce) || ce.Code != protocol.CloseKeyConflict {
		t.Fatalf("first.Err() = %v", err)
	}
	if st := s1.await(t, client.Closed); !errors.Is(st.Err, client.ErrKeyConflict) {
		t.Fatalf("closed state %v", st)
	}
	if n := s1.count(client.Reconnecting); n != 0 {
		t.Fatalf("the first client reconnected %d times: %v", n, s1.all())
	}
	if _, err := first.Send(ctxT(t), second.Key(), "x"); !errors.Is(err, client.ErrKeyConflict) {
		t.Fatalf("send on a stopped client: %v", err)
	}

	// The key stays with the second client: a message to it arrives there.
	sendRecv(t, ctxT(t), connect(t, srv, fast()), second, "to the survivor")
	if second.Err() != nil || s2.count(client.Reconnecting) != 0 || srv.Relay.Stats().Ready != 2 {
		t.Fatalf("second: err %v, states %v, relay %+v", second.Err(), s2.all(), srv.Relay.Stats())
	}
}

// A message whose ack is lost is redelivered: resent on the same stream
// (§9.3) and again after a reconnect (§7). Each copy is acked, none is
// handed over a second time.
func TestRedeliveryNotHandedOverTwice(t *testing.T) {
	srv := newServer(t, relay.Config{AckTimeoutMin: 100 * time.Millisecond, MaxAckDelay: time.Millisecond, MaxAttempts: 50})
	k := newCutter(t)
	var readies atomic.Int32
	type copyAt struct{ attempt, readies int }
	copies := make(chan copyAt, 100)
	opts := client.WithDuplicateHook(fast(), func(attempt int) {
		copies <- copyAt{attempt, int(readies.Load())}
	})
	opts.HTTPClient = k.client()
	opts.OnState = func(s client.State) {
		if s.Phase == client.Ready {
			readies.Add(1)
		}
	}
	a, b := connect(t, srv, fast()), connect(t, srv, opts)
	ctx := ctxT(t)

	client.DropAcks(b, true)
	sent := sendRecv(t, ctx, a, b, "once")
	k.cut()
	timeout := time.After(wait)
	for redelivered := false; !redelivered; {
		select {
		case c := <-copies:
			redelivered = c.readies >= 2 // a copy on the new session, not handed over
		case m := <-b.Messages():
			t.Fatalf("b got %q (id %s) again", m.Data, m.ID)
		case <-timeout:
			t.Fatal("no copy was redelivered after the reconnect")
		}
	}
	client.DropAcks(b, false)
	awaitDelivered(t, ctx, sent)
	sendRecv(t, ctx, a, b, "next") // and not "once" again
}

// A sender faster than its receiver is held back by the window, not
// refused: every message arrives once, in order, and is delivered.
func TestSlowReceiver(t *testing.T) {
	srv := newServer(t, relay.Config{})
	ro := fast()
	ro.Buffer = 2
	a, b := connect(t, srv, fast()), connect(t, srv, ro)
	ctx := ctxT(t)
	const n = 40
	sents := make(chan *client.Sent, n)
	errs := make(chan error, 1)
	go func() {
		defer close(sents)
		for i := range n {
			s, err := a.Send(ctx, b.Key(), fmt.Sprint(i))
			if err != nil {
				errs <- err
				return
			}
			sents <- s
		}
	}()
	for i := range n {
		m := recv(t, b)
		if m.Data != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, m.Data)
		}
		time.Sleep(5 * time.Millisecond) // a slow reader (not synchronisation)
	}
	count := 0
	for s := range sents {
		awaitDelivered(t, ctx, s)
		count++
	}
	select {
	case err := <-errs:
		t.Fatalf("send refused: %v", err)
	default:
	}
	if count != n {
		t.Fatalf("%d sends, want %d", count, n)
	}
}

// A sender away for longer than the relay's retention loses its entity,
// and with it the receipts owed to it (§7), which would hold its window
// slots forever. Back online, it offers its unsettled messages again with
// their ids: the recipient de-duplicates the copy, and the sender gets its
// receipt after all.
func TestReceiptsLostWithRetentionAreRecovered(t *testing.T) {
	srv := newServer(t, relay.Config{Retention: 200 * time.Millisecond, AckTimeoutMin: 100 * time.Millisecond, MaxAckDelay: time.Millisecond, MaxAttempts: 100})
	k := newCutter(t)
	ao := fast()
	ao.HTTPClient = k.client()
	a, b := connect(t, srv, ao), connect(t, srv, fast())
	ctx := ctxT(t)

	client.DropAcks(b, true) // the message stays held at the relay
	sent := sendRecv(t, ctx, a, b, "keep me")
	k.refuse.Store(true)
	k.cut()
	waitFor(t, "the relay to drop a's entity", func() bool { return srv.Relay.Stats().Entities == 1 })
	k.refuse.Store(false)
	client.DropAcks(b, false)

	awaitDelivered(t, ctx, sent)
	sendRecv(t, ctx, a, b, "next") // and not "keep me" twice
}

// With OnMessage set, messages go to it, in order, and Messages() only
// closes with the client.
func TestOnMessage(t *testing.T) {
	srv := newServer(t, relay.Config{})
	got := make(chan client.Message, 10)
	bo := fast()
	bo.OnMessage = func(m client.Message) { got <- m }
	a, b := connect(t, srv, fast()), connect(t, srv, bo)
	ctx := ctxT(t)
	for i := range 5 {
		if _, err := a.Send(ctx, b.Key(), fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		select {
		case m := <-got:
			if m.Data != fmt.Sprint(i) || m.From != a.Key() {
				t.Fatalf("message %d: %+v", i, m)
			}
		case <-time.After(wait):
			t.Fatal("OnMessage not called")
		}
	}
	b.Close()
	if _, ok := <-b.Messages(); ok {
		t.Fatal("Messages delivered a message in OnMessage mode")
	}
}
