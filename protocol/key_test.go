package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	// An independent edwards25519 implementation, used only here as an
	// oracle for key.go and for the math/big reference in key_ref_test.go.
	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// keyFromY encodes the point with this y and x sign bit.
func keyFromY(y *big.Int, sign byte) Key {
	var k Key
	b := y.FillBytes(make([]byte, 32))
	for i := range 32 {
		k[i] = b[31-i]
	}
	k[31] |= sign << 7
	return k
}

func keyY(k Key) *big.Int {
	var be [32]byte
	for i := range 32 {
		be[i] = k[31-i]
	}
	be[0] &= 0x7f
	return new(big.Int).SetBytes(be[:])
}

func TestGeneratedKeysAreValid(t *testing.T) {
	for range 200 {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k, err := KeyFromPublic(pub)
		if err != nil {
			t.Fatal(err)
		}
		if !k.Valid() {
			t.Fatalf("generated key %s not Valid", k)
		}
		s := k.String()
		if len(s) != KeyLen || s != base64.RawURLEncoding.EncodeToString(pub) {
			t.Fatalf("String() = %q", s)
		}
		k2, err := ParseKey(s)
		if err != nil || k2 != k {
			t.Fatalf("ParseKey(%q) = %v, %v", s, k2, err)
		}
		if !bytes.Equal(k.PublicKey(), pub) {
			t.Fatal("PublicKey() differs")
		}
	}
}

func TestKeyText(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := KeyFromPublic(pub)
	type body struct {
		Key Key `json:"key"`
	}
	b, err := json.Marshal(body{k})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"key":"` + k.String() + `"}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var got body
	if err := json.Unmarshal(b, &got); err != nil || got.Key != k {
		t.Fatalf("round trip: %v %v", got.Key, err)
	}
	// UnmarshalText is ParseKey: a small-order key is refused.
	err = json.Unmarshal([]byte(`{"key":"`+Key{1}.String()+`"}`), &got)
	if !errors.Is(err, ErrBadKey) {
		t.Fatalf("small-order key in JSON: err = %v", err)
	}
	if _, err := KeyFromPublic(pub[:31]); !errors.Is(err, ErrBadKey) {
		t.Fatalf("KeyFromPublic(31 bytes) err = %v", err)
	}
	// PublicKey is a copy.
	pk := k.PublicKey()
	pk[0] ^= 1
	if pk[0] == k[0] {
		t.Fatal("PublicKey aliases the key")
	}
}

func TestDecodeKeyRejects(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	good := base64.RawURLEncoding.EncodeToString(pub)
	// A last character with stray low bits: 43 chars carry 258 bits, the
	// last 2 must be 0. Find one that decodes non-strictly to the same key.
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", good[42])
	stray := good[:42] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last|1])
	if b, err := base64.RawURLEncoding.DecodeString(stray); err != nil || !bytes.Equal(b, pub) {
		t.Fatalf("test setup: stray form %q does not decode leniently to the key", stray)
	}
	cases := map[string]string{
		"empty":             "",
		"42 chars":          good[:42],
		"44 chars":          good + "A",
		"padded":            base64.URLEncoding.EncodeToString(pub),
		"stray bits":        stray,
		"std alphabet +":    good[:10] + "+" + good[11:],
		"std alphabet /":    good[:10] + "/" + good[11:],
		"line feed":         good[:20] + "\n" + good[21:],
		"carriage return":   good[:20] + "\r" + good[21:],
		"space":             good[:20] + " " + good[21:],
		"non-ASCII":         good[:20] + "é" + good[22:],
		"padding inside":    good[:20] + "=" + good[21:],
		"33 bytes of data":  base64.RawURLEncoding.EncodeToString(append(pub, 0))[:KeyLen],
		"base64url of 31 B": base64.RawURLEncoding.EncodeToString(pub[:31]),
	}
	for name, s := range cases {
		if s == good {
			continue
		}
		if _, err := DecodeKey(s); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: DecodeKey(%q) err = %v, want ErrBadKey", name, s, err)
		}
		if _, err := ParseKey(s); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: ParseKey(%q) err = %v, want ErrBadKey", name, s, err)
		}
		var k Key
		if err := k.UnmarshalText([]byte(s)); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: UnmarshalText(%q) err = %v, want ErrBadKey", name, s, err)
		}
	}
}

// libsodiumBlocklist is the list of small-order encodings in libsodium's
// ed25519_ref10.c (has_small_order), which compares it with the sign bit
// cleared. It is a reference to check the computed list against, not the
// source of truth.
var libsodiumBlocklist = []string{
	// 0 (order 4)
	"0000000000000000000000000000000000000000000000000000000000000000",
	// 1 (order 1)
	"0100000000000000000000000000000000000000000000000000000000000000",
	// 2707385501144840649318225287225658788936804267575313519463743609750303402022 (order 8)
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	// 55188659117513257062467267217118295137698188065244968500265048394206261417927 (order 8)
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	// p-1 (order 2)
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	// p (=0, order 4)
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	// p+1 (=1, order 1)
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

// smallOrderPoints computes the 8 points P with 8·P = identity from the
// curve equation, independently of key.go and of refDecompress:
// identity (0, 1), order 2 (0, -1), order 4 (±√-1, 0), and order 8, whose
// doubles have y = 0, i.e. x² = -y², so -x²+y² = 1+d·x²·y² becomes
// d·y⁴ + 2y² - 1 = 0 and y² = (-1 ± √(1+d)) / d.
func smallOrderPoints(t *testing.T) map[Key]int {
	t.Helper()
	p := fieldP
	mod := func(z *big.Int) *big.Int { return z.Mod(z, p) }
	sqrtM1 := new(big.Int).ModSqrt(new(big.Int).Sub(p, big.NewInt(1)), p)
	if sqrtM1 == nil {
		t.Fatal("-1 is not a square mod p")
	}
	neg := func(z *big.Int) *big.Int { return mod(new(big.Int).Sub(p, z)) }
	type pt struct{ x, y *big.Int }
	pts := map[int][]pt{
		1: {{big.NewInt(0), big.NewInt(1)}},
		2: {{big.NewInt(0), new(big.Int).Sub(p, big.NewInt(1))}},
		4: {{sqrtM1, big.NewInt(0)}, {neg(sqrtM1), big.NewInt(0)}},
	}
	s := new(big.Int).ModSqrt(mod(new(big.Int).Add(curveD, big.NewInt(1))), p)
	if s == nil {
		t.Fatal("1+d is not a square")
	}
	dInv := new(big.Int).ModInverse(curveD, p)
	for _, root := range []*big.Int{s, neg(s)} {
		y2 := mod(new(big.Int).Mul(mod(new(big.Int).Sub(root, big.NewInt(1))), dInv))
		y := new(big.Int).ModSqrt(y2, p)
		if y == nil {
			continue
		}
		for _, yy := range []*big.Int{y, neg(y)} {
			x := mod(new(big.Int).Mul(sqrtM1, yy)) // x² = -y²
			pts[8] = append(pts[8], pt{x, yy}, pt{neg(x), yy})
		}
	}
	if len(pts[8]) != 4 {
		t.Fatalf("found %d points of order 8, want 4", len(pts[8]))
	}
	out := map[Key]int{}
	for order, list := range pts {
		for _, q := range list {
			// On the curve: -x² + y² = 1 + d·x²·y².
			x2 := mod(new(big.Int).Mul(q.x, q.x))
			y2 := mod(new(big.Int).Mul(q.y, q.y))
			lhs := mod(new(big.Int).Sub(y2, x2))
			rhs := mod(new(big.Int).Add(big.NewInt(1), mod(new(big.Int).Mul(curveD, mod(new(big.Int).Mul(x2, y2))))))
			if lhs.Cmp(rhs) != 0 {
				t.Fatalf("computed point (%v, %v) is not on the curve", q.x, q.y)
			}
			// Its order is exactly the claimed one.
			e := extPoint{X: q.x, Y: q.y, Z: big.NewInt(1), T: mod(new(big.Int).Mul(q.x, q.y))}
			isID := func(e extPoint) bool { return e.X.Sign() == 0 && e.Y.Cmp(e.Z) == 0 }
			k := 1
			for !isID(e) {
				if k > 8 {
					t.Fatalf("point of claimed order %d is not of small order", order)
				}
				e = e.add(e)
				k *= 2
			}
			if k != order {
				t.Fatalf("point has order %d, claimed %d", k, order)
			}
			out[keyFromY(q.y, byte(q.x.Bit(0)))] = order
		}
	}
	if len(out) != 8 {
		t.Fatalf("%d distinct small-order points, want 8", len(out))
	}
	return out
}

func TestSmallOrderRejected(t *testing.T) {
	computed := smallOrderPoints(t)
	for k, order := range computed {
		if st := k.check(); st != keySmallOrder {
			t.Errorf("point of order %d %x: check = %v, want small order", order, k[:], st)
		}
		if _, err := ParseKey(k.String()); !errors.Is(err, ErrBadKey) {
			t.Errorf("ParseKey(small order %s) err = %v", k, err)
		}
		// The oracle agrees it is a point of small order.
		P, err := new(edwards25519.Point).SetBytes(k[:])
		if err != nil {
			t.Fatalf("oracle cannot decode %x: %v", k[:], err)
		}
		if new(edwards25519.Point).MultByCofactor(P).Equal(edwards25519.NewIdentityPoint()) != 1 {
			t.Errorf("oracle: 8·P != identity for %x", k[:])
		}
	}

	// Cross-check with libsodium's list: its canonical entries (y < p),
	// with both signs where x ≠ 0, are exactly the computed points; its
	// other entries are non-canonical. Every entry, with either sign bit,
	// is refused.
	fromList := map[Key]bool{}
	for _, h := range libsodiumBlocklist {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			t.Fatalf("bad blocklist entry %s", h)
		}
		for sign := byte(0); sign < 2; sign++ {
			var k Key
			copy(k[:], b)
			k[31] = k[31]&0x7f | sign<<7
			if k.Valid() {
				t.Errorf("blocklist entry %x (sign %d) is Valid", k[:], sign)
			}
			if keyY(k).Cmp(fieldP) >= 0 {
				if st := k.check(); st != keyNonCanon {
					t.Errorf("blocklist entry %x: check = %v, want non-canonical", k[:], st)
				}
				continue
			}
			if st := k.check(); st == keySmallOrder {
				fromList[k] = true
			} else if st != keyNonCanon { // x = 0 with the sign bit
				t.Errorf("blocklist entry %x: check = %v", k[:], st)
			}
		}
	}
	if len(fromList) != len(computed) {
		t.Errorf("blocklist gives %d canonical small-order encodings, computed %d", len(fromList), len(computed))
	}
	for k := range computed {
		if !fromList[k] {
			t.Errorf("computed small-order point %x is not in the libsodium list", k[:])
		}
	}
}

func TestNonCanonicalRejected(t *testing.T) {
	// Every y in [p, 2^255) with either sign bit.
	for i := int64(0); i < 19; i++ {
		y := new(big.Int).Add(fieldP, big.NewInt(i))
		for sign := byte(0); sign < 2; sign++ {
			k := keyFromY(y, sign)
			if st := k.check(); st != keyNonCanon {
				t.Errorf("y = p+%d sign %d: check = %v, want non-canonical", i, sign, st)
			}
			if _, err := ParseKey(k.String()); !errors.Is(err, ErrBadKey) {
				t.Errorf("ParseKey(y = p+%d) err = %v", i, err)
			}
		}
	}
	// x = 0 with the sign bit set: y = 1 and y = p-1.
	for _, y := range []*big.Int{big.NewInt(1), new(big.Int).Sub(fieldP, big.NewInt(1))} {
		k := keyFromY(y, 1)
		if st := k.check(); st != keyNonCanon {
			t.Errorf("x=0 with sign bit, y=%v: check = %v", y, st)
		}
	}
}

// TestNotOnCurveRejected finds y values for which (y²-1)/(d·y²+1) is not a
// square by Euler's criterion (not by key.go's method) and checks that
// they are refused with either sign.
func TestNotOnCurveRejected(t *testing.T) {
	p := fieldP
	exp := new(big.Int).Rsh(new(big.Int).Sub(p, big.NewInt(1)), 1) // (p-1)/2
	found := 0
	for yv := int64(2); found < 50; yv++ {
		y := big.NewInt(yv)
		y2 := new(big.Int).Mul(y, y)
		u := new(big.Int).Sub(y2, big.NewInt(1))
		v := new(big.Int).Add(new(big.Int).Mul(curveD, y2), big.NewInt(1))
		v.ModInverse(v.Mod(v, p), p)
		x2 := u.Mul(u, v).Mod(u, p)
		if new(big.Int).Exp(x2, exp, p).Cmp(big.NewInt(1)) == 0 || x2.Sign() == 0 {
			continue // a square: on the curve
		}
		found++
		for sign := byte(0); sign < 2; sign++ {
			k := keyFromY(y, sign)
			if st := k.check(); st != keyNotOnCurve {
				t.Errorf("y=%d: check = %v, want not on curve", yv, st)
			}
			if _, err := new(edwards25519.Point).SetBytes(k[:]); err == nil {
				t.Errorf("y=%d: the oracle decodes it", yv)
			}
		}
	}
}

// TestKeyAgainstOracle compares check with filippo.io/edwards25519 on
// random strings and on random valid points, including ones with a
// small-order component (valid: only points OF small order are refused).
func TestKeyAgainstOracle(t *testing.T) {
	counts := map[keyStatus]int{}
	msg := []byte("keypost cross-check")
	for range 2000 {
		var k Key
		rand.Read(k[:])
		st := k.check()
		counts[st]++
		P, err := new(edwards25519.Point).SetBytes(k[:])
		switch {
		case err != nil:
			if st != keyNotOnCurve {
				t.Fatalf("%x: oracle cannot decode, check = %v", k[:], st)
			}
			// A key that does not decompress never verifies anything.
			var sig [64]byte
			rand.Read(sig[:])
			sig[63] &= 0x0f // keep S < L so that only the key can fail
			if ed25519.Verify(k[:], msg, sig[:]) {
				t.Fatalf("%x: not on the curve but ed25519.Verify accepted", k[:])
			}
		case !bytes.Equal(P.Bytes(), k[:]):
			if st != keyNonCanon {
				t.Fatalf("%x: oracle re-encodes differently, check = %v", k[:], st)
			}
		default:
			// The same affine point: x = X/Z and y = Y/Z.
			X, Y, Z, _ := P.ExtendedCoordinates()
			zInv := new(big.Int).ModInverse(feInt(Z), fieldP)
			ox := new(big.Int).Mod(new(big.Int).Mul(feInt(X), zInv), fieldP)
			oy := new(big.Int).Mod(new(big.Int).Mul(feInt(Y), zInv), fieldP)
			if x, y, _ := refDecompress(k); x.Cmp(ox) != 0 || y.Cmp(oy) != 0 {
				t.Fatalf("%x: decompressed to (%v, %v), oracle (%v, %v)", k[:], x, y, ox, oy)
			}
			small := new(edwards25519.Point).MultByCofactor(P).Equal(edwards25519.NewIdentityPoint()) == 1
			if small != (st == keySmallOrder) || !small && st != keyOK {
				t.Fatalf("%x: oracle small=%v, check = %v", k[:], small, st)
			}
		}
	}
	if counts[keyOK] < 500 || counts[keyNotOnCurve] < 500 {
		t.Fatalf("unexpected distribution %v", counts)
	}

	torsion, _ := new(edwards25519.Point).SetBytes(mustHex(t, libsodiumBlocklist[2]))
	for range 50 {
		var s [64]byte
		rand.Read(s[:])
		sc, _ := edwards25519.NewScalar().SetUniformBytes(s[:])
		P := new(edwards25519.Point).ScalarBaseMult(sc)
		for _, Q := range []*edwards25519.Point{P, new(edwards25519.Point).Add(P, torsion)} {
			k := Key(Q.Bytes())
			if !k.Valid() {
				t.Fatalf("%x: a point of large order is not Valid", k[:])
			}
		}
	}
}

// feInt converts an oracle field element to a big.Int.
func feInt(e *field.Element) *big.Int {
	le := e.Bytes()
	be := make([]byte, len(le))
	for i := range le {
		be[i] = le[len(le)-1-i]
	}
	return new(big.Int).SetBytes(be)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeKeyNoAllocs(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	s := base64.RawURLEncoding.EncodeToString(pub)
	if n := testing.AllocsPerRun(100, func() { DecodeKey(s) }); n != 0 {
		t.Fatalf("DecodeKey allocates %v times", n)
	}
}

func BenchmarkKeyValid(b *testing.B) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k := Key(pub)
	b.ReportAllocs()
	for b.Loop() {
		if !k.Valid() {
			b.Fatal("not valid")
		}
	}
}

// BenchmarkKeyNotOnCurve times the verdict for a string that is not a
// point, which is what about half of all random strings are.
func BenchmarkKeyNotOnCurve(b *testing.B) {
	k := keyFromY(big.NewInt(2), 0)
	for k.check() != keyNotOnCurve {
		k[0]++
	}
	b.ReportAllocs()
	for b.Loop() {
		if k.Valid() {
			b.Fatal("valid")
		}
	}
}

func BenchmarkParseKey(b *testing.B) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	s := base64.RawURLEncoding.EncodeToString(pub)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseKey(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeKey(b *testing.B) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	s := base64.RawURLEncoding.EncodeToString(pub)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeKey(s); err != nil {
			b.Fatal(err)
		}
	}
}
