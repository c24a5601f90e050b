package cli

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a keypost process started by a test; it is killed, if still
// running, when the test ends.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	stdin          io.WriteCloser // nil unless asked for
	exited         chan struct{}
	err            error // set before exited is closed
}

func startProc(t *testing.T, bin string, withStdin bool, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, bin, nil, withStdin, args...)
}

// startProcEnv is startProc with env added to the process's environment.
func startProcEnv(t *testing.T, bin string, env []string, withStdin bool, args ...string) *proc {
	t.Helper()
	p := &proc{name: "keypost " + args[0], cmd: exec.Command(bin, args...), stdout: newSyncBuffer(), stderr: newSyncBuffer(), exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.Env = append(append(os.Environ(), "KEYPOST_KEY=", "KEYPOST_SERVER="), env...)
	if withStdin {
		var err error
		if p.stdin, err = p.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill() // fails harmlessly once it exited
		<-p.exited
	})
	return p
}

// listenAddr waits for a keypost serve process to log the address it
// listens on.
func (p *proc) listenAddr(t *testing.T) string {
	t.Helper()
	select {
	case addr := <-p.stderr.addr:
		return addr
	case <-p.exited:
		t.Fatalf("%s exited before listening: %v\n%s", p.name, p.err, p.stderr)
	case <-time.After(hangGuard):
		t.Fatalf("%s did not print its address\n%s", p.name, p.stderr)
	}
	return ""
}

// terminate sends SIGTERM and returns the exit status.
func (p *proc) terminate(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return p.wait(t)
}

// wait waits for the process to exit and returns its exit status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(hangGuard):
		t.Fatalf("%s did not exit\nstdout:\n%s\nstderr:\n%s", p.name, p.stdout, p.stderr)
	}
	if ee, ok := errors.AsType[*exec.ExitError](p.err); ok {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.name, p.err)
	}
	return 0
}

// buildKeypost builds the keypost binary into a temporary directory.
func buildKeypost(t *testing.T) string {
	t.Helper()
	gotool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the binary with")
	}
	bin := filepath.Join(t.TempDir(), "keypost")
	if out, err := exec.Command(gotool, "build", "-o", bin, "github.com/keypost/keypost/cmd/keypost").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryMessaging runs the client commands as processes against a
// keypost serve process, as two people in two terminals would: keygen,
// listen --out with send --file of a few MiB (the stored file's SHA-256
// is the source's), and two chats over stdin pipes.
func TestBinaryMessaging(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildKeypost(t)
	serve := startProc(t, bin, false, "serve", "--addr", "127.0.0.1:0")
	url := "http://" + serve.listenAddr(t)

	dir := t.TempDir()
	keygen := func(name string) (path, key string) {
		path = filepath.Join(dir, name+".key")
		p := startProc(t, bin, false, "keygen", "--out", path)
		if code := p.wait(t); code != 0 {
			t.Fatalf("keygen: exit %d\n%s", code, p.stderr)
		}
		return path, strings.TrimSpace(p.stdout.String())
	}
	aliceKey, alice := keygen("alice")
	bobKey, bob := keygen("bob")

	t.Run("send --file into listen --out", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "inbox")
		listen := startProc(t, bin, false, "listen", "--server", url, "--key", bobKey, "--out", out)
		waitOutput(t, "listen's stderr", listen.stderr, "state: ready")

		data := make([]byte, 3<<20+12345)
		rand.Read(data)
		src := filepath.Join(t.TempDir(), "random.bin")
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])

		send := startProc(t, bin, false, "send", "--server", url, "--key", aliceKey, "--to", bob, "--file", src, "--json")
		if code := send.wait(t); code != 0 {
			t.Fatalf("send --file: exit %d\nstdout:\n%s\nstderr:\n%s", code, send.stdout, send.stderr)
		}
		var res map[string]any
		if err := json.Unmarshal([]byte(send.stdout.String()), &res); err != nil ||
			res["to"] != bob || res["status"] != "accepted" || res["receipt"] != "delivered" || res["sha256"] != want {
			t.Fatalf("send --json printed %q (%v)", send.stdout, err)
		}
		if send.stderr.String() != "" { // not a terminal: no progress bar
			t.Errorf("send's stderr: %q", send.stderr)
		}

		waitOutput(t, "listen's stdout", listen.stdout, "\n")
		var line fileLine
		dec := json.NewDecoder(strings.NewReader(listen.stdout.String()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&line); err != nil {
			t.Fatalf("listen printed %q: %v", listen.stdout, err)
		}
		if line.From != alice || line.Name != "random.bin" || line.Size != int64(len(data)) || line.SHA256 != want ||
			line.Path != filepath.Join(out, "random.bin") {
			t.Fatalf("listen printed %+v", line)
		}
		stored, err := os.ReadFile(line.Path)
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256.Sum256(stored); got != sum {
			t.Fatalf("the stored file's SHA-256 is %x, the source's %x", got, sum)
		}

		if err := listen.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if code := listen.wait(t); code != 0 {
			t.Fatalf("listen after SIGINT: exit %d\n%s", code, listen.stderr)
		}
	})

	t.Run("chat", func(t *testing.T) {
		a := startProc(t, bin, true, "chat", "--server", url, "--key", aliceKey, bob)
		b := startProc(t, bin, true, "chat", "--server", url, "--key", bobKey, alice)
		waitOutput(t, "alice's chat", a.stderr, "(connected as")
		waitOutput(t, "bob's chat", b.stderr, "(connected as")

		io.WriteString(a.stdin, "hello bob\n")
		waitOutput(t, "bob's chat", b.stdout, "< hello bob\n")
		waitOutput(t, "alice's chat", a.stdout, "> hello bob ✓\n  ✓✓ delivered\n")
		io.WriteString(b.stdin, "hi alice\n")
		waitOutput(t, "alice's chat", a.stdout, "< hi alice\n")
		waitOutput(t, "bob's chat", b.stdout, "> hi alice ✓\n  ✓✓ delivered\n")

		for _, p := range []*proc{a, b} {
			p.stdin.Close()
			if code := p.wait(t); code != 0 {
				t.Errorf("chat at EOF: exit %d\n%s", code, p.stderr)
			}
		}
	})

	// Bob has gone (the relay keeps his key's place for its retention, so
	// he is offline rather than unknown): exit 3.
	send := startProc(t, bin, false, "send", "--server", url, "--key", aliceKey, "--to", bob, "anyone?")
	if code := send.wait(t); code != exitUndelivered ||
		!strings.Contains(send.stdout.String(), "rejected by relay: recipient_offline") {
		t.Fatalf("send to an absent key: exit %d, stdout %q", code, send.stdout)
	}
}
