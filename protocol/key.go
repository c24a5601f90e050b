package protocol

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"

	"filippo.io/edwards25519"
)

// Key is a user id: the 32 raw bytes of an Ed25519 public key (§3: the public
// key is the user). Keys are compared as bytes, never as strings, so Key is
// an array and can be used as a map key directly.
type Key [32]byte

// KeyLen is the length of a key on the wire: 32 bytes in base64url without
// padding.
const KeyLen = 43

// ErrBadKey reports a key string that is not a canonical, usable Ed25519
// public key (wire code bad_key). Errors returned by DecodeKey and ParseKey
// wrap it with the reason.
var ErrBadKey = errors.New("bad key")

// keyEncoding is strict so that each key has exactly one string form: with
// non-strict decoding the two stray low bits of the last character could be
// anything, and four different strings would name the same key.
var keyEncoding = base64.RawURLEncoding.Strict()

// String returns the key's wire form: base64url without padding, 43
// characters.
func (k Key) String() string {
	var b [KeyLen]byte
	keyEncoding.Encode(b[:], k[:])
	return string(b[:])
}

// AppendText appends the key's wire form to b (encoding.TextAppender), so
// that a caller with a buffer can encode without allocating.
func (k Key) AppendText(b []byte) ([]byte, error) {
	return keyEncoding.AppendEncode(b, k[:]), nil
}

// MarshalText returns the key's wire form, so that a Key field in a JSON body
// travels as its base64url string.
func (k Key) MarshalText() ([]byte, error) {
	return k.AppendText(make([]byte, 0, KeyLen))
}

// UnmarshalText is ParseKey: a Key decoded from JSON is always a usable
// public key. Code that only needs to look a key up in a table of keys it
// already checked can decode the string with DecodeKey instead and skip the
// curve check.
func (k *Key) UnmarshalText(text []byte) error {
	key, err := parseKey(text)
	if err != nil {
		return err
	}
	*k = key
	return nil
}

// PublicKey returns the key as an ed25519.PublicKey (a copy, so the Key
// cannot be changed through it).
func (k Key) PublicKey() ed25519.PublicKey {
	pub := make(ed25519.PublicKey, ed25519.PublicKeySize)
	copy(pub, k[:])
	return pub
}

// KeyFromPublic converts an ed25519.PublicKey into a Key. It checks only the
// length: a key from ed25519.GenerateKey is always Valid, and code that
// got a public key from elsewhere can call Valid itself.
func KeyFromPublic(pub ed25519.PublicKey) (Key, error) {
	var k Key
	if len(pub) != ed25519.PublicKeySize {
		return k, fmt.Errorf("%w: public key is %d bytes, want %d", ErrBadKey, len(pub), ed25519.PublicKeySize)
	}
	copy(k[:], pub)
	return k, nil
}

// DecodeKey decodes a key's wire form without checking that it is a curve
// point: exactly 43 characters of base64url without padding whose last
// character carries no stray bits. It is cheap, for the hot path where the
// decoded key is then looked up among keys that were already checked (a
// signature's keyid, a recipient). Use ParseKey for a key seen for the first
// time.
func DecodeKey(s string) (Key, error) { return decodeKey(s) }

func decodeKey[T string | []byte](s T) (Key, error) {
	var k Key
	if len(s) != KeyLen {
		return k, fmt.Errorf("%w: %d characters, want %d", ErrBadKey, len(s), KeyLen)
	}
	// The standard decoder skips CR and LF. A 43-character string with a
	// line break would then be too short and fail anyway, but refuse it
	// explicitly rather than rely on that. Copying into an array also lets
	// Decode take a []byte without allocating.
	var src [KeyLen]byte
	for i := range KeyLen {
		c := s[i]
		if c == '\r' || c == '\n' {
			return k, fmt.Errorf("%w: not base64url", ErrBadKey)
		}
		src[i] = c
	}
	n, err := keyEncoding.Decode(k[:], src[:])
	if err != nil || n != len(k) {
		return Key{}, fmt.Errorf("%w: not canonical base64url without padding", ErrBadKey)
	}
	return k, nil
}

// ParseKey decodes a key's wire form (DecodeKey) and checks that it is a
// usable Ed25519 public key (Valid). Every key the relay learns for the first
// time goes through it (§3: keys cost nothing to make, so the relay cannot
// trust them).
func ParseKey(s string) (Key, error) { return parseKey(s) }

func parseKey[T string | []byte](s T) (Key, error) {
	k, err := decodeKey(s)
	if err != nil {
		return k, err
	}
	if st := k.check(); st != keyOK {
		return Key{}, fmt.Errorf("%w: %s", ErrBadKey, st)
	}
	return k, nil
}

// Valid reports whether k is the canonical encoding of a point on
// edwards25519 that is not of small order.
//
// Why each rule: a non-canonical encoding (y ≥ p, or x = 0 with the sign bit
// set) would give one point two ids; a string that does not decompress can
// never verify a signature; and a small-order point (one of the 8 with
// 8·P = identity) is a key for which signatures can be forged without any
// secret, so a "user" could be impersonated by anybody.
//
// It neither decompresses the point nor does point arithmetic (see check)
// and allocates nothing, so it is cheap enough for every key the relay
// learns; it still costs an order of magnitude more than DecodeKey, so a
// key already checked is looked up, not checked again.
func (k Key) Valid() bool { return k.check() == keyOK }

// keyStatus says why a key is not valid; tests use it to tell the cases
// apart.
type keyStatus int

const (
	keyOK         keyStatus = iota
	keyNonCanon             // y ≥ p, or x = 0 with the sign bit set
	keyNotOnCurve           // no x with -x² + y² = 1 + d·x²·y²
	keySmallOrder           // 8·P is the identity
)

func (s keyStatus) String() string {
	switch s {
	case keyOK:
		return "valid"
	case keyNonCanon:
		return "not a canonical point encoding"
	case keyNotOnCurve:
		return "not a point on edwards25519"
	case keySmallOrder:
		return "a point of small order"
	}
	return "unknown"
}

// check classifies k as RFC 8032 §5.1.3 decodes it, refusing what the
// usual decoders let through:
//
//   - non-canonical: y ≥ p, or x = 0 (y = ±1) with the sign bit set, so
//     that every point has one address;
//   - not on the curve: no x with -x² + y² = 1 + d·x²·y²;
//   - small order: 8·P is the identity.
//
// The point arithmetic is filippo.io/edwards25519, the implementation
// under crypto/ed25519; its SetBytes accepts non-canonical encodings, which
// the byte checks before it refuse. The verdicts are exactly those of the
// math/big reference in key_ref_test.go; the tests and FuzzKeyCheck
// compare the two.
func (k Key) check() keyStatus {
	top := k[31] & 0x7f
	sign := k[31] >> 7
	// y ≥ p = 2^255 - 19: y is 2^255-19 … 2^255-1, i.e. 0x7f ff … ff then
	// a first byte ≥ 0xed.
	if top == 0x7f && k[0] >= 0xed && allFF(k[1:31]) {
		return keyNonCanon
	}
	if sign == 1 && (k == signedOne || k == signedMinusOne) {
		return keyNonCanon // x = 0, and -0 = 0: the sign bit would be a second encoding
	}
	p, err := new(edwards25519.Point).SetBytes(k[:])
	if err != nil {
		return keyNotOnCurve
	}
	if new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1 {
		return keySmallOrder
	}
	return keyOK
}

func allFF(b []byte) bool {
	for _, c := range b {
		if c != 0xff {
			return false
		}
	}
	return true
}

// The encodings of y = 1 and y = p - 1 (the two points with x = 0) with
// the sign bit set.
var (
	signedOne      = Key{0: 1, 31: 0x80}
	signedMinusOne = func() Key {
		var k Key
		for i := range k {
			k[i] = 0xff
		}
		k[0] = 0xec // p - 1 = 2^255 - 20
		return k
	}()
)
