package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// hmacVector is testdata/vectors/signing-hmac.json, shared with the
// JavaScript client's tests: the request of signing.json signed with the
// session profile (docs/protocol.md §4.6) instead of Ed25519.
type hmacVector struct {
	Description     string         `json:"description"`
	SecretHex       string         `json:"secret_hex"`
	HMACKey         string         `json:"hmac_key"`
	PublicKey       string         `json:"public_key"`
	Request         vectorRequest  `json:"request"`
	Headers         []vectorHeader `json:"headers"`
	SignatureBase   string         `json:"signature_base"`
	SignatureBase64 string         `json:"signature_base64"`
	SignatureHex    string         `json:"signature_hex"`
}

const hmacVectorFile = "../testdata/vectors/signing-hmac.json"

// buildHMACVector signs the request of the Ed25519 vector with the secret
// 00 01 … 1f, keyid the same public key.
func buildHMACVector(t *testing.T) hmacVector {
	t.Helper()
	ed := buildSigningVector(t)
	key, err := DecodeKey(ed.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := new([SessionSecretSize]byte)
	for i := range secret {
		secret[i] = byte(i)
	}
	req := ed.Request
	h := http.Header{}
	if err := SignRequestHMAC(h, key, secret, req.Method, req.Path, req.Session, []byte(req.Body), req.Nonce, time.Unix(req.Created, 0)); err != nil {
		t.Fatal(err)
	}
	s, err := ParseSignature(h)
	if err != nil {
		t.Fatal(err)
	}
	base, err := appendRequestBase(nil, req.Method, req.Path, h.Get(HeaderContentDigest), req.Session, s.Params())
	if err != nil {
		t.Fatal(err)
	}
	mac := s.Value[:sha256.Size]
	v := hmacVector{
		Description: "A keypost request signed with the opt-in session profile (protocol 1.0, docs/protocol.md §4.6): " +
			"the request of signing.json, with the same keyid, signed with RFC 9421 hmac-sha256 instead of Ed25519. " +
			"secret_hex is the 32-byte session secret, hmac_key the same bytes as /v1/auth hands them out " +
			"(base64url without padding). Signing request.method, request.path, request.session and the UTF-8 bytes " +
			"of request.body with request.nonce and request.created must give exactly these header values; " +
			"signature_base is the RFC 9421 §2.5 signature base (lines separated by a single LF, no trailing newline) " +
			"and signature_base64 its HMAC-SHA256 keyed with the secret.",
		SecretHex:       hex.EncodeToString(secret[:]),
		HMACKey:         base64.RawURLEncoding.EncodeToString(secret[:]),
		PublicKey:       ed.PublicKey,
		Request:         req,
		SignatureBase:   string(base),
		SignatureBase64: base64.StdEncoding.EncodeToString(mac),
		SignatureHex:    hex.EncodeToString(mac),
	}
	v.Headers = vectorHeaders(h)
	return v
}

func TestHMACSigningVector(t *testing.T) {
	got := goldenVector(t, hmacVectorFile, marshalVector(t, buildHMACVector(t)))

	// Check the file on its own terms, the way another implementation would
	// use it: headers → parse → verify, and the base and MAC by hand.
	var v hmacVector
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatal(err)
	}
	secret, err := DecodeSessionSecret(v.HMACKey)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(secret[:]) != v.SecretHex {
		t.Fatal("hmac_key and secret_hex differ")
	}
	h := headerOf(v.Headers)
	s, err := ParseSignature(h)
	if err != nil {
		t.Fatal(err)
	}
	if !s.HMAC() || s.Nonce != v.Request.Nonce || s.Created != v.Request.Created || s.KeyID.String() != v.PublicKey {
		t.Fatalf("parsed %+v", s)
	}
	if err := s.VerifyHMAC(secret, v.Request.Method, v.Request.Path, h.Get(HeaderRelaySession), h.Get(HeaderContentDigest), time.Unix(v.Request.Created, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckDigest(h, []byte(v.Request.Body)); err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, secret[:])
	m.Write([]byte(v.SignatureBase))
	if sig, _ := base64.StdEncoding.DecodeString(v.SignatureBase64); !hmac.Equal(sig, m.Sum(nil)) {
		t.Fatal("signature_base64 is not the HMAC-SHA256 of signature_base")
	}
	if h.Get(HeaderSignature) != "sig=:"+v.SignatureBase64+":" {
		t.Fatalf("Signature %q does not carry signature_base64", h.Get(HeaderSignature))
	}
	wantBase := strings.Join([]string{
		`"@method": ` + v.Request.Method,
		`"@path": ` + v.Request.Path,
		`"content-digest": ` + h.Get(HeaderContentDigest),
		`"relay-session": ` + v.Request.Session,
		`"@signature-params": ` + strings.TrimPrefix(h.Get(HeaderSignatureInput), "sig="),
	}, "\n")
	if v.SignatureBase != wantBase {
		t.Fatalf("signature_base:\n%s\nwant:\n%s", v.SignatureBase, wantBase)
	}

	// Only the algorithm differs from the Ed25519 vector (§4.6, item 3).
	ed := buildSigningVector(t)
	if edBase := strings.Replace(ed.SignatureBase, `;alg="ed25519";`, `;alg="hmac-sha256";`, 1); v.SignatureBase != edBase {
		t.Fatalf("the base differs from signing.json's in more than alg:\n%s\n%s", v.SignatureBase, edBase)
	}
}
