package httpapi_test

import (
	"testing"
	"time"

	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// These run on real time with shortened settings, over real sockets: the
// synctest tests of package relay check the exact boundaries; these check
// that the real timers and streams do the same end to end.

// §2.2 on a real stream: closed with auth_timeout; later POSTs are 404.
func TestRealTimeAuthTimeout(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{AuthTimeout: 300 * time.Millisecond, SessionResend: 100 * time.Millisecond})
	c := srv.NewClient(t)
	c.Connect()
	if code := c.Ended(); code != protocol.CloseAuthTimeout {
		t.Fatalf("closing %q", code)
	}
	status, b := c.Post(protocol.PathAuth, protocol.AuthRequest{Key: c.Key.String()})
	if status != 404 || relaytest.Problem(t, b).Code != protocol.CodeUnknownSession {
		t.Fatalf("auth after the timeout: %d %s", status, b)
	}
}

// §7 on real time: a dropped recipient's message expires and the sender is
// told.
func TestRealTimeRetentionExpiry(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{Retention: 300 * time.Millisecond})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.Register()
	b.Register()
	res := a.Send(protocol.OutMessage{To: b.Key.String(), Data: "x"})
	var m protocol.MessageEvent
	b.ExpectSkippingPings(protocol.EventMessage, &m)
	b.Close() // no ack: the network failed
	var rc protocol.ReceiptEvent
	a.ExpectSkippingPings(protocol.EventReceipt, &rc)
	if rc.ID != res[0].ID || rc.Status != protocol.StatusExpired {
		t.Fatalf("receipt %+v", rc)
	}
}

// §9.3 on real time: an unacknowledged message is followed by a ping, and
// resent once the pong arrives.
func TestRealTimeResend(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{AckTimeoutMin: 100 * time.Millisecond, MaxAckDelay: time.Millisecond})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.Register()
	b.Register()
	a.Send(protocol.OutMessage{To: b.Key.String(), Data: "again"})
	var m protocol.MessageEvent
	b.ExpectSkippingPings(protocol.EventMessage, &m)
	b.ExpectSkippingPings(protocol.EventMessage, &m) // answers the ping, then the copy
	if m.Attempt != 2 || m.Data != "again" {
		t.Fatalf("resent %+v", m)
	}
	b.Ack([]protocol.MessageRef{{From: m.From, ID: m.ID}}, nil)
	var rc protocol.ReceiptEvent
	a.ExpectSkippingPings(protocol.EventReceipt, &rc)
	if rc.Status != protocol.StatusDelivered {
		t.Fatalf("receipt %+v", rc)
	}
}

// §3.1, §5 over HTTP: the newcomer gets 409 key_in_use, the older stream
// gets closing key_conflict, and the newcomer's repeat wins.
func TestSeed3_1_KeyConflictOverHTTP(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	old := srv.NewClient(t)
	old.Register()
	newc := old.WithKey(t)
	newc.Connect()
	status, b := newc.Post(protocol.PathAuth, protocol.AuthRequest{Key: newc.Key.String()})
	if status != 409 || relaytest.Problem(t, b).Code != protocol.CodeKeyInUse {
		t.Fatalf("auth of a key in use: %d %s", status, b)
	}
	if code := old.Ended(); code != protocol.CloseKeyConflict {
		t.Fatalf("older stream closing %q", code)
	}
	time.Sleep(time.Second) // §3.1: the client repeats after ≥ 1 s
	newc.MustPost(protocol.PathAuth, protocol.AuthRequest{Key: newc.Key.String()}, nil)
	if rd := newc.Challenges(); rd.Key != newc.Key.String() {
		t.Fatalf("ready %+v", rd)
	}
}
