package httpapi_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// Every kind of bad request gets an RFC 9457 problem+json answer with a
// stable code and the right status, and the relay stays healthy.
func TestBadRequests(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{MaxBodyBytes: 4096})
	c := srv.NewClient(t)
	c.Register()
	other := srv.NewClient(t)
	sendBody := []byte(`{"messages":[]}`)

	for _, tc := range []struct {
		name   string
		req    func() *http.Request
		status int
		code   protocol.ErrorCode
	}{
		{"wrong content type", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, 415, protocol.CodeUnsupportedMedia},
		{"content encoding", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			r.Header.Set("Content-Encoding", "gzip")
			return r
		}, 415, protocol.CodeUnsupportedMedia},
		{"body too large", func() *http.Request {
			return c.Request(protocol.PathSend, bytes.Repeat([]byte(" "), 5000))
		}, 413, protocol.CodeBodyTooLarge},
		{"malformed JSON", func() *http.Request { return c.Request(protocol.PathSend, []byte(`{"messages":[`)) }, 400, protocol.CodeBadRequest},
		{"unknown field", func() *http.Request { return c.Request(protocol.PathSend, []byte(`{"messages":[],"x":1}`)) }, 400, protocol.CodeBadRequest},
		{"trailing data", func() *http.Request { return c.Request(protocol.PathSend, []byte(`{"messages":[]} {}`)) }, 400, protocol.CodeBadRequest},
		{"data not a string", func() *http.Request {
			return c.Request(protocol.PathSend, []byte(`{"messages":[{"to":"`+other.Key.String()+`","data":5}]}`))
		}, 400, protocol.CodeBadRequest},
		{"too many recipients", func() *http.Request {
			var req protocol.SendRequest
			for range 1001 {
				req.Messages = append(req.Messages, protocol.OutMessage{To: "x"})
			}
			b, _ := json.Marshal(req)
			srvBig := c.Request(protocol.PathSend, b)
			return srvBig
		}, 413, protocol.CodeBodyTooLarge},
		{"missing signature", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			r.Header.Del("Signature")
			r.Header.Del("Signature-Input")
			return r
		}, 401, protocol.CodeBadSignature},
		{"malformed signature input", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			r.Header.Set("Signature-Input", `sig=("@method");keyid=`)
			return r
		}, 401, protocol.CodeBadSignature},
		{"two signatures", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			r.Header.Set("Signature", r.Header.Get("Signature")+", sig2="+strings.TrimPrefix(r.Header.Get("Signature"), "sig="))
			r.Header.Set("Signature-Input", r.Header.Get("Signature-Input")+", sig2="+strings.TrimPrefix(r.Header.Get("Signature-Input"), "sig="))
			return r
		}, 400, protocol.CodeBadRequest},
		{"wrong digest", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			r.Header.Set("Content-Digest", protocol.ContentDigest([]byte("other")))
			return r
		}, 401, protocol.CodeBadDigest},
		{"body changed after signing", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			r2, _ := http.NewRequest(http.MethodPost, r.URL.String(), strings.NewReader(`{"messages": []}`))
			r2.Header = r.Header
			return r2
		}, 401, protocol.CodeBadDigest},
		{"bad signature bytes", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			r.Header.Set("Signature", "sig=:"+strings.Repeat("A", 86)+"==:")
			return r
		}, 401, protocol.CodeBadSignature},
		{"signed by another key", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			_, priv, _ := ed25519.GenerateKey(nil)
			_ = protocol.SignRequest(r.Header, priv, "POST", protocol.PathSend, c.Session, sendBody, 999, time.Now())
			return r
		}, 401, protocol.CodeKeyMismatch},
		{"signed for another path", func() *http.Request {
			r := c.Request(protocol.PathAck, sendBody)
			r.URL.Path = protocol.PathSend
			return r
		}, 401, protocol.CodeBadSignature},
		{"unknown session", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			s := protocol.NewID().String()
			_ = protocol.SignRequest(r.Header, c.Priv, "POST", protocol.PathSend, s, sendBody, 1000, time.Now())
			return r
		}, 404, protocol.CodeUnknownSession},
		{"malformed session id", func() *http.Request {
			r := c.Request(protocol.PathSend, sendBody)
			_ = protocol.SignRequest(r.Header, c.Priv, "POST", protocol.PathSend, "nope", sendBody, 1001, time.Now())
			return r
		}, 404, protocol.CodeUnknownSession},
		{"auth with bad base64 key", func() *http.Request {
			return authReq(t, c, `{"key":"***"}`)
		}, 400, protocol.CodeBadKey},
		{"auth with a short key", func() *http.Request {
			return authReq(t, c, `{"key":"AAAA"}`)
		}, 400, protocol.CodeBadKey},
		{"auth with a small-order key", func() *http.Request {
			return authReq(t, c, `{"key":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`)
		}, 400, protocol.CodeBadKey},
		{"GET on a POST endpoint", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, srv.URL+protocol.PathSend, nil)
			return r
		}, 405, protocol.CodeMethodNotAllowed},
		{"POST on the stream", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL+protocol.PathEvents, nil)
			return r
		}, 405, protocol.CodeMethodNotAllowed},
		{"unknown endpoint", func() *http.Request {
			r, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/nope", nil)
			return r
		}, 404, protocol.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := c.Do(tc.req())
			p := relaytest.Problem(t, body)
			if status != tc.status || p.Code != tc.code || p.Status != tc.status || p.Type == "" || p.Title == "" {
				t.Fatalf("got %d %s, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	// Still healthy: the client can still exchange messages.
	other.Register()
	if res := c.Send(protocol.OutMessage{To: other.Key.String(), Data: "still fine"}); res[0].Status != protocol.StatusAccepted {
		t.Fatalf("after bad requests: %+v", res[0])
	}
}

func authReq(t *testing.T, c *relaytest.Client, body string) *http.Request {
	return c.Request(protocol.PathAuth, []byte(body))
}

// §4.5: a replayed nonce is refused; nonces may arrive out of order.
func TestSeed4_5_ReplayedNonce(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	c := srv.NewClient(t)
	c.Register()
	body := []byte(`{"messages":[]}`)
	first := c.Request(protocol.PathSend, body)
	second := c.Request(protocol.PathSend, body)
	if status, b := c.Do(second); status != 200 {
		t.Fatalf("second: %d %s", status, b)
	}
	replay := func(r *http.Request) *http.Request {
		x, _ := http.NewRequest(r.Method, r.URL.String(), bytes.NewReader(body))
		x.Header = r.Header.Clone()
		return x
	}
	if status, b := c.Do(replay(first)); status != 200 {
		t.Fatalf("older nonce, first use (out of order is fine): %d %s", status, b)
	}
	for _, r := range []*http.Request{first, second} {
		status, b := c.Do(replay(r))
		if status != 401 || relaytest.Problem(t, b).Code != protocol.CodeReplayed {
			t.Fatalf("replay: %d %s", status, b)
		}
	}
}

// §4.5: the acting identity is the session's key; a request on a session
// before auth has no key to act as.
func TestSeed4_5_SignerMustBeSessionKey(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	c := srv.NewClient(t)
	c.Connect()
	status, b := c.Post(protocol.PathSend, protocol.SendRequest{Messages: []protocol.OutMessage{}})
	if status != 401 || relaytest.Problem(t, b).Code != protocol.CodeKeyMismatch {
		t.Fatalf("send before auth: %d %s", status, b)
	}
	// Auth signed by one key for another key.
	x := srv.NewClient(t)
	body, _ := json.Marshal(protocol.AuthRequest{Key: x.Key.String()})
	status, b = c.Do(c.Request(protocol.PathAuth, body))
	if status != 401 || relaytest.Problem(t, b).Code != protocol.CodeKeyMismatch {
		t.Fatalf("auth for another key: %d %s", status, b)
	}
	c.MustPost(protocol.PathAuth, protocol.AuthRequest{Key: c.Key.String()}, nil)
	status, b = c.Post(protocol.PathSend, protocol.SendRequest{Messages: []protocol.OutMessage{{To: x.Key.String()}}})
	if status != 409 || relaytest.Problem(t, b).Code != protocol.CodeNotReady {
		t.Fatalf("send before ready: %d %s", status, b)
	}
}

// A problem with one entry rejects that entry only (§10).
func TestSendEntryErrors(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	a, b := srv.NewClient(t), srv.NewClient(t)
	a.Register()
	b.Register()
	to := b.Key.String()
	body := `{"messages":[` +
		`{"to":"` + to + `","data":"ok"},` +
		`{"to":"not a key","data":"x"},` +
		`{"to":"` + to + `","data":"x","id":"NOT-AN-ID"},` +
		`{"to":"` + to + `","data":"\ud800 lone"},` +
		`{"to":"` + to + `","data":"\udc00"},` +
		`{"to":"` + to + `","data":"pair \ud83d\ude00 fine"},` +
		`{"to":"` + to + `","data":"x","id":"` + strings.ToUpper(protocol.NewID().String()) + `"},` +
		`{"to":"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","data":"x"}` +
		`]}`
	status, out := a.Do(a.Request(protocol.PathSend, []byte(body)))
	if status != 200 {
		t.Fatalf("%d %s", status, out)
	}
	var res protocol.SendResponse
	_ = json.Unmarshal(out, &res)
	want := []protocol.ErrorCode{"", protocol.CodeBadKey, protocol.CodeBadID, protocol.CodeBadData, protocol.CodeBadData, "", protocol.CodeBadID, protocol.CodeBadKey}
	if len(res.Results) != len(want) {
		t.Fatalf("results %s", out)
	}
	for i, w := range want {
		if res.Results[i].Code != w || res.Results[i].ID == "" {
			t.Errorf("entry %d: %+v, want code %q", i, res.Results[i], w)
		}
	}
	var m protocol.MessageEvent
	b.ExpectSkippingPings(protocol.EventMessage, &m)
	b.ExpectSkippingPings(protocol.EventMessage, &m)
	if m.Data != "pair \U0001F600 fine" {
		t.Fatalf("data %q not relayed byte-exact", m.Data)
	}
}
