package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypost/keypost/metrics/metricstest"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relaytest"
)

// testCert is a self-signed certificate for 127.0.0.1, made by the test.
type testCert struct {
	certPEM, keyPEM []byte
	cert            *x509.Certificate
}

func newTestCert(t *testing.T, serial int64) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "keypost test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // self-signed: its own root
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		cert:    cert,
	}
}

// write writes the pair to cert.pem and key.pem in dir and returns their
// names.
func (c testCert) write(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, c.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// clientConn counts the connections a client dials and the protocols of
// the answers it gets.
type clientConn struct {
	tr     *http.Transport
	dials  atomic.Int32
	mu     sync.Mutex
	protos map[string]int
}

func (c *clientConn) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.tr.RoundTrip(req)
	if err == nil {
		c.mu.Lock()
		c.protos[resp.Proto]++
		c.mu.Unlock()
	}
	return resp, err
}

// newBrowserClient is an HTTP client like a browser's: it offers HTTP/2
// and HTTP/1.1 over TLS (trusting roots), and counts what it does.
func newBrowserClient(t *testing.T, roots *x509.CertPool) (*http.Client, *clientConn) {
	cc := &clientConn{protos: map[string]int{}}
	dialer := &net.Dialer{}
	cc.tr = &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			cc.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(cc.tr.CloseIdleConnections)
	return &http.Client{Transport: cc}, cc
}

// newProtocolClient is a relaytest protocol client with a fresh key that
// speaks to base with hc.
func newProtocolClient(t *testing.T, base string, hc *http.Client) *relaytest.Client {
	return (&relaytest.Server{URL: base, Client: hc}).NewClient(t)
}

// One browser-like client holds more than six streams (HTTP/1.1's limit
// per origin) plus their POSTs over one HTTP/2 connection, over real TLS;
// messages flow between them, and /metrics says so.
func TestServeHTTP2OverTLS(t *testing.T) {
	crt := newTestCert(t, 1)
	certFile, keyFile := crt.write(t, t.TempDir())
	s := startServeCmd(t, newServeCmd(serve), "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.Contains(s.stderr.String(), "keypost listening on https://"+s.addr) {
		t.Fatalf("listening line: %s", s.stderr)
	}
	base := "https://" + s.addr
	roots := x509.NewCertPool()
	roots.AddCert(crt.cert)
	hc, cc := newBrowserClient(t, roots)

	const n = 8
	clients := make([]*relaytest.Client, n)
	for i := range clients {
		clients[i] = newProtocolClient(t, base, hc)
		clients[i].Register()
	}
	for i, c := range clients {
		to := clients[(i+1)%n]
		if res := c.Send(protocol.OutMessage{To: to.Key.String(), Data: "over h2"}); res[0].Status != protocol.StatusAccepted {
			t.Fatalf("send: %+v", res[0])
		}
	}
	for _, c := range clients {
		var m protocol.MessageEvent
		c.ExpectSkippingPings(protocol.EventMessage, &m)
		c.Ack([]protocol.MessageRef{{From: m.From, ID: m.ID}}, nil)
	}
	for _, c := range clients {
		var rc protocol.ReceiptEvent
		c.ExpectSkippingPings(protocol.EventReceipt, &rc)
		if rc.Status != protocol.StatusDelivered {
			t.Fatalf("receipt %+v", rc)
		}
	}

	f := metricstest.Scrape(t, hc, base+"/metrics")
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"keypost_sessions", []string{"state", "ready"}, n},
		{"keypost_handshakes_completed_total", nil, n},
		{"keypost_messages_accepted_total", nil, n},
		{"keypost_deliveries_total", nil, n},
		{"keypost_messages_settled_total", []string{"status", "delivered"}, n},
		{"keypost_http_request_duration_seconds", []string{"endpoint", protocol.PathEvents, "status", "200"}, n},
		{"keypost_http_request_duration_seconds", []string{"endpoint", protocol.PathSend, "status", "200"}, n},
		{"keypost_ready", nil, 1},
	} {
		if got := f.Value(t, tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}

	if d := cc.dials.Load(); d != 1 {
		t.Errorf("%d connections dialed, want 1 for %d streams and their POSTs", d, n)
	}
	cc.mu.Lock()
	if len(cc.protos) != 1 || cc.protos["HTTP/2.0"] == 0 {
		t.Errorf("answers by protocol: %v, want HTTP/2.0 only", cc.protos)
	}
	cc.mu.Unlock()

	// Shutdown over HTTP/2: every stream is told.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if code := c.Ended(); code != protocol.CloseShutdown {
			t.Fatalf("closing %q, want shutdown", code)
		}
	}
}

// With --h2c, HTTP/2 without TLS (prior knowledge, as a proxy speaks it)
// carries streams and POSTs on one connection; HTTP/1.1 still works.
func TestServeH2C(t *testing.T) {
	s := startServeCmd(t, newServeCmd(serve), "--h2c")
	base := "http://" + s.addr
	cc := &clientConn{protos: map[string]int{}}
	dialer := &net.Dialer{}
	cc.tr = &http.Transport{
		Protocols: new(http.Protocols),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			cc.dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
	}
	cc.tr.Protocols.SetUnencryptedHTTP2(true)
	t.Cleanup(cc.tr.CloseIdleConnections)
	hc := &http.Client{Transport: cc}

	a, b := newProtocolClient(t, base, hc), newProtocolClient(t, base, hc)
	a.Register()
	b.Register()
	a.Send(protocol.OutMessage{To: b.Key.String(), Data: "over h2c"})
	var m protocol.MessageEvent
	b.ExpectSkippingPings(protocol.EventMessage, &m)
	if m.Data != "over h2c" {
		t.Fatalf("message %+v", m)
	}
	if d := cc.dials.Load(); d != 1 {
		t.Errorf("%d connections dialed, want 1", d)
	}
	cc.mu.Lock()
	if len(cc.protos) != 1 || cc.protos["HTTP/2.0"] == 0 {
		t.Errorf("answers by protocol: %v, want HTTP/2.0 only", cc.protos)
	}
	cc.mu.Unlock()

	c := newClient(t)
	resp, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 1 {
		t.Fatalf("HTTP/1.1 next to h2c: %s %s", resp.Proto, resp.Status)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

// servedSerial connects afresh (a new TLS handshake) and returns the serial
// number of the certificate the server presented.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// A renewed certificate is served without a restart once its files change;
// a broken renewal is logged and the last good certificate stays.
func TestServeTLSReloadOnChange(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestCert(t, 1), newTestCert(t, 2)
	certFile, keyFile := a.write(t, dir)
	s := startServeCmd(t, newServeCmd(serve), "--tls-cert", certFile, "--tls-key", keyFile)
	roots := x509.NewCertPool()
	roots.AddCert(a.cert)
	roots.AddCert(b.cert)
	if got := servedSerial(t, s.addr, roots); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	b.write(t, dir)
	if got := servedSerial(t, s.addr, roots); got != 2 {
		t.Fatalf("after renewal: serial %d, want 2", got)
	}
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, s.addr, roots); got != 2 {
		t.Fatalf("after a broken renewal: serial %d, want the last good 2", got)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	logs := s.stderr.String()
	for _, want := range []string{`msg="TLS certificate reloaded" reason="file changed"`, `msg="TLS certificate not reloaded; keeping the previous one"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// Bad TLS files stop serve before it listens, naming the flags.
func TestServeTLSBadFiles(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := newTestCert(t, 1).write(t, dir)
	other, _ := newTestCert(t, 2).write(t, t.TempDir())
	for _, tc := range []struct{ name, cert, key string }{
		{"missing", filepath.Join(dir, "nope.pem"), keyFile},
		{"mismatched", other, keyFile},
		{"swapped", keyFile, certFile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			code := Main(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--tls-cert", tc.cert, "--tls-key", tc.key}, io.Discard, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), "--tls-cert/--tls-key") {
				t.Fatalf("exit %d, stderr %q", code, stderr.String())
			}
		})
	}
}
