package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/internal/keyfile"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// party is a key pair with its key file, as a user of the commands has.
type party struct {
	path string // the key file
	key  string // the public key: the address
	priv ed25519.PrivateKey
}

func newParty(t *testing.T, name string) party {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return partyOf(t, name, priv)
}

// partyOf is the party with key priv, written to a key file.
func partyOf(t *testing.T, name string, priv ed25519.PrivateKey) party {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".key")
	if err := keyfile.Write(path, priv, false); err != nil {
		t.Fatal(err)
	}
	return party{path: path, key: publicKey(priv), priv: priv}
}

// args returns the flags that connect as p to the relay at url, then more.
func (p party) args(cmd, url string, more ...string) []string {
	return append([]string{cmd, "--server", url, "--key", p.path}, more...)
}

// connect connects p with the SDK, for the other side of a test.
func (p party) connect(t *testing.T, url string, opts client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	defer cancel()
	c, err := client.Connect(ctx, url, p.priv, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond until it holds, failing the test after hangGuard.
func waitFor(t *testing.T, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOutput waits until out contains s.
func waitOutput(t *testing.T, name string, out *syncBuffer, s string) {
	t.Helper()
	waitFor(t, func() bool { return strings.Contains(out.String(), s) },
		func() string { return fmt.Sprintf("%q in %s:\n%s", s, name, out) })
}

// background is a long-running command (listen, chat) run in-process.
type background struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan struct{}
	err            error // set before done is closed
}

func startBackground(t *testing.T, run func(ctx context.Context, stdout, stderr io.Writer) error) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{stdout: newSyncBuffer(), stderr: newSyncBuffer(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		b.err = run(ctx, b.stdout, b.stderr)
	}()
	t.Cleanup(func() {
		if _, err := b.stop(); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	return b
}

// waitOutput waits until out, one of b's outputs, contains s, and fails
// at once, with the command's error, if the command ended first.
func (b *background) waitOutput(t *testing.T, name string, out *syncBuffer, s string) {
	t.Helper()
	ended := false
	waitFor(t, func() bool {
		if strings.Contains(out.String(), s) {
			return true
		}
		select {
		case <-b.done:
			ended = true
		default:
		}
		return ended
	}, func() string { return fmt.Sprintf("%q in %s:\n%s", s, name, out) })
	if ended && !strings.Contains(out.String(), s) {
		t.Fatalf("the command ended (%v) before %q was in %s:\n%s", b.err, s, name, out)
	}
}

// wait waits for the command to end by itself and returns its error.
func (b *background) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-b.done:
		return b.err
	case <-time.After(hangGuard):
		t.Fatalf("the command did not end\nstdout:\n%s\nstderr:\n%s", b.stdout, b.stderr)
		return nil
	}
}

// stop cancels the command's context and returns its error; the second
// result says whether it failed to stop.
func (b *background) stop() (error, error) {
	b.cancel()
	select {
	case <-b.done:
		return b.err, nil
	case <-time.After(hangGuard):
		return nil, fmt.Errorf("the command did not stop\nstdout:\n%s\nstderr:\n%s", b.stdout, b.stderr)
	}
}

// startListen runs keypost listen as p with more flags, and waits for ready.
func startListen(t *testing.T, url string, p party, more ...string) *background {
	t.Helper()
	args := p.args("listen", url, more...)
	b := startBackground(t, func(ctx context.Context, stdout, stderr io.Writer) error {
		return runListen(ctx, args[1:], stdout, stderr)
	})
	b.waitOutput(t, "listen's stderr", b.stderr, "state: ready")
	return b
}

// sendCmd runs keypost send in-process and returns its stdout, stderr and
// exit status (as Main would).
func sendCmd(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := runSend(ctx, args[1:], strings.NewReader(stdin), &stdout, &stderr)
	code := report(nil, err, &stderr)
	return stdout.String(), stderr.String(), code
}

// jsonLines decodes output of one JSON object per line.
func parseJSONLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON object: %q: %v", line, err)
		}
		objs = append(objs, m)
	}
	return objs
}

// keysOf returns the sorted member names of a JSON object.
func keysOf(m map[string]any) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ",")
}

func TestSendText(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	alice, bob, carol := newParty(t, "alice"), newParty(t, "bob"), newParty(t, "carol")
	bl := startListen(t, srv.URL, bob)
	cl := startListen(t, srv.URL, carol)

	stdout, stderr, code := sendCmd(t, "", alice.args("send", srv.URL, "--to", bob.key, "hello, bob")...)
	if code != exitOK || stdout != "delivered to "+bob.key+"\n" {
		t.Fatalf("send: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	waitOutput(t, "bob's listen", bl.stdout, "hello, bob")
	lines := parseJSONLines(t, bl.stdout.String())
	if len(lines) != 1 || keysOf(lines[0]) != "data,from,id,size" ||
		lines[0]["from"] != alice.key || lines[0]["data"] != "hello, bob" || lines[0]["size"] != 10.0 {
		t.Fatalf("listen printed %v", lines)
	}
	if _, err := protocol.ParseID(lines[0]["id"].(string)); err != nil {
		t.Fatalf("listen's id: %v", err)
	}

	// Standard input, to two recipients (the second --to for bob is
	// redundant), with --json. The text is sent byte for byte.
	text := "line one\nline <two> & \"three\"\n"
	stdout, stderr, code = sendCmd(t, text, alice.args("send", srv.URL, "--json", "--to", bob.key, "-t", carol.key, "--to", bob.key, "-")...)
	if code != exitOK {
		t.Fatalf("send --json: exit %d, stderr %q", code, stderr)
	}
	results := parseJSONLines(t, stdout)
	if len(results) != 2 {
		t.Fatalf("send --json printed %d objects, want 2:\n%s", len(results), stdout)
	}
	for i, want := range []string{bob.key, carol.key} {
		r := results[i]
		if keysOf(r) != "id,receipt,status,to" || r["to"] != want || r["status"] != "accepted" || r["receipt"] != "delivered" {
			t.Errorf("result %d: %v", i, r)
		}
	}
	for _, l := range []*background{bl, cl} {
		waitOutput(t, "listen", l.stdout, `"data":"line one\nline <two> & \"three\"\n"`)
	}

	// --no-wait: accepted is enough.
	stdout, _, code = sendCmd(t, "", alice.args("send", srv.URL, "--no-wait", "--to", bob.key, "quick")...)
	if code != exitOK || stdout != "accepted by relay for "+bob.key+" (not waiting for delivery)\n" {
		t.Fatalf("send --no-wait: exit %d, stdout %q", code, stdout)
	}
	stdout, _, code = sendCmd(t, "", alice.args("send", srv.URL, "--no-wait", "--json", "--to", bob.key, "quick")...)
	if r := parseJSONLines(t, stdout); code != exitOK || len(r) != 1 || keysOf(r[0]) != "id,status,to" || r[0]["status"] != "accepted" {
		t.Fatalf("send --no-wait --json: exit %d, stdout %q", code, stdout)
	}

	for _, l := range []*background{bl, cl} {
		if err, serr := l.stop(); err != nil || serr != nil {
			t.Fatalf("listen after cancel: %v %v", err, serr)
		}
		if !strings.Contains(l.stderr.String(), "state: closed") {
			t.Errorf("listen's stderr does not report closed:\n%s", l.stderr)
		}
	}
}

func TestSendRejected(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	alice, bob, nobody := newParty(t, "alice"), newParty(t, "bob"), newParty(t, "nobody")

	stdout, stderr, code := sendCmd(t, "", alice.args("send", srv.URL, "--to", nobody.key, "hello?")...)
	if code != exitUndelivered {
		t.Fatalf("exit %d, want %d; stderr %q", code, exitUndelivered, stderr)
	}
	if want := "rejected by relay: recipient_unknown (no client holds " + nobody.key + " now)\n"; stdout != want {
		t.Errorf("stdout %q, want %q", stdout, want)
	}
	if !strings.Contains(stderr, "keypost: not delivered to 1 of 1 recipients") {
		t.Errorf("stderr %q", stderr)
	}

	// One delivered, one rejected: exit 3, one object each.
	startListen(t, srv.URL, bob)
	stdout, _, code = sendCmd(t, "", alice.args("send", srv.URL, "--json", "--to", bob.key, "--to", nobody.key, "hi")...)
	r := parseJSONLines(t, stdout)
	if code != exitUndelivered || len(r) != 2 {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	if r[0]["to"] != bob.key || r[0]["receipt"] != "delivered" {
		t.Errorf("first result %v", r[0])
	}
	if keysOf(r[1]) != "code,error,id,status,to" || r[1]["to"] != nobody.key || r[1]["status"] != "rejected" || r[1]["code"] != "recipient_unknown" {
		t.Errorf("second result %v", r[1])
	}

	// A file to nobody is rejected the same way.
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, _, code = sendCmd(t, "", alice.args("send", srv.URL, "--json", "--to", nobody.key, "--file", path)...)
	if r := parseJSONLines(t, stdout); code != exitUndelivered || len(r) != 1 || r[0]["status"] != "rejected" ||
		r[0]["code"] != "recipient_unknown" || r[0]["name"] != "f.bin" || r[0]["size"] != 4.0 {
		t.Fatalf("file to nobody: exit %d, stdout %q", code, stdout)
	}
}

// TestSendNoReceipt: a recipient that never acks gets the message, but
// no receipt comes before --timeout: exit 3, and the result says so.
func TestSendNoReceipt(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	alice := newParty(t, "alice")
	mute := srv.NewClient(t)
	mute.Register()
	t.Cleanup(mute.Close)
	stdout, stderr, code := sendCmd(t, "", alice.args("send", srv.URL, "--json", "--timeout", "500ms", "--to", mute.Key.String(), "hello?")...)
	r := parseJSONLines(t, stdout)
	if code != exitUndelivered || len(r) != 1 || keysOf(r[0]) != "error,id,status,to" || r[0]["status"] != "accepted" ||
		r[0]["error"] != "no receipt: timed out after 500ms (--timeout)" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// The relay notices the end of the first send's stream a moment after
	// the command returns. Until then a new session of alice's key is
	// refused key_in_use, and §3.1's wait of a second before the retry
	// would outlast this --timeout.
	waitFor(t, func() bool { return srv.Relay.Stats().Sessions == 1 },
		func() string { return "the end of the first send's session" })
	stdout, stderr, code = sendCmd(t, "", alice.args("send", srv.URL, "--timeout", "500ms", "--to", mute.Key.String(), "hello?")...)
	if want := "not delivered to " + mute.Key.String() + ": no receipt: timed out after 500ms (--timeout)\n"; code != exitUndelivered || stdout != want {
		t.Fatalf("exit %d, stdout %q, want %q; stderr %q", code, stdout, want, stderr)
	}
}

func TestSendRefusedInput(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	startListen(t, srv.URL, bob)
	for _, tc := range []struct {
		name, stdin string
		want        string
	}{
		{"too large", strings.Repeat("x", relay.DefaultMaxMessageBytes+1), "send it as a file with --file PATH"},
		{"far too large", strings.Repeat("x", maxStdinText+1), "send it as a file with --file PATH"},
		{"not UTF-8", "\xff\xfe", "--file PATH"},
		{"chunk prefix", "kp-chunk:{}", "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := sendCmd(t, tc.stdin, alice.args("send", srv.URL, "--to", bob.key, "-")...)
			if code != exitFailure || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout, stderr, tc.want)
			}
		})
	}
}

func TestClientCommandsUsage(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	startListen(t, srv.URL, bob)
	t.Setenv("KEYPOST_KEY", "")
	t.Setenv("KEYPOST_SERVER", "")
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// A port nothing listens on, for "cannot connect".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	k := []string{"--server", srv.URL, "--key", alice.path}
	for _, tc := range []struct {
		args []string
		code int
		errs string
	}{
		{[]string{"send", "--to", bob.key, "hi"}, exitUsage, "KEYPOST_KEY"},
		{append([]string{"send", "hi"}, k...), exitUsage, "no recipient"},
		{append([]string{"send", "--to", "bob", "hi"}, k...), exitUsage, `--to "bob" is not a keypost address`},
		{append([]string{"send", "--to", bob.key}, k...), exitUsage, "nothing to send"},
		{append([]string{"send", "--to", bob.key, "a", "b"}, k...), exitUsage, "quote it"},
		{append([]string{"send", "--to", bob.key, "--file", file, "hi"}, k...), exitUsage, "not two of them"},
		{append([]string{"send", "--to", bob.key, "--file", file, "--no-wait"}, k...), exitUsage, "--no-wait does not go with --file"},
		{append([]string{"send", "--to", bob.key, "--timeout", "-1s", "hi"}, k...), exitUsage, "--timeout"},
		{[]string{"send", "--key", alice.path, "--server", "ftp://x", "--to", bob.key, "hi"}, exitUsage, "--server"},
		{[]string{"send", "--key", t.TempDir() + "/missing", "--to", bob.key, "hi"}, exitFailure, "no such file"},
		{append([]string{"send", "--to", bob.key, "--file", t.TempDir()}, k...), exitFailure, "not a regular file"},
		{[]string{"send", "--key", alice.path, "--server", closed, "--timeout", "300ms", "--to", bob.key, "hi"}, exitFailure, "cannot connect to " + closed},
		{append([]string{"listen", "extra"}, k...), exitUsage, "unknown command"},
		{[]string{"listen"}, exitUsage, "KEYPOST_KEY"},
		{append([]string{"chat"}, k...), exitUsage, "chat takes one KEY"},
		{append([]string{"chat", "nobody"}, k...), exitUsage, `KEY "nobody" is not a keypost address`},
		{[]string{"send", "--help"}, exitOK, ""},
		{[]string{"--help"}, exitOK, ""},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := Main(ctx, tc.args, &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.errs) {
				t.Fatalf("exit %d, want %d; stderr %q, want %q", code, tc.code, stderr.String(), tc.errs)
			}
		})
	}

	// Each command documents its exit statuses.
	for _, cmd := range []string{"send", "listen", "chat"} {
		var stdout bytes.Buffer
		Main(t.Context(), []string{cmd, "--help"}, &stdout, io.Discard)
		for _, s := range []string{"Exit status:", "KEYPOST_SERVER", "KEYPOST_KEY", "  0  ", "  1  ", "  2  "} {
			if !strings.Contains(stdout.String(), s) {
				t.Errorf("keypost %s --help lacks %q", cmd, s)
			}
		}
	}
	var stdout bytes.Buffer
	Main(t.Context(), []string{"send", "--help"}, &stdout, io.Discard)
	if !strings.Contains(stdout.String(), "  3  some recipient did not get it") {
		t.Errorf("keypost send --help does not document exit status 3")
	}

	// KEYPOST_SERVER and KEYPOST_KEY stand for the flags.
	t.Setenv("KEYPOST_SERVER", srv.URL)
	t.Setenv("KEYPOST_KEY", alice.path)
	stdout.Reset()
	var stderr bytes.Buffer
	if code := Main(t.Context(), []string{"send", "--to", bob.key, "from the environment"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("send with KEYPOST_SERVER and KEYPOST_KEY: exit %d, %s", code, stderr.String())
	}
}

func TestSafeName(t *testing.T) {
	const id = "0b9d5a52-2c1e-4f0a-8e57-3c6f1a2b4d5e"
	for _, tc := range []struct{ in, want string }{
		{"notes.txt", "notes.txt"},
		{"../x", "x"},
		{"../../../../etc/cron.d/evil", "evil"},
		{"/etc/passwd", "passwd"},
		{"a/b", "b"},
		{`..\..\win.ini`, "win.ini"},
		{"..", "transfer-" + id},
		{".", "transfer-" + id},
		{"", "transfer-" + id},
		{"dir/", "transfer-" + id},
		{"a/..", "transfer-" + id},
		{"x\x00y", "x_y"},
		{"\x1b[31mred", "_[31mred"},
		{".bashrc", "_bashrc"},
		{"...", "_.."},
		{"héllo wörld.txt", "héllo wörld.txt"},
		{strings.Repeat("a", 300) + ".txt", strings.Repeat("a", maxStoredName-4) + ".txt"},
	} {
		got := safeName(tc.in, id)
		if got != tc.want {
			t.Errorf("safeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if strings.ContainsAny(got, "/\\\x00") || got == "." || got == ".." || filepath.Base(got) != got {
			t.Errorf("safeName(%q) = %q is not one safe path element", tc.in, got)
		}
	}
	for _, tc := range []struct {
		in   string
		i    int
		want string
	}{
		{"notes.txt", 0, "notes.txt"}, {"notes.txt", 2, "notes-2.txt"}, {"README", 1, "README-1"}, {"_bashrc", 1, "_bashrc-1"},
	} {
		if got := withSuffix(tc.in, tc.i); got != tc.want {
			t.Errorf("withSuffix(%q, %d) = %q, want %q", tc.in, tc.i, got, tc.want)
		}
	}
}

// TestListenOut sends files with hostile names into listen --out DIR:
// each lands inside DIR, under a safe name, without replacing anything.
func TestListenOut(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	parent := t.TempDir()
	dir := filepath.Join(parent, "inbox") // created by listen
	bl := startListen(t, srv.URL, bob, "--out", dir)
	if err := os.WriteFile(filepath.Join(dir, "exists.txt"), []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A dangling symbolic link where a file would go is not followed.
	target := filepath.Join(parent, "target")
	if err := os.Symlink(target, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	ac := alice.connect(t, srv.URL, client.Options{})

	names := []string{"../x", "/etc/passwd", "a/b", "..", "x\x00y", ".hidden", "same.txt", "same.txt", "exists.txt", "link", "plain.bin"}
	want := []string{"x", "passwd", "b", "transfer-", "x_y", "_hidden", "same.txt", "same-1.txt", "exists-1.txt", "link-1", "plain.bin"}
	contents := map[string][]byte{}
	for i, name := range names {
		data := make([]byte, 1000+i*40000) // the larger ones take several chunks
		rand.Read(data)
		ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
		err := ac.SendStream(ctx, mustKey(t, bob.key), name, bytes.NewReader(data), int64(len(data)), nil)
		cancel()
		if err != nil {
			t.Fatalf("SendStream %q: %v", name, err)
		}
		waitFor(t, func() bool { return strings.Count(bl.stdout.String(), "\n") == i+1 },
			func() string { return fmt.Sprintf("line %d of listen:\n%s\n%s", i+1, bl.stdout, bl.stderr) })
		l := parseJSONLines(t, bl.stdout.String())[i]
		path := l["path"].(string)
		if keysOf(l) != "from,id,name,path,sha256,size" || l["from"] != alice.key || l["name"] != name || l["size"] != float64(len(data)) {
			t.Errorf("%q: listen printed %v", name, l)
		}
		if filepath.Dir(path) != dir || !strings.HasPrefix(filepath.Base(path), want[i]) {
			t.Errorf("%q stored at %s, want %s/%s", name, path, dir, want[i])
		}
		sum := sha256.Sum256(data)
		if l["sha256"] != hex.EncodeToString(sum[:]) {
			t.Errorf("%q: sha256 %v", name, l["sha256"])
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%q: stored file differs (%v)", name, err)
		}
		contents[path] = data
	}
	// Nothing but the stored files (and what the test made) is in DIR, and
	// nothing new outside it.
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(names)+2 {
		t.Errorf("DIR holds %v", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "exists.txt")); string(b) != "keep me" {
		t.Errorf("exists.txt was replaced")
	}
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file was written through the symbolic link: %v", err)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Errorf("DIR's parent holds %v", entries)
	}
	if _, err := os.Stat(filepath.Join(parent, "x")); err == nil {
		t.Errorf("../x was written outside DIR")
	}
}

func mustKey(t *testing.T, s string) protocol.Key {
	t.Helper()
	k, err := protocol.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestListenTempDir: without --out, files are kept in a new directory
// under $TMPDIR, named on stderr.
func TestListenTempDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	srv := relaytest.NewServer(t, relay.Config{})
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	bl := startListen(t, srv.URL, bob)
	src := filepath.Join(t.TempDir(), "report.pdf")
	data := bytes.Repeat([]byte("%PDF "), 30000)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := sendCmd(t, "", alice.args("send", srv.URL, "--to", bob.key, "--file", src)...)
	sum := sha256.Sum256(data)
	want := fmt.Sprintf("delivered \"report.pdf\" (%d bytes, sha256 %x) to %s\n", len(data), sum, bob.key)
	if code != exitOK || stdout != want {
		t.Fatalf("send --file: exit %d, stdout %q (want %q), stderr %q", code, stdout, want, stderr)
	}
	waitOutput(t, "listen", bl.stdout, `"path"`)
	l := parseJSONLines(t, bl.stdout.String())[0]
	path := l["path"].(string)
	if !strings.HasPrefix(path, tmp+string(filepath.Separator)+"keypost-listen-") || filepath.Base(path) != "report.pdf" {
		t.Fatalf("stored at %s, want under %s", path, tmp)
	}
	if !strings.Contains(bl.stderr.String(), "files go to "+filepath.Dir(path)) {
		t.Errorf("listen's stderr does not name the directory:\n%s", bl.stderr)
	}
	bl.stop()
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the file is not kept after listen ends: %v", err)
	}
}

// TestListenKeyConflict: a listen whose key is taken by a newer session
// stops with exit status 1 and says why.
func TestListenKeyConflict(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	bob := newParty(t, "bob")
	bl := startListen(t, srv.URL, bob)
	bob.connect(t, srv.URL, client.Options{})
	err := bl.wait(t)
	if !errors.Is(err, client.ErrKeyConflict) {
		t.Fatalf("listen ended with %v, want key_conflict", err)
	}
	var stderr bytes.Buffer
	if code := report(nil, err, &stderr); code != exitFailure ||
		!strings.Contains(stderr.String(), "keypost: the relay closed the session: key_conflict: another session took this key") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if !strings.Contains(bl.stderr.String(), "state: closed (the relay closed the session: key_conflict)") {
		t.Errorf("listen's stderr:\n%s", bl.stderr)
	}
}

// chatter is a keypost chat run in-process with a pipe for its stdin.
type chatter struct {
	*background
	in *io.PipeWriter
}

func startChat(t *testing.T, url string, p party, peer string) *chatter {
	t.Helper()
	pr, pw := io.Pipe()
	args := p.args("chat", url, peer)
	b := startBackground(t, func(ctx context.Context, stdout, stderr io.Writer) error {
		return runChat(ctx, args[1:], pr, stdout, stderr)
	})
	t.Cleanup(func() { pw.Close() }) // after the stop: ends the line reader
	b.waitOutput(t, "chat's stderr", b.stderr, "(connected as "+p.key)
	return &chatter{b, pw}
}

func (c *chatter) say(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

func TestChat(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	alice, bob, carol := newParty(t, "alice"), newParty(t, "bob"), newParty(t, "carol")
	a := startChat(t, srv.URL, alice, bob.key)
	b := startChat(t, srv.URL, bob, alice.key)

	a.say(t, "hello bob")
	waitOutput(t, "bob's chat", b.stdout, "< hello bob\n")
	waitOutput(t, "alice's chat", a.stdout, "> hello bob ✓\n")
	waitOutput(t, "alice's chat", a.stdout, "  ✓✓ delivered\n")
	b.say(t, "hi alice\r") // a line ending in CR LF
	waitOutput(t, "alice's chat", a.stdout, "< hi alice\n")
	waitOutput(t, "bob's chat", b.stdout, "  ✓✓ delivered\n")

	// Another key is shown by its key; control characters are escaped.
	cc := carol.connect(t, srv.URL, client.Options{})
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	defer cancel()
	if _, err := cc.Send(ctx, mustKey(t, bob.key), "\x1b[2Jgotcha\nsecond line"); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, "bob's chat", b.stdout, "["+carol.key+`] \x1b[2Jgotcha`+"\n  second line\n")

	// A file from alice is stored and named.
	ac := alice.connect(t, srv.URL, client.Options{}) // takes alice's key: her chat stops
	data := bytes.Repeat([]byte("z"), 100000)
	if err := ac.SendStream(ctx, mustKey(t, bob.key), "z.txt", bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, "bob's chat", b.stdout, `< file "z.txt" (100000 bytes): `)
	out := b.stdout.String()
	path := strings.TrimSpace(out[strings.LastIndex(out, ": ")+2:])
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(path)) })
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, data) {
		t.Errorf("stored file %s: %v", path, err)
	}
	if err := a.wait(t); !errors.Is(err, client.ErrKeyConflict) {
		t.Errorf("alice's chat ended with %v, want key_conflict", err)
	}

	// End of input: exit 0.
	b.in.Close()
	if err := b.wait(t); err != nil {
		t.Fatalf("bob's chat at EOF: %v", err)
	}
}

func TestChatRejected(t *testing.T) {
	srv := relaytest.NewServer(t, relay.Config{})
	alice, nobody := newParty(t, "alice"), newParty(t, "nobody")
	a := startChat(t, srv.URL, alice, nobody.key)
	a.say(t, "anyone?")
	a.say(t, "")
	a.in.Close()
	if err := a.wait(t); err != nil {
		t.Fatalf("chat: %v", err)
	}
	if want := "> anyone? ✗ rejected by relay: recipient_unknown (no client holds " + nobody.key + " now)\n"; a.stdout.String() != want {
		t.Fatalf("stdout %q, want %q", a.stdout, want)
	}
}

// restartableRelay is a relay on a fixed address that can be stopped and
// started again, as an operator restarts one.
type restartableRelay struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	stop func()
}

func newRestartableRelay(t *testing.T) *restartableRelay {
	r := &restartableRelay{t: t, addr: "127.0.0.1:0"}
	r.start()
	t.Cleanup(r.halt)
	return r
}

func (r *restartableRelay) url() string { return "http://" + r.addr }

func (r *restartableRelay) start() {
	r.t.Helper()
	var ln net.Listener
	waitFor(r.t, func() bool {
		var err error
		ln, err = net.Listen("tcp", r.addr)
		return err == nil
	}, func() string { return "listening on " + r.addr })
	r.addr = ln.Addr().String()
	rl := relay.New(relay.Config{})
	srv := &http.Server{Handler: httpapi.New(rl, httpapi.Config{})}
	served := make(chan struct{})
	go func() {
		srv.Serve(ln)
		close(served)
	}()
	r.mu.Lock()
	r.stop = func() {
		rl.Close()
		srv.Close()
		<-served
	}
	r.mu.Unlock()
}

func (r *restartableRelay) halt() {
	r.mu.Lock()
	stop := r.stop
	r.stop = nil
	r.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// TestChatRelayRestart: both chats survive a restart of the relay and
// talk again afterwards.
func TestChatRelayRestart(t *testing.T) {
	r := newRestartableRelay(t)
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	a := startChat(t, r.url(), alice, bob.key)
	b := startChat(t, r.url(), bob, alice.key)
	a.say(t, "before")
	waitOutput(t, "bob's chat", b.stdout, "< before\n")
	// Its receipt too: a receipt the restart loses is never settled, and
	// chat would wait chatLinger for it at the end.
	waitOutput(t, "alice's chat", a.stdout, "  ✓✓ delivered\n")

	r.halt()
	waitOutput(t, "alice's chat", a.stderr, "(reconnecting…)")
	waitOutput(t, "bob's chat", b.stderr, "(reconnecting…)")
	r.start()
	waitOutput(t, "alice's chat", a.stderr, "(connected)\n")
	waitOutput(t, "bob's chat", b.stderr, "(connected)\n")

	b.say(t, "after")
	waitOutput(t, "alice's chat", a.stdout, "< after\n")
	waitOutput(t, "bob's chat", b.stdout, "> after ✓\n")
	a.in.Close()
	b.in.Close()
	for _, c := range []*chatter{a, b} {
		if err := c.wait(t); err != nil {
			t.Errorf("chat: %v", err)
		}
	}
}
