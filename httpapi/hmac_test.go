package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// The opt-in session profile (docs/protocol.md §4.6): a session that asked
// /v1/auth for a secret signs its later requests with hmac-sha256 (§4.5:
// the relay still knows the user by the signature), next to sessions that
// keep Ed25519.
func TestHMACProfileExchange(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.RegisterHMAC() // the challenge answers are HMAC-signed too
	b.Register()
	if a.Secret == nil {
		t.Fatal("no secret")
	}
	res := a.Send(protocol.OutMessage{To: b.Key.String(), Data: "fast hello"})
	if res[0].Status != protocol.StatusAccepted {
		t.Fatalf("send %+v", res[0])
	}
	var m protocol.MessageEvent
	b.ExpectSkippingPings(protocol.EventMessage, &m)
	if m.From != a.Key.String() || m.Data != "fast hello" {
		t.Fatalf("message %+v", m)
	}
	b.Ack([]protocol.MessageRef{{From: m.From, ID: m.ID}}, nil)
	var rc protocol.ReceiptEvent
	a.ExpectSkippingPings(protocol.EventReceipt, &rc)
	a.Ack(nil, []protocol.ReceiptRef{{To: rc.To, ID: rc.ID}})

	// The same secret again on a retried auth (its answer may have been lost).
	var again protocol.AuthResponse
	a.MustPost(protocol.PathAuth, protocol.AuthRequest{Key: a.Key.String(), HMAC: true}, &again)
	if s, err := protocol.DecodeSessionSecret(again.HMACKey); err != nil || *s != *a.Secret {
		t.Fatalf("second auth answered %+v (%v)", again, err)
	}
}

// TestHMACProfileRefusals: an HMAC signature is only good on its own
// session, with that session's secret, never on /v1/auth, and not on a
// session that has no secret; nonces still count (replayed).
func TestHMACProfileRefusals(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	a, b, plain := srv.NewClient(t), srv.NewClient(t), srv.NewClient(t)
	a.RegisterHMAC()
	b.RegisterHMAC()
	plain.Register()
	if *a.Secret == *b.Secret {
		t.Fatal("two sessions got the same secret")
	}
	body := []byte(`{"messages":[]}`)
	wantCode := func(name string, status int, code protocol.ErrorCode, req *http.Request) {
		t.Helper()
		gotStatus, got := a.Do(req)
		if p := relaytest.Problem(t, got); gotStatus != status || p.Code != code {
			t.Errorf("%s: %d %s, want %d %s", name, gotStatus, got, status, code)
		}
	}

	// Signed with b's secret on a's session.
	a.Secret, b.Secret = b.Secret, a.Secret
	wantCode("another session's secret", http.StatusUnauthorized, protocol.CodeBadSignature, a.Request(protocol.PathSend, body))
	a.Secret, b.Secret = b.Secret, a.Secret

	// A session that asked for no secret cannot be HMAC-signed.
	plain.Secret = a.Secret
	wantCode("session without a secret", http.StatusUnauthorized, protocol.CodeBadSignature, plain.Request(protocol.PathSend, body))
	plain.Secret = nil

	// /v1/auth is always Ed25519: it is what hands out the secret.
	auth, _ := json.Marshal(protocol.AuthRequest{Key: a.Key.String(), HMAC: true})
	authReq := a.Request(protocol.PathAuth, auth)
	if err := protocol.SignRequestHMAC(authReq.Header, a.Key, a.Secret, http.MethodPost, protocol.PathAuth, a.Session, auth, 1000, time.Now()); err != nil {
		t.Fatal(err)
	}
	wantCode("HMAC-signed auth", http.StatusUnauthorized, protocol.CodeBadSignature, authReq)

	// A replayed HMAC request is refused like an Ed25519 one.
	req := a.Request(protocol.PathSend, body)
	replay := req.Clone(req.Context())
	replay.Body = http.NoBody
	if st, got := a.Do(req); st != http.StatusOK {
		t.Fatalf("first send: %d %s", st, got)
	}
	r2 := a.Request(protocol.PathSend, body) // rebuilt with the same headers
	r2.Header = replay.Header
	wantCode("replayed", http.StatusUnauthorized, protocol.CodeReplayed, r2)

	// Ed25519 still works on an HMAC session.
	a.Secret = nil
	if st, got := a.Do(a.Request(protocol.PathSend, body)); st != http.StatusOK {
		t.Fatalf("Ed25519 on an HMAC session: %d %s", st, got)
	}
}

// TestHMACProfileDisabled: with DisableHMAC the relay hands out no secret,
// and a client falls back to Ed25519.
func TestHMACProfileDisabled(t *testing.T) {
	srv := newMetered(t, relay.Config{}, httpapi.Config{DisableHMAC: true})
	c := srv.NewClient(t)
	c.Connect()
	var res protocol.AuthResponse
	c.MustPost(protocol.PathAuth, protocol.AuthRequest{Key: c.Key.String(), HMAC: true}, &res)
	if !res.OK || res.HMACKey != "" {
		t.Fatalf("auth answered %+v", res)
	}
	c.Challenges()
}
