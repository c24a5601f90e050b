package cli

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keypost/keypost/internal/keyfile"
	"github.com/keypost/keypost/protocol"
)

func TestKeygenIDRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "me.key")
	var stdout, stderr bytes.Buffer
	if err := runKeygen(t.Context(), []string{"--out", path}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSuffix(stdout.String(), "\n")
	if _, err := protocol.ParseKey(addr); err != nil {
		t.Fatalf("keygen printed %q: %v", stdout.String(), err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}

	stdout.Reset()
	if err := runID(t.Context(), []string{"--key", path}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(stdout.String(), "\n"); got != addr {
		t.Fatalf("id printed %q, keygen %q", got, addr)
	}

	// KEYPOST_KEY is the default of --key, and --key beats it.
	t.Setenv("KEYPOST_KEY", path)
	stdout.Reset()
	if err := runID(t.Context(), nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(stdout.String(), "\n"); got != addr {
		t.Fatalf("id with KEYPOST_KEY printed %q, want %q", got, addr)
	}
	t.Setenv("KEYPOST_KEY", filepath.Join(t.TempDir(), "other.key"))
	stdout.Reset()
	if err := runID(t.Context(), []string{"-k", path}, &stdout, &stderr); err != nil {
		t.Fatalf("--key did not beat KEYPOST_KEY: %v", err)
	}
}

func TestKeygenRefusesOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "me.key")
	var first, stdout, stderr bytes.Buffer
	if err := runKeygen(t.Context(), []string{"--out", path}, &first, &stderr); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	err := runKeygen(t.Context(), []string{"--out", path}, &stdout, &stderr)
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second keygen: %v, want an fs.ErrExist error that mentions --force", err)
	}
	if _, ok := errors.AsType[*usageError](err); ok {
		t.Fatal("an existing file is a runtime failure (exit 1), not a usage error")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the refused keygen changed the file")
	}

	stdout.Reset()
	if err := runKeygen(t.Context(), []string{"--out", path, "--force"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	priv, err := keyfile.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := publicKey(priv), strings.TrimSpace(stdout.String()); got != want || want == strings.TrimSpace(first.String()) {
		t.Fatalf("after --force the file holds %s; keygen printed %s, the first key was %s", got, want, first.String())
	}
}

func TestKeygenStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runKeygen(context.Background(), nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	priv, err := keyfile.Decode(stdout.Bytes())
	if err != nil {
		t.Fatalf("stdout is not a key file: %v\n%s", err, stdout.String())
	}
	if got, want := strings.TrimSuffix(stderr.String(), "\n"), publicKey(priv); got != want {
		t.Fatalf("stderr %q, want the public key %q", got, want)
	}
}
