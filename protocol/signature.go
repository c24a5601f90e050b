package protocol

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request signing: one fixed profile of RFC 9421 (HTTP Message Signatures)
// with Ed25519, over an RFC 9530 Content-Digest of the body.
//
// Why a profile and not a general RFC 9421 library: every POST is verified,
// and the fewer choices a request can make, the fewer ways two servers (or a
// server and a client library) can disagree about it. Every RFC 9421
// library can still produce an accepted request, because the profile only
// fixes choices the RFC leaves to the application: which components are
// covered, which parameters are present.
//
// A keypost request carries
//
//	Relay-Session: 5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e10
//	Content-Digest: sha-256=:<base64 of SHA-256(body)>:
//	Signature-Input: sig=("@method" "@path" "content-digest" "relay-session");keyid="<key>";alg="ed25519";tag="keypost/1";nonce="1";created=1767225600
//	Signature: sig=:<base64 of the Ed25519 signature>:
//
// and the server checks it as
//
//	sig, err := protocol.ParseSignature(r.Header)          // ErrBadSignature, ErrMultipleSignatures
//	err = sig.Verify(r.Method, r.URL.EscapedPath(),
//		protocol.FieldValue(r.Header, protocol.HeaderRelaySession),
//		protocol.FieldValue(r.Header, protocol.HeaderContentDigest), now) // ErrBadSignature
//	err = sig.CheckDigest(r.Header, body)                  // ErrBadDigest
//
// then compares sig.KeyID with the session's key and consumes sig.Nonce.

// Header names of a signed request.
const (
	HeaderRelaySession   = "Relay-Session"
	HeaderContentDigest  = "Content-Digest"
	HeaderSignatureInput = "Signature-Input"
	HeaderSignature      = "Signature"
)

// Fixed values of the signature profile.
const (
	// SignatureLabel is the label SignRequest uses. Verifiers accept any
	// label, since RFC 9421 libraries choose their own (remitly's is sig1).
	SignatureLabel = "sig"
	// SignatureAlg is the default algorithm; the alg parameter may be left
	// out for it.
	SignatureAlg = "ed25519"
	// SignatureAlgHMAC is the opt-in session profile (RFC 9421 §3.3.3):
	// HMAC-SHA256 keyed with the session secret that /v1/auth handed out.
	// The alg parameter is required for it, so that a verifier never has to
	// guess which key a signature is meant for.
	SignatureAlgHMAC = "hmac-sha256"
	// SessionSecretSize is the size of a session secret in bytes.
	SessionSecretSize = 32
	// SignatureTag is the required tag parameter. It binds a signature to
	// this protocol: a user's key is long-lived and may sign other things,
	// and none of those can be replayed here, nor these elsewhere.
	SignatureTag = "keypost/1"
	// MaxNonce is the largest nonce, 2^53-1, so that the counter is exact in
	// a JavaScript number.
	MaxNonce uint64 = 1<<53 - 1
)

// coveredComponents is the covered-components Inner List every keypost
// signature has, as RFC 8941 serializes it.
const coveredComponents = `("@method" "@path" "content-digest" "relay-session")`

// Errors of request signing. Each error returned by ParseSignature, Verify
// and CheckDigest wraps exactly one of them, with the reason in its text.
var (
	// ErrBadSignature: the signature is missing, malformed, outside the
	// profile (components, tag, alg, nonce, parameters), expired, or does not
	// verify (wire code bad_signature, 401).
	ErrBadSignature = errors.New("bad signature")
	// ErrMultipleSignatures: Signature-Input or Signature holds more than one
	// signature. The protocol answers it with 400, not 401: the request is
	// not badly signed but outside the protocol, and it does not wrap
	// ErrBadSignature.
	ErrMultipleSignatures = errors.New("more than one signature")
	// ErrBadDigest: Content-Digest is missing, malformed, has no sha-256
	// member, or does not match the body (wire code bad_digest, 401).
	ErrBadDigest = errors.New("bad content digest")
)

var (
	sigStdBase64 = base64.StdEncoding
	sigRawBase64 = base64.RawStdEncoding
)

// ContentDigest returns the Content-Digest field value for body (RFC 9530):
// sha-256=:<standard base64 of SHA-256(body)>:
func ContentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	var b [9 + 44 + 1]byte
	copy(b[:], "sha-256=:")
	sigStdBase64.Encode(b[9:], sum[:])
	b[len(b)-1] = ':'
	return string(b[:])
}

// FieldValue returns the value of header field name as RFC 9421 §2.1 uses it
// in a signature base: each field line with leading and trailing whitespace
// removed, several lines joined with ", ". name must be in canonical form
// (as the Header* constants are). It returns "" when the field is absent.
func FieldValue(h http.Header, name string) string {
	vs := h[name]
	switch len(vs) {
	case 0:
		return ""
	case 1:
		return trimOWS(vs[0])
	}
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(trimOWS(v))
	}
	return b.String()
}

// trimOWS removes leading and trailing SP and HTAB.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Component is one covered-component line of a signature base: ID is the
// component identifier serialized as it appears in the covered-components
// list, quotes and parameters included (`"@method"`, `"content-type";sf`),
// and Value the component's canonical value (RFC 9421 §2.1, §2.2).
type Component struct {
	ID    string
	Value string
}

// AppendSignatureBase appends to dst the signature base of RFC 9421 §2.5:
// one line `ID: Value` per component, in order, each ended by "\n", then
// `"@signature-params": ` and params, the serialized Inner List of the
// covered components with the signature parameters (without the label).
//
// It is generic, so the RFC's own test vectors can be rebuilt with it, and
// it is the only place a base is built: SignRequest and Signature.Verify
// both call it. It fails, as §2.5 requires, when a component is repeated or
// is @signature-params itself, and when the base would not be plain ASCII
// text on its lines (no control characters but HTAB, no non-ASCII bytes):
// a value with a line break in it could forge a line.
func AppendSignatureBase(dst []byte, components []Component, params string) ([]byte, error) {
	for i, c := range components {
		if len(c.ID) < 2 || c.ID[0] != '"' {
			return dst, fmt.Errorf("component identifier %q is not a quoted string", c.ID)
		}
		if name, _, _ := strings.Cut(c.ID[1:], `"`); name == "@signature-params" {
			return dst, errors.New(`"@signature-params" cannot be a covered component`)
		}
		for _, d := range components[:i] {
			if d.ID == c.ID {
				return dst, fmt.Errorf("component %s is covered twice", c.ID)
			}
		}
		if !baseText(c.ID) || !baseText(c.Value) {
			return dst, fmt.Errorf("component %s has a character not allowed in a signature base", c.ID)
		}
		dst = append(dst, c.ID...)
		dst = append(dst, ": "...)
		dst = append(dst, c.Value...)
		dst = append(dst, '\n')
	}
	if !baseText(params) {
		return dst, errors.New("signature parameters have a character not allowed in a signature base")
	}
	dst = append(dst, `"@signature-params": `...)
	dst = append(dst, params...)
	return dst, nil
}

// baseText reports whether s may appear on a line of a signature base.
func baseText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// appendRequestBase appends the signature base of a keypost request.
func appendRequestBase(dst []byte, method, path, contentDigest, session, params string) ([]byte, error) {
	components := [4]Component{
		{`"@method"`, method},
		{`"@path"`, path},
		{`"content-digest"`, contentDigest},
		{`"relay-session"`, session},
	}
	return AppendSignatureBase(dst, components[:], params)
}

// appendParams appends the signature parameters SignRequest sends: the
// covered components and keyid, alg, tag, nonce, created, in that order.
func appendParams(dst []byte, key Key, alg string, nonce uint64, created int64) []byte {
	dst = append(dst, coveredComponents...)
	dst = append(dst, `;keyid="`...)
	dst, _ = key.AppendText(dst)
	dst = append(dst, `";alg="`...)
	dst = append(dst, alg...)
	dst = append(dst, `";tag="`+SignatureTag+`";nonce="`...)
	dst = strconv.AppendUint(dst, nonce, 10)
	dst = append(dst, `";created=`...)
	dst = strconv.AppendInt(dst, created, 10)
	return dst
}

// SignRequest signs a keypost request: it sets Relay-Session,
// Content-Digest, Signature-Input and Signature on h for a request with
// this method, path (as sent, i.e. percent-encoded, no query), session id
// and body, signed by priv with this nonce (1…MaxNonce, a new one for every
// request of the session) and creation time.
//
// It returns an error, and leaves h alone, when priv is not an Ed25519
// private key, the nonce is out of range, or a value cannot go into a
// signature base (a control or non-ASCII character, e.g. in a session id
// from a misbehaving server).
func SignRequest(h http.Header, priv ed25519.PrivateKey, method, path, session string, body []byte, nonce uint64, created time.Time) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("protocol: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	return signRequest(h, Key(priv[32:]), SignatureAlg, func(base []byte) []byte {
		return ed25519.Sign(priv, base)
	}, method, path, session, body, nonce, created)
}

// SignRequestHMAC signs a keypost request as SignRequest does, but with
// the opt-in session profile: alg="hmac-sha256", keyed with the session
// secret that /v1/auth returned for this session, and keyid the key bound
// to the session. It is only accepted after that auth, on that session.
func SignRequestHMAC(h http.Header, key Key, secret *[SessionSecretSize]byte, method, path, session string, body []byte, nonce uint64, created time.Time) error {
	if secret == nil {
		return errors.New("protocol: no session secret")
	}
	return signRequest(h, key, SignatureAlgHMAC, func(base []byte) []byte {
		return sessionMAC(secret, base)
	}, method, path, session, body, nonce, created)
}

// sessionMAC is the hmac-sha256 signature of base (RFC 9421 §3.3.3).
func sessionMAC(secret *[SessionSecretSize]byte, base []byte) []byte {
	m := hmac.New(sha256.New, secret[:])
	m.Write(base)
	return m.Sum(nil)
}

func signRequest(h http.Header, key Key, alg string, sign func(base []byte) []byte, method, path, session string, body []byte, nonce uint64, created time.Time) error {
	if nonce < 1 || nonce > MaxNonce {
		return fmt.Errorf("protocol: nonce %d out of range 1…%d", nonce, MaxNonce)
	}
	session = trimOWS(session)
	digest := ContentDigest(body)
	params := string(appendParams(make([]byte, 0, 200), key, alg, nonce, created.Unix()))
	var buf [512]byte
	base, err := appendRequestBase(buf[:0], method, path, digest, session, params)
	if err != nil {
		return fmt.Errorf("protocol: cannot sign: %w", err)
	}
	sig := sign(base)
	h.Set(HeaderRelaySession, session)
	h.Set(HeaderContentDigest, digest)
	h.Set(HeaderSignatureInput, SignatureLabel+"="+params)
	h.Set(HeaderSignature, SignatureLabel+"=:"+sigStdBase64.EncodeToString(sig)+":")
	return nil
}

// Signature is a parsed keypost request signature.
type Signature struct {
	Label   string // the signature's label, e.g. "sig"
	KeyID   Key    // the signer (decoded only: compare it with a key already checked)
	Alg     string // SignatureAlg, SignatureAlgHMAC, or "" when the alg parameter is absent (Ed25519)
	Nonce   uint64 // 1…MaxNonce
	Created int64  // the created parameter, 0 when absent; the protocol ignores it
	Expires int64  // the expires parameter (Unix seconds), 0 when absent

	// Value is the signature itself: all 64 bytes for Ed25519, the first
	// 32 for hmac-sha256 (the rest are zero).
	Value [ed25519.SignatureSize]byte

	params string // the @signature-params value: the member's text as received
	short  bool   // Value held a 32-byte (HMAC-sized) byte sequence
}

// HMAC reports whether the signature uses the session profile
// (alg="hmac-sha256"): verify it with VerifyHMAC, not Verify.
func (s *Signature) HMAC() bool { return s.Alg == SignatureAlgHMAC }

// Params returns the signature parameters exactly as received (the
// Signature-Input member without its label), which is the
// "@signature-params" line of the signature base.
//
// RFC 9421 §3.2 builds that line by re-serializing the parsed parameters,
// and §4.1 requires the signer to send that same serialization. To leave no
// room between the two readings (raw text or re-serialization), ParseSignature
// accepts only Signature-Input members already in RFC 8941 canonical form,
// for which both are the same string.
func (s *Signature) Params() string { return s.params }

// ParseSignature reads the Signature-Input and Signature fields of h. Both
// must be well-formed RFC 8941 Dictionaries holding one member each, with
// the same label (more than one: ErrMultipleSignatures). The member of
// Signature-Input must be, in canonical serialization, the Inner List
// ("@method" "@path" "content-digest" "relay-session") with parameters
// keyid (a string, DecodeKey), tag ("keypost/1"), nonce (a string, decimal,
// 1…MaxNonce, no leading zero), and optionally alg ("ed25519" or
// "hmac-sha256"), created (an Integer, ignored) and expires (an Integer >
// 0); no other parameter, none twice. The member of Signature must be a
// Byte Sequence without parameters: 64 bytes for Ed25519, 32 for
// hmac-sha256 (which must be named by alg). Every other failure wraps
// ErrBadSignature.
//
// It does not verify the signature (Verify does) nor check that KeyID is a
// valid curve point (the caller compares it with a key it checked).
func ParseSignature(h http.Header) (*Signature, error) {
	s := new(Signature)
	if err := s.parse(h); err != nil {
		return nil, err
	}
	return s, nil
}

func badSig(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadSignature}, args...)...)
}

// onlyMember reads the Dictionary in field name of h and returns its first
// member and how many members it has.
func onlyMember(h http.Header, name string) (dictMember, int, error) {
	v := FieldValue(h, name)
	if v == "" {
		return dictMember{}, 0, badSig("no %s field", name)
	}
	r := dictReader{p: sfParser{s: v}}
	var first dictMember
	n := 0
	for {
		m, ok := r.next()
		if !ok {
			break
		}
		if n == 0 {
			first = m
		}
		n++
	}
	if r.bad {
		return dictMember{}, 0, badSig("%s is not a well-formed structured-field dictionary", name)
	}
	if n == 0 {
		return dictMember{}, 0, badSig("%s is empty", name)
	}
	return first, n, nil
}

func (s *Signature) parse(h http.Header) error {
	in, nIn, err := onlyMember(h, HeaderSignatureInput)
	if err != nil {
		return err
	}
	sig, nSig, err := onlyMember(h, HeaderSignature)
	if err != nil {
		return err
	}
	if nIn > 1 || nSig > 1 {
		return fmt.Errorf("%w: Signature-Input has %d members and Signature %d; exactly one is allowed", ErrMultipleSignatures, nIn, nSig)
	}
	if in.key != sig.key {
		return badSig("Signature-Input label %q differs from Signature label %q", in.key, sig.key)
	}
	s.Label = in.key

	// Signature: a Byte Sequence, no parameters (a byte sequence cannot
	// contain ';', so one means parameters follow it).
	v := sig.value
	if sig.bare || len(v) < 2 || v[0] != ':' || v[len(v)-1] != ':' || strings.IndexByte(v, ';') >= 0 {
		return badSig("Signature member is not a byte sequence without parameters")
	}
	if !decodeBase64(s.Value[:], v[1:len(v)-1]) {
		if !decodeBase64(s.Value[:sha256.Size], v[1:len(v)-1]) {
			return badSig("signature is not %d bytes (Ed25519) or %d (hmac-sha256)", ed25519.SignatureSize, sha256.Size)
		}
		s.short = true
	}

	// Signature-Input: the fixed covered components, then parameters.
	if in.bare || !strings.HasPrefix(in.value, coveredComponents) {
		return badSig("covered components must be exactly %s", coveredComponents)
	}
	s.params = in.value
	if err := s.parseParams(in.value[len(coveredComponents):]); err != nil {
		return err
	}
	if s.short != s.HMAC() {
		if s.HMAC() {
			return badSig("an hmac-sha256 signature is %d bytes", sha256.Size)
		}
		return badSig("an Ed25519 signature is %d bytes", ed25519.SignatureSize)
	}
	return nil
}

// Parameter bits, to find missing and repeated parameters.
const (
	paramKeyID = 1 << iota
	paramAlg
	paramTag
	paramNonce
	paramCreated
	paramExpires
)

// parseParams reads the signature parameters (already known to be
// well-formed) and holds them to the profile and to canonical form.
func (s *Signature) parseParams(rest string) error {
	p := sfParser{s: rest}
	seen := 0
	for !p.eof() {
		if p.s[p.i] != ';' {
			return badSig("unexpected %q after the parameters", p.s[p.i:])
		}
		p.i++
		if p.peek() == ' ' {
			return badSig("signature parameters are not in canonical form (space after ';')")
		}
		key, ok := p.key()
		if !ok {
			return badSig("malformed parameter")
		}
		var it sfItem
		if p.peek() == '=' {
			p.i++
			if it, ok = p.bareItem(); !ok {
				return badSig("malformed parameter %q", key)
			}
		} else {
			it = sfItem{kind: sfBoolean, raw: "1"} // a bare key is Boolean true
		}
		var bit int
		switch key {
		case "keyid":
			bit = paramKeyID
			if it.kind != sfString {
				return badSig("keyid is not a string")
			}
			k, err := DecodeKey(it.raw)
			if err != nil {
				return badSig("keyid: %v", err)
			}
			s.KeyID = k
		case "alg":
			bit = paramAlg
			if it.kind != sfString || (it.raw != SignatureAlg && it.raw != SignatureAlgHMAC) {
				return badSig("alg must be the string %q or %q", SignatureAlg, SignatureAlgHMAC)
			}
			s.Alg = it.raw
		case "tag":
			bit = paramTag
			if it.kind != sfString || it.raw != SignatureTag {
				return badSig("tag must be the string %q", SignatureTag)
			}
		case "nonce":
			bit = paramNonce
			if it.kind != sfString {
				return badSig("nonce is not a string")
			}
			n, ok := parseNonce(it.raw)
			if !ok {
				return badSig("nonce must be a decimal number 1…%d without leading zeros", MaxNonce)
			}
			s.Nonce = n
		case "created", "expires":
			if it.kind != sfInteger {
				return badSig("%s is not an integer", key)
			}
			n, ok := canonicalInt(it.raw)
			if !ok {
				return badSig("%s is not in canonical form", key)
			}
			if key == "created" {
				bit = paramCreated
				s.Created = n
			} else {
				bit = paramExpires
				if n < 1 {
					return badSig("expires %d is in the past", n)
				}
				s.Expires = n
			}
		default:
			return badSig("unknown parameter %q", key)
		}
		if seen&bit != 0 {
			return badSig("parameter %s appears twice", key)
		}
		seen |= bit
	}
	switch {
	case seen&paramKeyID == 0:
		return badSig("no keyid parameter")
	case seen&paramTag == 0:
		return badSig("no tag parameter")
	case seen&paramNonce == 0:
		return badSig("no nonce parameter")
	}
	return nil
}

// parseNonce parses a nonce: 1…MaxNonce in decimal, no sign, no leading
// zero, so each nonce has one spelling.
func parseNonce(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > 16 || s[0] == '0' {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !sfIsDigit(c) {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > MaxNonce {
		return 0, false
	}
	return n, true
}

// canonicalInt converts an RFC 8941 Integer (at most 15 digits, checked by
// the parser) that is in canonical form: no leading zero, no "-0".
func canonicalInt(s string) (int64, bool) {
	neg := s[0] == '-'
	d := s
	if neg {
		d = s[1:]
	}
	if d[0] == '0' && (len(d) > 1 || neg) {
		return 0, false
	}
	var n int64
	for i := 0; i < len(d); i++ {
		n = n*10 + int64(d[i]-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// Verify checks the signature over a request with this method, path (as
// received, percent-encoded, e.g. r.URL.EscapedPath()), Relay-Session and
// Content-Digest field values (see FieldValue; surrounding whitespace is
// removed here too) at time now: expires, if present, must not have passed,
// and the Ed25519 signature by KeyID must verify over the RFC 9421 §2.5
// signature base. Failures wrap ErrBadSignature.
//
// It does not check the body against Content-Digest: CheckDigest does.
//
// An hmac-sha256 signature never verifies here: VerifyHMAC checks it.
func (s *Signature) Verify(method, path, session, contentDigest string, now time.Time) error {
	if s.HMAC() {
		return badSig("an hmac-sha256 signature needs the session secret")
	}
	var buf [512]byte
	base, err := s.base(buf[:0], method, path, session, contentDigest, now)
	if err != nil {
		return err
	}
	if !ed25519.Verify(s.KeyID[:], base, s.Value[:]) {
		return badSig("signature does not verify")
	}
	return nil
}

// VerifyHMAC checks an hmac-sha256 signature (the session profile) as
// Verify checks an Ed25519 one, keyed with the session's secret; a nil
// secret (the session has none) or an Ed25519 signature fails. The
// comparison takes constant time.
func (s *Signature) VerifyHMAC(secret *[SessionSecretSize]byte, method, path, session, contentDigest string, now time.Time) error {
	if !s.HMAC() {
		return badSig("not an hmac-sha256 signature")
	}
	if secret == nil {
		return badSig("the session has no secret; ask for one with /v1/auth {\"hmac\":true}")
	}
	var buf [512]byte
	base, err := s.base(buf[:0], method, path, session, contentDigest, now)
	if err != nil {
		return err
	}
	if !hmac.Equal(sessionMAC(secret, base), s.Value[:sha256.Size]) {
		return badSig("signature does not verify")
	}
	return nil
}

// base checks expires and appends the signature base the signature covers.
func (s *Signature) base(dst []byte, method, path, session, contentDigest string, now time.Time) ([]byte, error) {
	if s.Expires != 0 && now.Unix() > s.Expires {
		return nil, badSig("expired at %d", s.Expires)
	}
	base, err := appendRequestBase(dst, method, path, trimOWS(contentDigest), trimOWS(session), s.params)
	if err != nil {
		return nil, badSig("%v", err)
	}
	return base, nil
}

// CheckDigest checks that the Content-Digest field of h is a well-formed
// RFC 8941 Dictionary with exactly one sha-256 member, a 32-byte Byte
// Sequence equal to SHA-256(body). Other members (other algorithms) are
// ignored, as RFC 9530 allows. Failures wrap ErrBadDigest.
//
// The signature covers the Content-Digest field, not the body, so a request
// is only bound to its body once both Verify and CheckDigest passed.
func (s *Signature) CheckDigest(h http.Header, body []byte) error {
	v := FieldValue(h, HeaderContentDigest)
	if v == "" {
		return fmt.Errorf("%w: no Content-Digest field", ErrBadDigest)
	}
	r := dictReader{p: sfParser{s: v}}
	var want [sha256.Size]byte
	found := 0
	for {
		m, ok := r.next()
		if !ok {
			break
		}
		if m.key != "sha-256" {
			continue
		}
		found++
		it := sfParser{s: m.value}
		item, ok := it.bareItem()
		if m.bare || !ok || item.kind != sfBytes || !decodeBase64(want[:], item.raw) {
			return fmt.Errorf("%w: sha-256 is not a %d-byte byte sequence", ErrBadDigest, sha256.Size)
		}
	}
	switch {
	case r.bad:
		return fmt.Errorf("%w: Content-Digest is not a well-formed structured-field dictionary", ErrBadDigest)
	case found == 0:
		return fmt.Errorf("%w: Content-Digest has no sha-256 member", ErrBadDigest)
	case found > 1:
		return fmt.Errorf("%w: Content-Digest has %d sha-256 members", ErrBadDigest, found)
	}
	if sha256.Sum256(body) != want {
		return fmt.Errorf("%w: sha-256 does not match the body", ErrBadDigest)
	}
	return nil
}

// ---- RFC 8941 parsing ----
//
// A small RFC 8941 (Structured Field Values) parser, just enough to read
// Signature-Input, Signature and Content-Digest. It checks the full grammar
// of a Dictionary (so a malformed field is refused even in members keypost
// does not use) but builds no values: it walks the input and hands back
// substrings, so parsing a signed request's headers does not allocate.
//
// RFC 9651 extensions (Dates, Display Strings) are not RFC 8941 and are
// refused as malformed.

// sfKind is the type of a bare item.
type sfKind uint8

const (
	sfInvalid sfKind = iota
	sfInteger
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBoolean
)

// sfItem is a parsed bare item. raw is the item's text without its
// delimiters: for a String the text between the quotes with escapes not
// undone (escaped says whether there was one), for a Byte Sequence the
// base64 between the colons, for a Boolean "0" or "1", otherwise the item as
// written.
type sfItem struct {
	kind    sfKind
	raw     string
	escaped bool
}

// sfParser walks s from position i, following the parsing algorithms of
// RFC 8941 §4.2. Every method returns false when the input does not match
// the grammar; the position is then meaningless.
type sfParser struct {
	s string
	i int
}

func (p *sfParser) eof() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// skipOWS skips optional whitespace (SP / HTAB), allowed around the commas
// of a Dictionary.
func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func sfIsDigit(c byte) bool   { return '0' <= c && c <= '9' }
func sfIsLCAlpha(c byte) bool { return 'a' <= c && c <= 'z' }
func sfIsAlpha(c byte) bool   { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// sfIsTChar reports whether c is an RFC 9110 tchar.
func sfIsTChar(c byte) bool {
	if sfIsAlpha(c) || sfIsDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// key parses a Dictionary or Parameter key (§4.2.3.3).
func (p *sfParser) key() (string, bool) {
	start := p.i
	if p.eof() {
		return "", false
	}
	if c := p.s[p.i]; !sfIsLCAlpha(c) && c != '*' {
		return "", false
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !sfIsLCAlpha(c) && !sfIsDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i], true
}

// bareItem parses a Bare Item (§4.2.3.1).
func (p *sfParser) bareItem() (sfItem, bool) {
	if p.eof() {
		return sfItem{}, false
	}
	switch c := p.s[p.i]; {
	case c == '-' || sfIsDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case c == ':':
		return p.bytes()
	case c == '?':
		return p.boolean()
	case sfIsAlpha(c) || c == '*':
		return p.token()
	}
	return sfItem{}, false
}

// number parses an Integer or Decimal (§4.2.4).
func (p *sfParser) number() (sfItem, bool) {
	start := p.i
	kind := sfInteger
	if p.peek() == '-' {
		p.i++
	}
	if p.eof() || !sfIsDigit(p.s[p.i]) {
		return sfItem{}, false
	}
	digits := 0 // characters of input_number, the dot included
	dot := -1
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case sfIsDigit(c):
		case kind == sfInteger && c == '.':
			if digits > 12 {
				return sfItem{}, false
			}
			kind = sfDecimal
			dot = digits
		default:
			goto done
		}
		p.i++
		digits++
		if kind == sfInteger && digits > 15 || kind == sfDecimal && digits > 16 {
			return sfItem{}, false
		}
	}
done:
	if kind == sfDecimal {
		frac := digits - dot - 1
		if frac < 1 || frac > 3 {
			return sfItem{}, false
		}
	}
	return sfItem{kind: kind, raw: p.s[start:p.i]}, true
}

// str parses a String (§4.2.5).
func (p *sfParser) str() (sfItem, bool) {
	p.i++ // the opening quote
	start := p.i
	escaped := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.eof() {
				return sfItem{}, false
			}
			if n := p.s[p.i]; n != '"' && n != '\\' {
				return sfItem{}, false
			}
			p.i++
			escaped = true
		case c == '"':
			return sfItem{kind: sfString, raw: p.s[start : p.i-1], escaped: escaped}, true
		case c < 0x20 || c > 0x7e:
			return sfItem{}, false
		}
	}
	return sfItem{}, false
}

// token parses a Token (§4.2.6).
func (p *sfParser) token() (sfItem, bool) {
	start := p.i
	p.i++ // first character checked by bareItem
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !sfIsTChar(c) && c != ':' && c != '/' {
			break
		}
		p.i++
	}
	return sfItem{kind: sfToken, raw: p.s[start:p.i]}, true
}

// bytes parses a Byte Sequence (§4.2.7). As §4.2.7 recommends, missing "="
// padding and non-zero pad bits are accepted; anything else that base64
// cannot decode is not.
func (p *sfParser) bytes() (sfItem, bool) {
	p.i++ // the opening colon
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ':' {
		c := p.s[p.i]
		if !sfIsAlpha(c) && !sfIsDigit(c) && c != '+' && c != '/' && c != '=' {
			return sfItem{}, false
		}
		p.i++
	}
	if p.eof() {
		return sfItem{}, false
	}
	b64 := p.s[start:p.i]
	p.i++ // the closing colon
	if !validBase64(b64) {
		return sfItem{}, false
	}
	return sfItem{kind: sfBytes, raw: b64}, true
}

// validBase64 reports whether s (already known to use only the base64
// alphabet and "=") decodes: "=" only as one or two final characters that
// complete a 4-character group, and no lone final character.
func validBase64(s string) bool {
	n := len(s)
	pad := 0
	for pad < 2 && n > 0 && s[n-1] == '=' {
		n--
		pad++
	}
	for i := range n {
		if s[i] == '=' {
			return false
		}
	}
	if pad > 0 {
		return (n+pad)%4 == 0 && n%4 != 0
	}
	return n%4 != 1
}

// decodeBase64 decodes a validated base64 Byte Sequence body into dst,
// which it must fill exactly. It copies through a stack array so that the
// decoder gets a []byte without an allocation. It is not strict about the
// last character's unused bits on purpose: RFC 8941 §4.2.7 says parsers
// SHOULD NOT fail when they are not zero (or when padding is missing).
// Nothing rests on the spelling: the signed text holds the nonce, not the
// signature.
func decodeBase64(dst []byte, s string) bool {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	var buf [88]byte
	if len(s) > len(buf) || sigRawBase64.DecodedLen(len(s)) != len(dst) {
		return false
	}
	n := copy(buf[:], s)
	m, err := sigRawBase64.Decode(dst, buf[:n])
	return err == nil && m == len(dst)
}

// boolean parses a Boolean (§4.2.8).
func (p *sfParser) boolean() (sfItem, bool) {
	p.i++ // the question mark
	if c := p.peek(); c == '0' || c == '1' {
		p.i++
		return sfItem{kind: sfBoolean, raw: p.s[p.i-1 : p.i]}, true
	}
	return sfItem{}, false
}

// params skips Parameters (§4.2.3.2).
func (p *sfParser) params() bool {
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek() == '=' {
			p.i++
			if _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
	return true
}

// itemOrInnerList skips an Item or an Inner List with their Parameters
// (§4.2.1.1, §4.2.1.2, §4.2.3).
func (p *sfParser) itemOrInnerList() bool {
	if p.peek() != '(' {
		if _, ok := p.bareItem(); !ok {
			return false
		}
		return p.params()
	}
	p.i++
	for !p.eof() {
		p.skipSP()
		if p.peek() == ')' {
			p.i++
			return p.params()
		}
		if _, ok := p.bareItem(); !ok {
			return false
		}
		if !p.params() {
			return false
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return false
		}
	}
	return false
}

// dictMember is one member of a Dictionary: its key and the text of its
// value (an Item or Inner List with its Parameters; for a member written
// without "=", a Boolean true, only its Parameters, and bare is set).
type dictMember struct {
	key   string
	value string
	bare  bool
}

// dictReader walks a Dictionary (§4.2.2) member by member. Keys are not
// de-duplicated: a repeated key is returned twice, so that callers can refuse
// it instead of silently keeping the last one.
type dictReader struct {
	p       sfParser
	started bool
	done    bool
	bad     bool // the field is not a well-formed Dictionary
}

// next returns the next member. At the end of the field, or at a syntax
// error (bad is then set), it returns false.
func (r *dictReader) next() (dictMember, bool) {
	var m dictMember
	p := &r.p
	if r.done {
		return m, false
	}
	if !r.started {
		r.started = true
		p.skipSP()
		if p.eof() {
			r.done = true
			return m, false
		}
	} else {
		p.skipOWS()
		if p.eof() {
			r.done = true
			return m, false
		}
		if p.s[p.i] != ',' {
			return r.fail()
		}
		p.i++
		p.skipOWS()
		if p.eof() {
			return r.fail() // trailing comma
		}
	}
	var ok bool
	if m.key, ok = p.key(); !ok {
		return r.fail()
	}
	start := p.i
	if p.peek() == '=' {
		p.i++
		start = p.i
		ok = p.itemOrInnerList()
	} else {
		m.bare = true
		ok = p.params()
	}
	if !ok {
		return r.fail()
	}
	m.value = p.s[start:p.i]
	return m, true
}

func (r *dictReader) fail() (dictMember, bool) {
	r.done, r.bad = true, true
	return dictMember{}, false
}
