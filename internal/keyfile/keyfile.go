// Package keyfile reads and writes keypost private key files.
//
// A key file is UTF-8 text. Lines that are blank or start with '#' are
// comments; every other line is a field, "name: value", and exactly two
// fields must appear, once each:
//
//	# keypost private key — keep secret
//	public: <the public key: 32 bytes, base64url without padding, 43 characters>
//	private: <the Ed25519 seed: 32 bytes, base64url without padding, 43 characters>
//
// The private field holds the 32-byte seed of RFC 8032 rather than Go's
// 64-byte ed25519.PrivateKey, because the seed is the whole secret: the
// rest is the public key, derived from it. The public field is redundant on
// purpose: it lets a person see whose key a file holds without a tool, and
// Decode checks it against the seed, so a file damaged by hand or by a
// copy-and-paste error is refused rather than silently used as a different
// identity. Lines may end in CRLF, and space around names and values is
// ignored.
//
// The file is a secret. Write creates it with mode 0600 (owner read and
// write only). Read does not check the mode of the file it opens: it is the
// owner's job to keep it private, as with an SSH key.
package keyfile

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/keypost/keypost/protocol"
)

// Header is the comment line Encode puts first.
const Header = "# keypost private key — keep secret"

// MaxSize is the largest key file Read accepts. A real file is about 140
// bytes; the cap only stops a wrong path (a log, a device) from being read
// into memory whole.
const MaxSize = 64 << 10

// Mode is the permission Write gives a key file.
const Mode fs.FileMode = 0o600

// seedEncoding is strict for the same reason as protocol's key encoding: one
// seed, one string.
var seedEncoding = base64.RawURLEncoding.Strict()

// Encode returns the key file text of priv. It panics if priv is not an
// Ed25519 private key (64 bytes), which only a programming error produces.
func Encode(priv ed25519.PrivateKey) []byte {
	if len(priv) != ed25519.PrivateKeySize {
		panic(fmt.Sprintf("keyfile: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize))
	}
	key, _ := protocol.KeyFromPublic(priv.Public().(ed25519.PublicKey)) // the length is right
	var b bytes.Buffer
	b.WriteString(Header + "\n")
	b.WriteString("public: " + key.String() + "\n")
	b.WriteString("private: " + seedEncoding.EncodeToString(priv.Seed()) + "\n")
	return b.Bytes()
}

// Decode parses key file text (see the package comment) and returns the
// private key. Errors name the line at fault but never quote it, since it
// may hold the secret.
func Decode(data []byte) (ed25519.PrivateKey, error) {
	var pubText, seedText string
	var havePub, haveSeed bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, MaxSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF") // a byte-order mark some editors add
		}
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("keyfile: line %d: want \"public: …\" or \"private: …\"", n)
		}
		value = strings.TrimSpace(value)
		switch strings.TrimSpace(name) {
		case "public":
			if havePub {
				return nil, fmt.Errorf("keyfile: line %d: second public field", n)
			}
			pubText, havePub = value, true
		case "private":
			if haveSeed {
				return nil, fmt.Errorf("keyfile: line %d: second private field", n)
			}
			seedText, haveSeed = value, true
		default:
			return nil, fmt.Errorf("keyfile: line %d: unknown field (want public or private)", n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if !haveSeed {
		return nil, errors.New("keyfile: no private field")
	}
	if !havePub {
		return nil, errors.New("keyfile: no public field")
	}
	seed, err := seedEncoding.DecodeString(seedText)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("keyfile: private field is not %d bytes in base64url without padding", ed25519.SeedSize)
	}
	pub, err := protocol.DecodeKey(pubText)
	if err != nil {
		return nil, fmt.Errorf("keyfile: public field: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), pub[:]) {
		return nil, errors.New("keyfile: public field does not match the private key")
	}
	return priv, nil
}

// Read reads and decodes the key file at path.
func Read(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("keyfile: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("keyfile: %s is larger than %d bytes: not a key file", path, MaxSize)
	}
	priv, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return priv, nil
}

// Write writes priv to a new key file at path with mode 0600. An existing
// file is refused with an error wrapping fs.ErrExist, unless force is set:
// then the file is replaced atomically (written beside it and renamed over
// it), so a failed write never leaves half a key, and the result is 0600
// whatever the old file's mode was.
func Write(path string, priv ed25519.PrivateKey, force bool) error {
	data := Encode(priv)
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, Mode)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("keyfile: %s: %w", path, fs.ErrExist)
		}
		if err != nil {
			return fmt.Errorf("keyfile: %w", err)
		}
		if err := finish(f, data); err != nil {
			os.Remove(path)
			return err
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".keypost-key-*")
	if err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	if err := finish(f, data); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("keyfile: %w", err)
	}
	return nil
}

// finish sets f's mode (the umask may have removed bits the owner needs, or
// CreateTemp's default may change), writes data, syncs and closes f.
func finish(f *os.File, data []byte) error {
	err := f.Chmod(Mode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("keyfile: %w", err)
	}
	return nil
}
