package protocol

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
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
// slow curve check.
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
// It uses math/big and costs tens of microseconds: call it once for a key
// the relay has not seen, not on every request.
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

// Curve constants of edwards25519 (RFC 8032 §5.1), built once. They are only
// read after init, so check is safe for concurrent use.
var (
	fieldP  = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19)) // p = 2^255 - 19
	curveD  = computeD()                                                             // d = -121665/121666 mod p
	curveD2 = new(big.Int).Mod(new(big.Int).Lsh(curveD, 1), fieldP)                  // 2d
	keyOne  = big.NewInt(1)
	keyTwo  = big.NewInt(2)
)

func computeD() *big.Int {
	inv := new(big.Int).ModInverse(big.NewInt(121666), fieldP)
	d := new(big.Int).Mul(big.NewInt(-121665), inv)
	return d.Mod(d, fieldP)
}

// check decompresses k, refusing non-canonical encodings, and then tests
// for small order by computing 8·P with three doublings.
func (k Key) check() keyStatus {
	x, y, st := k.decompress()
	if st != keyOK {
		return st
	}
	p := fieldP
	// 8·P in extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, x·y = T/Z.
	pt := extPoint{X: x, Y: y, Z: big.NewInt(1), T: new(big.Int).Mul(x, y)}
	pt.T.Mod(pt.T, p)
	for range 3 {
		pt = pt.add(pt)
	}
	// Identity is (0:1), i.e. X = 0 and Y = Z.
	if pt.X.Sign() == 0 && pt.Y.Cmp(pt.Z) == 0 {
		return keySmallOrder
	}
	return keyOK
}

// decompress returns the affine coordinates of the point k encodes (RFC 8032
// §5.1.3), or why it encodes none canonically.
func (k Key) decompress() (x, y *big.Int, st keyStatus) {
	p := fieldP
	// The encoding is y in little-endian with the sign of x in the top bit.
	var be [32]byte
	for i := range 32 {
		be[i] = k[31-i]
	}
	sign := be[0] >> 7
	be[0] &= 0x7f
	y = new(big.Int).SetBytes(be[:])
	if y.Cmp(p) >= 0 {
		return nil, nil, keyNonCanon
	}

	// x² = (y² - 1) / (d·y² + 1). The denominator is never 0 because -1/d is
	// not a square mod p.
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, p)
	u := new(big.Int).Sub(y2, keyOne)
	u.Mod(u, p)
	v := new(big.Int).Mul(curveD, y2)
	v.Add(v, keyOne)
	v.Mod(v, p)
	v.ModInverse(v, p)
	x2 := u.Mul(u, v)
	x2.Mod(x2, p)

	if x2.Sign() == 0 {
		if sign == 1 {
			return nil, nil, keyNonCanon // -0 = 0: the sign bit would be a second encoding
		}
		return new(big.Int), y, keyOK
	}
	x = new(big.Int).ModSqrt(x2, p)
	if x == nil {
		return nil, nil, keyNotOnCurve
	}
	if uint8(x.Bit(0)) != sign {
		x.Sub(p, x)
	}
	return x, y, keyOK
}

// extPoint is a point of edwards25519 in extended twisted Edwards
// coordinates, all values reduced mod p.
type extPoint struct{ X, Y, Z, T *big.Int }

// add returns a+b with the unified addition law for a = -1
// ("add-2008-hwcd-3", Hisil–Wong–Carter–Dawson 2008). It is complete on
// edwards25519 because d is not a square mod p: it needs no special case
// for doubling, the identity or points of small order, which is exactly
// what the small-order test feeds it.
func (a extPoint) add(b extPoint) extPoint {
	p := fieldP
	mod := func(z *big.Int) *big.Int { return z.Mod(z, p) }
	A := mod(new(big.Int).Mul(mod(new(big.Int).Sub(a.Y, a.X)), mod(new(big.Int).Sub(b.Y, b.X))))
	B := mod(new(big.Int).Mul(new(big.Int).Add(a.Y, a.X), new(big.Int).Add(b.Y, b.X)))
	C := mod(new(big.Int).Mul(mod(new(big.Int).Mul(a.T, curveD2)), b.T))
	D := mod(new(big.Int).Mul(mod(new(big.Int).Mul(a.Z, keyTwo)), b.Z))
	E := mod(new(big.Int).Sub(B, A))
	F := mod(new(big.Int).Sub(D, C))
	G := mod(new(big.Int).Add(D, C))
	H := mod(new(big.Int).Add(B, A))
	return extPoint{
		X: mod(new(big.Int).Mul(E, F)),
		Y: mod(new(big.Int).Mul(G, H)),
		T: mod(new(big.Int).Mul(E, H)),
		Z: mod(new(big.Int).Mul(F, G)),
	}
}
