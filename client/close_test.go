package client_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/relay"
)

// Connect to an address where nothing listens keeps retrying until its
// context ends, then returns that error with the last failure, and leaves
// no goroutine behind.
func TestConnectCancelledLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c, err := client.Connect(ctx, url, newKey(t), fast())
	if c != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect: %v, %v", c, err)
	}
}

// A wrong URL (a 404 for the stream) is not retried: Connect fails at once.
func TestConnectWrongURL(t *testing.T) {
	srv := newServer(t, relay.Config{})
	_, err := client.Connect(ctxT(t), srv.URL+"/nope", newKey(t), fast())
	var pe *client.ProblemError
	if !errors.As(err, &pe) || pe.Status != 404 {
		t.Fatalf("Connect: %v", err)
	}
}

// Sends blocked on a full window and waits for receipts end with their
// context or with Close; Close stops everything and no goroutine is left.
func TestCancelAndCloseLeaveNoGoroutines(t *testing.T) {
	srv := newServer(t, relay.Config{})
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ro := fast()
	ro.Buffer = 1
	a, err := client.Connect(ctxT(t), srv.URL, newKey(t), fast())
	if err != nil {
		t.Fatal(err)
	}
	b, err := client.Connect(ctxT(t), srv.URL, newKey(t), ro)
	if err != nil {
		t.Fatal(err)
	}
	// Nobody reads b's messages: after its buffer, b defers its acks, so
	// three messages stay unacknowledged and a's window to b fills.
	var last *client.Sent
	blocked := false
	for i := 0; i < 20 && !blocked; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		s, err := a.Send(ctx, b.Key(), "m")
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			blocked = true
		case err != nil:
			t.Fatal(err)
		default:
			last = s
		}
	}
	if !blocked {
		t.Fatal("the window never filled")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if _, err := last.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on an unacknowledged message: %v", err)
	}
	cancel()

	waitErr := make(chan error, 1)
	go func() {
		_, err := last.Wait(context.Background())
		waitErr <- err
	}()
	sendErr := make(chan error, 1)
	go func() {
		_, err := a.Send(context.Background(), b.Key(), "never")
		sendErr <- err
	}()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waitErr; !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Wait after Close: %v", err)
	}
	if err := <-sendErr; !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	b.Close()
	b.Close() // again: a no-op
	if a.State().Phase != client.Closed || !errors.Is(a.Err(), client.ErrClosed) {
		t.Fatalf("state %v, err %v", a.State(), a.Err())
	}
}
