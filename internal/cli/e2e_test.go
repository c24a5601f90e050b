package cli

import (
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
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
}
