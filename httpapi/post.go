package httpapi

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// verb handles one signed POST whose signature, digest and nonce have been
// verified; key is the acting identity (§4.5).
type verb func(sess *relay.Session, p posted) (any, error)

// posted is a verified POST: its signer (§4.5), its body and, on
// /v1/auth, the body already decoded (the signer check needed it).
type posted struct {
	key  protocol.Key
	body []byte
	auth protocol.AuthRequest
}

// post wraps the verb routed at path with what every POST shares: method,
// content type, body limit, the RFC 9421 signature, the session, the
// signer check and the nonce. The cheap checks run before the Ed25519
// verification. What depends on the verb (auth's key from the body and
// its Ed25519-only rule, the send rate) follows the route, not the
// request's path.
func (s *Server) post(path string, v verb) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := s.handlePost(r, path, v)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, res)
	})
}

func (s *Server) handlePost(r *http.Request, path string, v verb) (any, error) {
	if r.Method != http.MethodPost {
		return nil, &apiError{code: protocol.CodeMethodNotAllowed, detail: "use POST"}
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return nil, fail(protocol.CodeUnsupportedMedia, "Content-Encoding is not accepted; send the body as is")
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, fail(protocol.CodeUnsupportedMedia, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.obs.Refused(LimitBodySize)
			return nil, fail(protocol.CodeBodyTooLarge, "the body is larger than max_body_bytes")
		}
		return nil, fail(protocol.CodeBadRequest, "the body could not be read")
	}
	sig, err := protocol.ParseSignature(r.Header)
	if err != nil {
		return nil, err
	}
	sessID := protocol.FieldValue(r.Header, protocol.HeaderRelaySession)
	sess, err := s.relay.Lookup(sessID)
	if err != nil {
		return nil, err
	}
	// The signer must be the session's key (§4.5); on /v1/auth, the key
	// being bound.
	p := posted{body: body}
	if path == protocol.PathAuth {
		if err := decodeStrict(body, &p.auth); err != nil {
			return nil, err
		}
		if p.key, err = protocol.ParseKey(p.auth.Key); err != nil {
			return nil, err
		}
	} else if k := sess.Key(); k != nil {
		p.key = *k
	} else {
		return nil, fail(protocol.CodeKeyMismatch, "the session has no key yet; POST /v1/auth first")
	}
	if sig.KeyID != p.key {
		return nil, fail(protocol.CodeKeyMismatch, "the request is not signed by the session's key")
	}
	if err := sig.CheckDigest(r.Header, body); err != nil {
		return nil, err
	}
	digest := protocol.FieldValue(r.Header, protocol.HeaderContentDigest)
	if sig.HMAC() {
		// The session profile (docs/protocol.md §4.6): keyed with the
		// secret /v1/auth handed out, so never on /v1/auth itself.
		if path == protocol.PathAuth {
			return nil, fail(protocol.CodeBadSignature, "/v1/auth must be signed with ed25519")
		}
		err = sig.VerifyHMAC(sess.Secret(), r.Method, r.URL.EscapedPath(), sessID, digest, time.Now())
	} else {
		err = sig.Verify(r.Method, r.URL.EscapedPath(), sessID, digest, time.Now())
	}
	if err != nil {
		return nil, err
	}
	if err := s.relay.UseNonce(sess, sig.Nonce); err != nil {
		return nil, err
	}
	if sig.HMAC() {
		s.obs.Verified(protocol.SignatureAlgHMAC)
	} else {
		s.obs.Verified(protocol.SignatureAlg)
	}
	// Rate limited by verified signer only, so nobody can spend another
	// key's tokens; after the nonce, which a request consumes whatever
	// its outcome (§4.2). Only sends: auth, challenge answers, pongs and
	// acks answer what the relay sent, their volume is bounded by it, and
	// delaying them would make the relay resend or declare the client dead.
	if path == protocol.PathSend {
		if err := s.limitKey(p.key); err != nil {
			return nil, err
		}
	}
	return v(sess, p)
}

func (s *Server) auth(sess *relay.Session, p posted) (any, error) {
	if err := s.relay.Auth(sess, p.key); err != nil {
		return nil, err
	}
	if !p.auth.HMAC || s.cfg.DisableHMAC {
		return protocol.OK{OK: true}, nil
	}
	// Only in the answer to this Ed25519-signed request, never on the
	// stream: whoever can read the stream cannot sign as the key.
	return protocol.AuthResponse{OK: true, HMACKey: base64.RawURLEncoding.EncodeToString(sess.MakeSecret()[:])}, nil
}

func (s *Server) challenge(sess *relay.Session, p posted) (any, error) {
	var req protocol.ChallengeRequest
	if err := decodeStrict(p.body, &req); err != nil {
		return nil, err
	}
	if err := s.relay.Challenge(sess, req.ID); err != nil {
		return nil, err
	}
	return protocol.OK{OK: true}, nil
}

func (s *Server) pong(sess *relay.Session, p posted) (any, error) {
	var req protocol.PongRequest
	if err := decodeStrict(p.body, &req); err != nil {
		return nil, err
	}
	if err := s.relay.Pong(sess, req.ID); err != nil {
		return nil, err
	}
	return protocol.OK{OK: true}, nil
}

func (s *Server) send(sess *relay.Session, p posted) (any, error) {
	msgs, err := decodeSend(p.body, s.relay.Config().MaxRecipients)
	if err != nil {
		return nil, err
	}
	results, err := s.relay.Send(sess, msgs)
	if err != nil {
		return nil, err
	}
	return protocol.SendResponse{Results: results}, nil
}

func (s *Server) ack(sess *relay.Session, p posted) (any, error) {
	acks, err := decodeAck(p.body)
	if err != nil {
		return nil, err
	}
	if err := s.relay.Ack(sess, acks); err != nil {
		return nil, err
	}
	return protocol.OK{OK: true}, nil
}
