// Package conformance runs an independent client, written from
// docs/protocol.md alone in JavaScript with only Node's standard library,
// against the real keypost binary.
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
	for _, tc := range []struct {
		name       string
		serveArgs  []string // more flags for keypost serve
		clientArgs []string // more arguments for client.mjs
	}{
		// The whole scenario, the session profile (§4.6) included, against
		// the relay's defaults.
		{name: "defaults"},
		// A relay that refuses the session profile.
		{name: "no-hmac", serveArgs: []string{"--no-hmac"}, clientArgs: []string{"--no-hmac"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang guard
			defer cancel()
			url := startRelay(t, ctx, bin, tc.serveArgs...)
			out, err := exec.CommandContext(ctx, node, append([]string{"client.mjs", url}, tc.clientArgs...)...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "conformance: ok") {
				t.Fatalf("independent client: %v\n%s", err, out)
			}
		})
	}
}

// startRelay runs `keypost serve` on a free loopback port until the test
// ends, and returns its URL.
func startRelay(t *testing.T, ctx context.Context, bin string, args ...string) string {
	t.Helper()
	srv := exec.CommandContext(ctx, bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
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
	return url
}
