package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: serve
// must stop everything it started when its context ends.
//
// With KEYPOST_TEST_AS_MAIN=1 the test binary is keypost itself (Main with
// its arguments), so that a test can start it as a child process (bench's
// idle scenario runs "keypost serve" that way).
func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

const asMainEnv = "KEYPOST_TEST_AS_MAIN"

// listeningLine is what serve prints once it listens; tests and scripts
// find the bound address in it.
var listeningLine = regexp.MustCompile(`keypost listening on https?://(\S+)\n`)

// syncBuffer collects a command's output from several goroutines (serve
// logs from the server's) and hands out the address of the listening line
// as soon as it is written.
type syncBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string // receives the listening address once
	sent bool
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{addr: make(chan string, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if !s.sent {
		if m := listeningLine.FindSubmatch(s.buf.Bytes()); m != nil {
			s.addr <- string(m[1])
			s.sent = true
		}
	}
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func TestMainExitStatus(t *testing.T) {
	t.Setenv("KEYPOST_KEY", "")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	taken := ln.Addr().String()
	for _, tc := range []struct {
		args         []string
		code         int
		stdout, errs string // substrings expected on stdout and stderr
	}{
		{[]string{"version"}, exitOK, "keypost ", ""},
		{[]string{"--help"}, exitOK, "Exit status:", ""},
		{nil, exitOK, "Available Commands", ""},
		{[]string{"serve", "--help"}, exitOK, "KEYPOST_", ""},
		{[]string{"bogus"}, exitUsage, "", `unknown command "bogus"`},
		{[]string{"version", "extra"}, exitUsage, "", "unknown command"},
		{[]string{"serve", "--no-such-flag"}, exitUsage, "", "Run 'keypost serve --help' for usage."},
		{[]string{"serve", "--retention", "banana"}, exitUsage, "", "--retention"},
		{[]string{"keygen", "--force"}, exitUsage, "", "--force needs --out"},
		{[]string{"id"}, exitUsage, "", "KEYPOST_KEY"},
		{[]string{"id", "--key", t.TempDir() + "/missing"}, exitFailure, "", "no such file"},
		{[]string{"serve", "--addr", "127.0.0.1:99999"}, exitUsage, "", "--addr"},
		{[]string{"serve", "--addr", taken}, exitFailure, "", "address already in use"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tc.stdout)
			}
			if !strings.Contains(stderr.String(), tc.errs) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.errs)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	var stdout bytes.Buffer
	if err := runVersion(t.Context(), nil, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	// A test binary has no module version, so this is the "dev" of a build
	// from a checkout.
	if !regexp.MustCompile(`^keypost dev go\S+\n$`).MatchString(stdout.String()) {
		t.Fatalf("version printed %q", stdout.String())
	}
}
