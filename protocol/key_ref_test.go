package protocol

import (
	"crypto/ed25519"
	"crypto/rand"
	"math/big"
	"testing"

	"filippo.io/edwards25519"
)

// This file keeps the first implementation of the key check, written with
// math/big straight from RFC 8032 §5.1.3: decompress the point (inverse
// and square root), then compute 8·P with three doublings. It is slow
// (tens of microseconds) but obviously right, so the tests use it as the
// reference that key.go's check (byte rules, then filippo.io/edwards25519)
// must agree with.

// Curve constants of edwards25519 (RFC 8032 §5.1).
var (
	fieldP  = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19)) // p = 2^255 - 19
	curveD  = computeD()                                                             // d = -121665/121666 mod p
	curveD2 = new(big.Int).Mod(new(big.Int).Lsh(curveD, 1), fieldP)                  // 2d
)

func computeD() *big.Int {
	inv := new(big.Int).ModInverse(big.NewInt(121666), fieldP)
	d := new(big.Int).Mul(big.NewInt(-121665), inv)
	return d.Mod(d, fieldP)
}

// refCheck is the reference for Key.check: it decompresses k, refusing
// non-canonical encodings, and then tests for small order by computing 8·P
// with three doublings.
func refCheck(k Key) keyStatus {
	x, y, st := refDecompress(k)
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
	if pt.isIdentity() {
		return keySmallOrder
	}
	return keyOK
}

// refDecompress returns the affine coordinates of the point k encodes (RFC
// 8032 §5.1.3), or why it encodes none canonically.
func refDecompress(k Key) (x, y *big.Int, st keyStatus) {
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
	u := new(big.Int).Sub(y2, big.NewInt(1))
	u.Mod(u, p)
	v := new(big.Int).Mul(curveD, y2)
	v.Add(v, big.NewInt(1))
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
	D := mod(new(big.Int).Mul(mod(new(big.Int).Mul(a.Z, big.NewInt(2))), b.Z))
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

// isIdentity reports whether a is (0:1), i.e. X = 0 and Y = Z.
func (a extPoint) isIdentity() bool { return a.X.Sign() == 0 && a.Y.Cmp(a.Z) == 0 }

// TestSmallOrderPoints: the 8 points of small order, derived from the
// curve equation (smallOrderPoints), are refused as such by check and by
// the reference, and the two with x = 0 have no second encoding with the
// sign bit set.
func TestSmallOrderPoints(t *testing.T) {
	pts := smallOrderPoints(t)
	if len(pts) != 8 {
		t.Fatalf("%d small-order points, want 8", len(pts))
	}
	for k := range pts {
		if got, ref := k.check(), refCheck(k); got != keySmallOrder || ref != keySmallOrder {
			t.Errorf("%x: check %v, reference %v, want small order", k[:], got, ref)
		}
		if x, _, _ := refDecompress(k); x != nil && x.Sign() == 0 {
			other := k
			other[31] ^= 0x80
			if got, ref := other.check(), refCheck(other); got != keyNonCanon || ref != keyNonCanon {
				t.Errorf("%x: x = 0 with the sign bit set: check %v, reference %v, want non-canonical", other[:], got, ref)
			}
		}
	}
}

// edgeKeys are encodings at the boundaries of every rule, each with both
// sign bits: y near 0, 1, p-1 and p, every y in [p, 2^255), powers of two
// and their neighbours, the small-order table and libsodium's list.
func edgeKeys(t *testing.T) []Key {
	p := fieldP
	var ys []*big.Int
	for i := int64(0); i < 64; i++ {
		ys = append(ys, big.NewInt(i), new(big.Int).Sub(p, big.NewInt(i+1)), new(big.Int).Add(p, big.NewInt(i%19)))
	}
	for n := uint(1); n < 255; n++ {
		pow := new(big.Int).Lsh(big.NewInt(1), n)
		ys = append(ys, pow, new(big.Int).Sub(pow, big.NewInt(1)), new(big.Int).Add(pow, big.NewInt(1)))
	}
	var keys []Key
	for _, y := range ys {
		keys = append(keys, keyFromY(y, 0), keyFromY(y, 1))
	}
	for k := range smallOrderPoints(t) {
		keys = append(keys, k)
	}
	for _, h := range libsodiumBlocklist {
		k := Key(mustHex(t, h))
		keys = append(keys, k)
	}
	for i, n := 0, len(keys); i < n; i++ {
		k := keys[i]
		k[31] ^= 0x80
		keys = append(keys, k)
	}
	return keys
}

// TestKeyCheckMatchesReference compares check with refCheck on edge
// values, random strings, generated keys and keys with a small-order
// component.
func TestKeyCheckMatchesReference(t *testing.T) {
	counts := map[keyStatus]int{}
	compare := func(what string, k Key) {
		t.Helper()
		got, want := k.check(), refCheck(k)
		if got != want {
			t.Fatalf("%s %x: check = %v, reference = %v", what, k[:], got, want)
		}
		counts[got]++
	}
	for _, k := range edgeKeys(t) {
		compare("edge", k)
	}
	for range 3000 {
		var k Key
		rand.Read(k[:])
		compare("random", k)
		// The same first byte and sign with all other bits of y set: y
		// within 256 of 2^255, so about one in 13 is ≥ p and the rest are
		// just below it, where the reductions are at their limits.
		for i := 1; i < 31; i++ {
			k[i] = 0xff
		}
		k[31] |= 0x7f
		compare("random high", k)
	}
	var torsion *edwards25519.Point
	for k, order := range smallOrderPoints(t) {
		if order == 8 {
			var err error
			if torsion, err = new(edwards25519.Point).SetBytes(k[:]); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	for range 300 {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		compare("generated", Key(pub))
		P, err := new(edwards25519.Point).SetBytes(pub)
		if err != nil {
			t.Fatal(err)
		}
		compare("generated + torsion", Key(new(edwards25519.Point).Add(P, torsion).Bytes()))
	}
	for _, st := range []keyStatus{keyOK, keyNonCanon, keyNotOnCurve, keySmallOrder} {
		if counts[st] == 0 {
			t.Errorf("no input gave %v: %v", st, counts)
		}
	}
}

// FuzzKeyCheck compares check with refCheck. The input is copied into a
// Key, so any length is used: shorter ones are padded with zeros.
func FuzzKeyCheck(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var k Key
		copy(k[:], b)
		if got, want := k.check(), refCheck(k); got != want {
			t.Fatalf("%x: check = %v, reference = %v", k[:], got, want)
		}
	})
}
