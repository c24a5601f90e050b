package httpapi_test

import (
	"encoding/json"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// The whole stack — http.Server, the SSE writer, the relay's timers, a
// client reading and signing — on fake time: §2.1 and §2.2 at their exact
// boundaries, over HTTP.
func TestSynctestOverHTTP_Seed2(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := relaytest.NewPipeServer(t, relay.Config{})
		c := srv.NewClient(t)
		c.Connect()
		opened := time.Now()
		time.Sleep(3*time.Second - time.Nanosecond)
		synctest.Wait()
		if ev, ok := c.TryNext(0); ok {
			t.Fatalf("event %s before 3 s", ev.Type)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if ev, ok := c.TryNext(0); !ok || ev.Type != protocol.EventSession {
			t.Fatalf("at 3 s: %v %v, want the session event again (§2.1)", ev, ok)
		}
		time.Sleep(opened.Add(20 * time.Second).Sub(time.Now()))
		synctest.Wait()
		if code := c.Ended(); code != protocol.CloseAuthTimeout {
			t.Fatalf("closing %q at 20 s, want auth_timeout (§2.2)", code)
		}
	})
}

// §7 over HTTP on fake time: a recipient that drops keeps its message for
// exactly 60 s; the sender then gets `expired`.
func TestSynctestOverHTTP_Seed7(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := relaytest.NewPipeServer(t, relay.Config{PingInterval: time.Hour})
		a, b := srv.NewClient(t), srv.NewClient(t)
		a.Register()
		b.Register()
		res := a.Send(protocol.OutMessage{To: b.Key.String(), Data: "x"})
		var m protocol.MessageEvent
		b.ExpectSkippingPings(protocol.EventMessage, &m)
		b.Close()
		synctest.Wait()
		dropped := time.Now()
		time.Sleep(time.Minute - time.Millisecond)
		synctest.Wait()
		for {
			ev, ok := a.TryNext(0)
			if !ok {
				break
			}
			if ev.Type == protocol.EventReceipt {
				t.Fatalf("receipt before 60 s: %s", ev.Data)
			}
		}
		time.Sleep(dropped.Add(time.Minute).Sub(time.Now()))
		synctest.Wait()
		var rc protocol.ReceiptEvent
		a.ExpectSkippingPings(protocol.EventReceipt, &rc)
		if rc.ID != res[0].ID || rc.Status != protocol.StatusExpired {
			t.Fatalf("receipt %+v", rc)
		}
	})
}

// §3.1 of docs/protocol.md on fake time: a stream gets ": keep-alive" once
// it has been silent for KeepAlive, at that instant, and again only after
// as much silence; an event puts it off.
func TestSynctestKeepAlive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := relaytest.NewPipeServer(t, relay.Config{PingInterval: time.Hour})
		a, b := srv.NewClient(t), srv.NewClient(t)
		b.Register()
		a.Register()
		synctest.Wait()
		last := time.Now() // a's ready event
		wantKept := func(when string, want ...time.Time) {
			t.Helper()
			synctest.Wait()
			if got := a.KeepAlives(); !slices.Equal(got, want) {
				t.Fatalf("%s: keep-alives at %v, want %v (last write at 0)", when, since(last, got), since(last, want))
			}
		}
		time.Sleep(httpapi.DefaultKeepAlive - time.Nanosecond)
		wantKept("just before KeepAlive")
		time.Sleep(time.Nanosecond)
		first := last.Add(httpapi.DefaultKeepAlive)
		wantKept("at KeepAlive", first)

		// A message 10 s later: the next comment comes KeepAlive after it.
		time.Sleep(10 * time.Second)
		res := b.Send(protocol.OutMessage{To: a.Key.String(), Data: "x"})
		// A padded ping comes first (§9.1), at the same instant; both are
		// answered, so that nothing more is owed to a.
		for ev := a.Next(); ev.Type != protocol.EventMessage; ev = a.Next() {
			var p protocol.PingEvent
			if ev.Type != protocol.EventPing || json.Unmarshal([]byte(ev.Data), &p) != nil {
				t.Fatalf("got %s %s, want a ping or the message", ev.Type, ev.Data)
			}
			a.MustPost(protocol.PathPong, protocol.PongRequest{ID: p.ID}, nil)
		}
		last = time.Now()
		a.Ack([]protocol.MessageRef{{From: b.Key.String(), ID: res[0].ID}}, nil)
		time.Sleep(httpapi.DefaultKeepAlive - time.Nanosecond)
		wantKept("KeepAlive after the message, less 1 ns", first)
		time.Sleep(time.Nanosecond)
		wantKept("KeepAlive after the message", first, last.Add(httpapi.DefaultKeepAlive))
	})
}

// A ready stream with the default idle ping (25 s, §9) is never silent for
// KeepAlive, so it gets no comment: 100,000 idle streams wake for their
// pings only.
func TestSynctestKeepAliveNotOnPingedStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := relaytest.NewPipeServer(t, relay.Config{})
		a := srv.NewClient(t)
		a.Register()
		for range 4 {
			time.Sleep(relay.DefaultPingInterval)
			synctest.Wait()
			ev, ok := a.TryNext(0)
			if !ok || ev.Type != protocol.EventPing {
				t.Fatalf("after %v idle: %v %v, want a ping", relay.DefaultPingInterval, ev.Type, ok)
			}
			var p protocol.PingEvent
			if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
				t.Fatal(err)
			}
			a.MustPost(protocol.PathPong, protocol.PongRequest{ID: p.ID}, nil)
		}
		synctest.Wait()
		if got := a.KeepAlives(); len(got) != 0 {
			t.Fatalf("keep-alives on a pinged stream: %v", got)
		}
	})
}

// since returns each of ts as the time since t0.
func since(t0 time.Time, ts []time.Time) []time.Duration {
	ds := make([]time.Duration, len(ts))
	for i, t := range ts {
		ds[i] = t.Sub(t0)
	}
	return ds
}
