package cli

import (
	"crypto/x509"
	"errors"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary builds the real keypost binary and runs it as an operator
// would: serve on a free port, a health check, SIGTERM, exit status 0.
// It covers what the in-process tests cannot: main's signal handling and
// os.Exit.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildKeypost(t)

	// A usage error exits 2.
	err := exec.Command(bin, "serve", "--retention", "banana").Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != exitUsage {
		t.Fatalf("keypost serve --retention banana: %v, want exit status 2", err)
	}

	serve := startProcEnv(t, bin, []string{"KEYPOST_LOG_FORMAT=json"}, false, "serve", "--addr", "127.0.0.1:0")
	addr := serve.listenAddr(t)
	c := newClient(t)
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %s", resp.Status)
	}
	c.CloseIdleConnections()
	if code := serve.terminate(t); code != 0 {
		t.Fatalf("keypost serve after SIGTERM: exit status %d, want 0\n%s", code, serve.stderr)
	}

	t.Run("TLS reload on SIGHUP", func(t *testing.T) { testBinarySIGHUP(t, bin) })
}

// testBinarySIGHUP runs the binary with TLS from a config file, renews its
// certificate and sends SIGHUP: the new certificate is served, and the log
// says SIGHUP did it.
func testBinarySIGHUP(t *testing.T, bin string) {
	dir := t.TempDir()
	a, b := newTestCert(t, 1), newTestCert(t, 2)
	certFile, keyFile := a.write(t, dir)
	config := writeConfig(t, "addr: 127.0.0.1:0\ntls-cert: "+certFile+"\ntls-key: "+keyFile+"\n")
	serve := startProc(t, bin, false, "serve", "--config", config)
	addr := serve.listenAddr(t)
	stderr := serve.stderr
	roots := x509.NewCertPool()
	roots.AddCert(a.cert)
	roots.AddCert(b.cert)
	if got := servedSerial(t, addr, roots); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	b.write(t, dir)
	if err := serve.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(hangGuard)
	for !strings.Contains(stderr.String(), `reason=SIGHUP`) {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged after SIGHUP\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), `msg="TLS certificate reloaded" reason=SIGHUP`) {
		t.Fatalf("SIGHUP did not reload\n%s", stderr)
	}
	if got := servedSerial(t, addr, roots); got != 2 {
		t.Fatalf("after SIGHUP: serial %d, want 2", got)
	}
	if code := serve.terminate(t); code != 0 {
		t.Fatalf("exit status %d\n%s", code, stderr)
	}
}
