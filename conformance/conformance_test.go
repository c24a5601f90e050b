// Package conformance runs an independent client, written from
// docs/protocol.md alone in JavaScript with only Node's standard library,
// against the real keypost binary started with its defaults.
package conformance

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIndependentClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	bin := filepath.Join(t.TempDir(), "keypost")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/keypost").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "serve", "--addr", "127.0.0.1:0")
	stderr, _ := srv.StderrPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	url := ""
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "keypost listening on "); ok {
			url = rest
			break
		}
	}
	if url == "" {
		t.Fatal("the relay did not say where it listens")
	}
	go func() {
		for sc.Scan() { // drain the log
		}
	}()
	out, err := exec.CommandContext(ctx, node, "client.mjs", url).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "conformance: ok") {
		t.Fatalf("independent client: %v\n%s", err, out)
	}
}
