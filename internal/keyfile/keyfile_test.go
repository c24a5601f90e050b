package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keypost/keypost/protocol"
)

// testKey is a fixed key, so that golden text can be written down.
func testKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
}

func TestEncodeFormat(t *testing.T) {
	priv := testKey()
	key, err := protocol.KeyFromPublic(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	want := Header + "\n" +
		"public: " + key.String() + "\n" +
		"private: BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc\n"
	if got := string(Encode(priv)); got != want {
		t.Fatalf("Encode:\n%s\nwant:\n%s", got, want)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(Encode(priv))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(priv) {
		t.Fatal("decoded key differs")
	}
}

func TestDecodeTolerates(t *testing.T) {
	good := string(Encode(testKey()))
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	for name, text := range map[string]string{
		"crlf":                strings.ReplaceAll(good, "\n", "\r\n"),
		"no final newline":    strings.TrimSuffix(good, "\n"),
		"no header":           lines[1] + "\n" + lines[2] + "\n",
		"private first":       lines[2] + "\n" + lines[1] + "\n",
		"blank and comments":  "\n\n# one\n" + lines[1] + "\n   \n  # two\n" + lines[2] + "\n\n",
		"spaces":              "  public :   " + lines[1][len("public: "):] + "  \n\tprivate:" + lines[2][len("private: "):] + "\t\n",
		"byte-order mark":     "\uFEFF" + good,
		"bom before field":    "\uFEFF" + lines[1] + "\n" + lines[2] + "\n",
		"comment with colons": "# a: b: c\n" + good,
	} {
		t.Run(name, func(t *testing.T) {
			priv, err := Decode([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			if !priv.Equal(testKey()) {
				t.Fatal("decoded key differs")
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := string(Encode(testKey()))
	lines := strings.Split(strings.TrimSuffix(good, "\n"), "\n")
	pub, priv := lines[1], lines[2]
	other := strings.Split(string(Encode(ed25519.NewKeyFromSeed(make([]byte, 32)))), "\n")[1]
	seed := priv[len("private: "):]
	for name, tc := range map[string]struct{ text, want string }{
		"empty":            {"", "no private field"},
		"comments only":    {Header + "\n", "no private field"},
		"no public":        {priv + "\n", "no public field"},
		"no private":       {pub + "\n", "no private field"},
		"two public":       {pub + "\n" + pub + "\n" + priv + "\n", "line 2: second public"},
		"two private":      {priv + "\n" + pub + "\n" + priv + "\n", "line 3: second private"},
		"unknown field":    {good + "comment: hi\n", "line 4: unknown field"},
		"no colon":         {good + "hello\n", "line 4: want"},
		"bare seed":        {seed + "\n", "line 1: want"},
		"wrong public":     {other + "\n" + priv + "\n", "does not match"},
		"bad public":       {"public: abc\n" + priv + "\n", "public field"},
		"short seed":       {pub + "\nprivate: " + seed[:42] + "\n", "private field is not 32 bytes"},
		"padded seed":      {pub + "\nprivate: " + seed + "=\n", "private field is not 32 bytes"},
		"std base64 seed":  {pub + "\nprivate: " + strings.NewReplacer("-", "+", "_", "/").Replace(seed) + "+\n", "private field"},
		"64-byte key":      {pub + "\nprivate: " + seedEncoding.EncodeToString(testKey()) + "\n", "private field is not 32 bytes"},
		"field name case":  {"Public: x\n", "unknown field"},
		"line too long":    {pub + "\n" + priv + "\n#" + strings.Repeat("x", MaxSize) + "\n", "too long"},
		"stray bits seed":  {pub + "\nprivate: " + seed[:42] + "d\n", "private field"},
		"empty private":    {pub + "\nprivate:\n", "private field is not"},
		"empty public":     {"public:\n" + priv + "\n", "public field"},
		"seed in the name": {seed + ": x\n", "line 1: unknown field"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode([]byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: %v, want an error containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), seed) {
				t.Fatalf("error %q quotes the secret", err)
			}
		})
	}
}

func TestWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.key")
	priv := testKey()
	if err := Write(path, priv, false); err != nil {
		t.Fatal(err)
	}
	checkMode(t, path)
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(priv) {
		t.Fatal("read key differs")
	}
}

func TestWriteRefusesExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.key")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Write(path, testKey(), false)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Write over an existing file: %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Fatalf("existing file changed to %q", b)
	}

	// force replaces it, and the result is 0600 although the old file was 0644.
	if err := Write(path, testKey(), true); err != nil {
		t.Fatal(err)
	}
	checkMode(t, path)
	if got, err := Read(path); err != nil || !got.Equal(testKey()) {
		t.Fatalf("Read after forced write: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files, want 1 (a temporary file left behind?)", len(entries))
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a missing file: %v, want fs.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("#\n"), MaxSize), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Read of a big file: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("Read of a bad file: %v, want an error naming the file", err)
	}
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != Mode {
		t.Fatalf("mode %v, want %v", st.Mode().Perm(), Mode)
	}
}
