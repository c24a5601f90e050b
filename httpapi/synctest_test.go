package httpapi_test

import (
	"testing"
	"testing/synctest"
	"time"

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
