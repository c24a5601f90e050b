package cli

import (
	"testing"

	"github.com/keypost/keypost/metrics/metricstest"
	"github.com/keypost/keypost/protocol"
)

// --hmac reaches the SDK (client.Options.SessionHMAC): with it, send and
// listen sign only /v1/auth with Ed25519 and every later request with the
// session profile (docs/protocol.md §4.6), as the relay's
// keypost_verified_requests_total shows.
func TestHMACFlag(t *testing.T) {
	addr, _, _ := startServe(t)
	url := "http://" + addr
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	bl := startListen(t, url, bob, "--hmac")
	if stdout, stderr, code := sendCmd(t, "", alice.args("send", url, "--hmac", "--to", bob.key, "signed fast")...); code != exitOK {
		t.Fatalf("send: exit %d\n%s%s", code, stdout, stderr)
	}
	waitOutput(t, "listen", bl.stdout, `"data":"signed fast"`)

	f := metricstest.Scrape(t, newClient(t), url+"/metrics")
	if got := f.Value(t, "keypost_verified_requests_total", "alg", protocol.SignatureAlg); got != 2 {
		t.Errorf("Ed25519-signed requests: %v, want 2 (the two /v1/auth)", got)
	}
	// At least the challenge answers of both, alice's send and bob's ack
	// (alice's receipt ack may still be on its way).
	if got := f.Value(t, "keypost_verified_requests_total", "alg", protocol.SignatureAlgHMAC); got < 3+3+1+1 {
		t.Errorf("hmac-sha256-signed requests: %v, want at least 8", got)
	}
}
