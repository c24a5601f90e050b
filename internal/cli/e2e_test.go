package cli

import (
	"crypto/x509"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
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
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "keypost")
	build := exec.Command(gotool, "build", "-o", bin, "github.com/keypost/keypost/cmd/keypost")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// A usage error exits 2.
	err = exec.Command(bin, "serve", "--retention", "banana").Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != exitUsage {
		t.Fatalf("keypost serve --retention banana: %v, want exit status 2", err)
	}

	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(cmd.Environ(), "KEYPOST_LOG_FORMAT=json")
	stderr := newSyncBuffer()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error // set before exited is closed
	exited := make(chan struct{})
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill() // fails harmlessly once it exited
		<-exited
	})

	var addr string
	select {
	case addr = <-stderr.addr:
	case <-exited:
		t.Fatalf("keypost serve exited before listening: %v\n%s", waitErr, stderr)
	case <-time.After(hangGuard):
		t.Fatalf("keypost serve did not print its address\n%s", stderr)
	}

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

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(hangGuard):
		t.Fatalf("keypost serve did not exit after SIGTERM\n%s", stderr)
	}
	if waitErr != nil {
		t.Fatalf("keypost serve after SIGTERM: %v, want exit status 0\n%s", waitErr, stderr)
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
	cmd := exec.Command(bin, "serve", "--config", config)
	stderr := newSyncBuffer()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	var addr string
	select {
	case addr = <-stderr.addr:
	case <-exited:
		t.Fatalf("keypost serve exited before listening\n%s", stderr)
	case <-time.After(hangGuard):
		t.Fatalf("keypost serve did not print its address\n%s", stderr)
	}
	roots := x509.NewCertPool()
	roots.AddCert(a.cert)
	roots.AddCert(b.cert)
	if got := servedSerial(t, addr, roots); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}
	b.write(t, dir)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
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
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(hangGuard):
		t.Fatalf("keypost serve did not exit after SIGTERM\n%s", stderr)
	}
	if !cmd.ProcessState.Success() {
		t.Fatalf("exit %v\n%s", cmd.ProcessState, stderr)
	}
}
