package protocol

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	httpsig "github.com/remitly-oss/httpsig-go"
)

// The opt-in session profile (docs/protocol.md §4.6): hmac-sha256 keyed
// with the session secret /v1/auth handed out, under the same covered
// components, parameters and nonce rules as Ed25519 (§4.5).

var testSecret = &[SessionSecretSize]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

func signedHMAC(t *testing.T, f fixture, secret *[SessionSecretSize]byte) http.Header {
	t.Helper()
	h := http.Header{}
	if err := SignRequestHMAC(h, f.key, secret, f.method, f.path, f.session, f.body, 7, time.Unix(1767225600, 0)); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHMACRoundTrip(t *testing.T) {
	f := newFixture()
	h := signedHMAC(t, f, testSecret)
	if got := h.Get(HeaderSignatureInput); !strings.Contains(got, `;alg="hmac-sha256";`) {
		t.Fatalf("Signature-Input %q does not name hmac-sha256", got)
	}
	s, err := ParseSignature(h)
	if err != nil {
		t.Fatal(err)
	}
	if !s.HMAC() || s.KeyID != f.key || s.Nonce != 7 {
		t.Fatalf("parsed %+v", s)
	}
	now := time.Now()
	digest := FieldValue(h, HeaderContentDigest)
	if err := s.VerifyHMAC(testSecret, f.method, f.path, f.session, digest, now); err != nil {
		t.Fatalf("VerifyHMAC: %v", err)
	}
	if err := s.CheckDigest(h, f.body); err != nil {
		t.Fatal(err)
	}

	other := *testSecret
	other[0] ^= 1
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"Ed25519 verifier", s.Verify(f.method, f.path, f.session, digest, now)},
		{"no secret", s.VerifyHMAC(nil, f.method, f.path, f.session, digest, now)},
		{"another secret", s.VerifyHMAC(&other, f.method, f.path, f.session, digest, now)},
		{"another path", s.VerifyHMAC(testSecret, f.method, "/v1/ack", f.session, digest, now)},
		{"another session", s.VerifyHMAC(testSecret, f.method, f.path, "5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e11", digest, now)},
		{"another digest", s.VerifyHMAC(testSecret, f.method, f.path, f.session, ContentDigest([]byte("x")), now)},
	} {
		if !errors.Is(tc.err, ErrBadSignature) {
			t.Errorf("%s: err = %v, want ErrBadSignature", tc.name, tc.err)
		}
	}

	// An Ed25519 signature is not an HMAC one either.
	eh := http.Header{}
	if err := SignRequest(eh, f.priv, f.method, f.path, f.session, f.body, 7, now); err != nil {
		t.Fatal(err)
	}
	es, err := ParseSignature(eh)
	if err != nil {
		t.Fatal(err)
	}
	if err := es.VerifyHMAC(testSecret, f.method, f.path, f.session, FieldValue(eh, HeaderContentDigest), now); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifyHMAC of an Ed25519 signature: %v", err)
	}
}

// TestHMACSizeMatchesAlg: the length of the byte sequence must be the
// algorithm's, and a 32-byte signature must name hmac-sha256.
func TestHMACSizeMatchesAlg(t *testing.T) {
	f := newFixture()
	h := signedHMAC(t, f, testSecret)
	mac := h.Get(HeaderSignature)
	eh := http.Header{}
	if err := SignRequest(eh, f.priv, f.method, f.path, f.session, f.body, 7, time.Now()); err != nil {
		t.Fatal(err)
	}
	ed := eh.Get(HeaderSignature)
	for _, tc := range []struct{ name, input, sig string }{
		{"hmac alg, 64 bytes", h.Get(HeaderSignatureInput), ed},
		{"ed25519 alg, 32 bytes", eh.Get(HeaderSignatureInput), mac},
		{"no alg, 32 bytes", strings.Replace(h.Get(HeaderSignatureInput), `;alg="hmac-sha256"`, "", 1), mac},
		{"other alg", strings.Replace(h.Get(HeaderSignatureInput), `hmac-sha256`, `hmac-sha512`, 1), mac},
		{"48 bytes", h.Get(HeaderSignatureInput), "sig=:" + strings.Repeat("A", 64) + ":"},
	} {
		hh := h.Clone()
		hh.Set(HeaderSignatureInput, tc.input)
		hh.Set(HeaderSignature, tc.sig)
		if _, err := ParseSignature(hh); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: err = %v, want ErrBadSignature", tc.name, err)
		}
	}
}

func TestSignRequestHMACNeedsSecret(t *testing.T) {
	f := newFixture()
	h := http.Header{}
	if err := SignRequestHMAC(h, f.key, nil, f.method, f.path, f.session, f.body, 1, time.Now()); err == nil || len(h) != 0 {
		t.Fatalf("err = %v, header %v", err, h)
	}
}

// TestInteropHMACOursToRemitly: remitly's RFC 9421 verifier accepts our
// hmac-sha256 signatures with the same secret and rebuilds the same base.
func TestInteropHMACOursToRemitly(t *testing.T) {
	f := newFixture()
	req := httptest.NewRequest(http.MethodPost, "http://relay.test/v1/send", bytes.NewReader(f.body))
	if err := SignRequestHMAC(req.Header, f.key, testSecret, req.Method, req.URL.EscapedPath(), f.session, f.body, 9, time.Now()); err != nil {
		t.Fatal(err)
	}
	keys := remitlyHMACKeys{f.key.String(): testSecret[:]}
	profile := httpsig.VerifyProfile{
		SignatureLabel:    SignatureLabel,
		RequiredFields:    remitlyFields,
		RequiredMetadata:  []httpsig.Metadata{httpsig.MetaKeyID, httpsig.MetaAlgorithm, httpsig.MetaTag, httpsig.MetaNonce},
		AllowedAlgorithms: []httpsig.Algorithm{httpsig.Algo_HMAC_SHA256},
	}
	res, err := httpsig.Verify(req, keys, profile)
	if err != nil || !res.Verified {
		t.Fatalf("remitly refuses our HMAC signature: %v", err)
	}
	wrong := *testSecret
	wrong[31] ^= 0x80
	if _, err := httpsig.Verify(req, remitlyHMACKeys{f.key.String(): wrong[:]}, profile); err == nil {
		t.Fatal("remitly accepts our HMAC signature under another secret")
	}
}

type remitlyHMACKeys map[string][]byte

func (k remitlyHMACKeys) FetchByKeyID(_ context.Context, _ http.Header, keyID string) (httpsig.KeySpecer, error) {
	secret, ok := k[keyID]
	if !ok {
		return nil, errors.New("unknown key")
	}
	return httpsig.KeySpec{KeyID: keyID, Algo: httpsig.Algo_HMAC_SHA256, Secret: secret}, nil
}

func (remitlyHMACKeys) Fetch(context.Context, http.Header, httpsig.MetadataProvider) (httpsig.KeySpecer, error) {
	return nil, errors.New("keyid required")
}

func BenchmarkVerifyHMAC(b *testing.B) {
	f := newFixture()
	h := http.Header{}
	if err := SignRequestHMAC(h, f.key, testSecret, f.method, f.path, f.session, f.body, 1, testNow); err != nil {
		b.Fatal(err)
	}
	s, err := ParseSignature(h)
	if err != nil {
		b.Fatal(err)
	}
	session, digest := h.Get(HeaderRelaySession), h.Get(HeaderContentDigest)
	benchLoop(b, func() error { return s.VerifyHMAC(testSecret, f.method, f.path, session, digest, testNow) })
}

func BenchmarkSignRequestHMAC(b *testing.B) {
	f := newFixture()
	h := http.Header{}
	benchLoop(b, func() error {
		return SignRequestHMAC(h, f.key, testSecret, f.method, f.path, f.session, f.body, 1, testNow)
	})
}

// DecodeSessionSecret takes exactly the 43 characters of base64url
// without padding that /v1/auth hands out, and nothing else.
func TestDecodeSessionSecret(t *testing.T) {
	good := base64.RawURLEncoding.EncodeToString(testSecret[:])
	if k, err := DecodeSessionSecret(good); err != nil || *k != *testSecret {
		t.Fatalf("DecodeSessionSecret(%q) = %v, %v", good, k, err)
	}
	for _, bad := range []string{
		"",
		good[:42],
		good + "A",
		base64.URLEncoding.EncodeToString(testSecret[:]),                     // padded
		base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), // '+' and '/': not url-safe
		good[:42] + "B", // stray bits in the last character
		strings.Repeat("!", 43),
	} {
		if _, err := DecodeSessionSecret(bad); err == nil {
			t.Errorf("DecodeSessionSecret(%q) accepted", bad)
		}
	}
}
