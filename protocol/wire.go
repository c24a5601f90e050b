package protocol

import (
	"encoding/base64"
	"fmt"
)

// Paths of the endpoints. Every POST is signed (see signature.go).
const (
	PathEvents    = "/v1/events"
	PathAuth      = "/v1/auth"
	PathChallenge = "/v1/challenge"
	PathSend      = "/v1/send"
	PathAck       = "/v1/ack"
	PathPong      = "/v1/pong"
)

// Event types sent on the SSE stream (the `event:` field).
const (
	EventSession   = "session"   // §2: the session id, re-sent every 3 s until used (§2.1)
	EventChallenge = "challenge" // §4: one of three registration checks, sent one after another (§4.1)
	EventReady     = "ready"     // §4: registration finished; held messages follow
	EventMessage   = "message"   // a message from another user
	EventReceipt   = "receipt"   // the final status of a message this user sent
	EventPing      = "ping"      // §9.1, §9.3: link probe, answered with POST /v1/pong
	EventClosing   = "closing"   // the server ends the stream and says why
)

// Limits are the relay's limits, announced in the session event so that a
// client never has to guess them (§9.4: the client cuts its data itself).
type Limits struct {
	MaxMessageBytes   int   `json:"max_message_bytes"`
	MaxBodyBytes      int   `json:"max_body_bytes"`
	MaxPendingPerPair int   `json:"max_pending_per_pair"`
	MaxRecipients     int   `json:"max_recipients"`
	RetentionMS       int64 `json:"retention_ms"`
	AuthTimeoutMS     int64 `json:"auth_timeout_ms"`
	RegisterTimeoutMS int64 `json:"register_timeout_ms"`
	PingIntervalMS    int64 `json:"ping_interval_ms"`
}

// SessionEvent is the body of the `session` event (§2).
type SessionEvent struct {
	Session    string `json:"session"`
	Protocol   string `json:"protocol"`
	ServerTime int64  `json:"server_time"` // Unix milliseconds
	Limits     Limits `json:"limits"`
}

// ChallengeEvent is the body of a `challenge` event (§4): N is 1, 2 or 3.
type ChallengeEvent struct {
	ID string `json:"id"`
	N  int    `json:"n"`
}

// ReadyEvent is the body of the `ready` event: registration is complete.
// Pending is how many held messages for this key follow it.
type ReadyEvent struct {
	Key     string `json:"key"`
	RTTMS   int64  `json:"rtt_ms"`
	Pending int    `json:"pending"`
}

// MessageEvent is the body of a `message` event. Delivery is at least once:
// clients de-duplicate by (From, ID) and acknowledge every copy.
type MessageEvent struct {
	ID      string `json:"id"`
	From    string `json:"from"`
	Data    string `json:"data"`
	SentAt  int64  `json:"sent_at"` // Unix milliseconds when the relay accepted it
	Attempt int    `json:"attempt"` // 1 on first delivery, +1 on each resend or redelivery
}

// Receipt statuses: each is final and settles the message.
const (
	StatusDelivered     = "delivered"     // the recipient acknowledged it
	StatusExpired       = "expired"       // §7: the recipient stayed offline past retention
	StatusUndeliverable = "undeliverable" // §9.3: the resend limit was reached
)

// ReceiptEvent is the body of a `receipt` event.
type ReceiptEvent struct {
	ID     string `json:"id"`
	To     string `json:"to"`
	Status string `json:"status"`
}

// PingEvent is the body of a `ping` event; Pad is filler whose length the
// server chooses to learn the link's speed (§9.1).
type PingEvent struct {
	ID  string `json:"id"`
	Pad string `json:"pad"`
}

// ClosingEvent is the last event of a stream.
type ClosingEvent struct {
	Code CloseCode `json:"code"`
}

// AuthRequest is the body of POST /v1/auth (§3). HMAC asks the relay for a
// session secret, so that the session's later requests may be signed with
// hmac-sha256 instead of Ed25519 (the opt-in session profile,
// docs/protocol.md §4.6).
type AuthRequest struct {
	Key  string `json:"key"`
	HMAC bool   `json:"hmac,omitempty"`
}

// DecodeSessionSecret decodes the hmac_key of an AuthResponse.
func DecodeSessionSecret(s string) (*[SessionSecretSize]byte, error) {
	k := new([SessionSecretSize]byte)
	if len(s) != base64.RawURLEncoding.EncodedLen(SessionSecretSize) {
		return nil, fmt.Errorf("protocol: hmac_key is %d characters, want %d", len(s), base64.RawURLEncoding.EncodedLen(SessionSecretSize))
	}
	if n, err := base64.RawURLEncoding.Strict().Decode(k[:], []byte(s)); err != nil || n != SessionSecretSize {
		return nil, fmt.Errorf("protocol: hmac_key is not base64url without padding")
	}
	return k, nil
}

// AuthResponse is the body of a 200 answer to POST /v1/auth. HMACKey is the
// session secret (base64url, no padding, SessionSecretSize bytes) when the
// request asked for one and the relay allows the profile; it is the same on
// every answer for one session.
type AuthResponse struct {
	OK      bool   `json:"ok"`
	HMACKey string `json:"hmac_key,omitempty"`
}

// ChallengeRequest is the body of POST /v1/challenge (§4).
type ChallengeRequest struct {
	ID string `json:"id"`
}

// PongRequest is the body of POST /v1/pong.
type PongRequest struct {
	ID string `json:"id"`
}

// OutMessage is one entry of a send request (§10). ID is optional but
// recommended: a retried request with the same ids makes no copies.
type OutMessage struct {
	To   string `json:"to"`
	Data string `json:"data"`
	ID   string `json:"id,omitempty"`
}

// SendRequest is the body of POST /v1/send (§10: many recipients at once).
type SendRequest struct {
	Messages []OutMessage `json:"messages"`
}

// Send result statuses.
const (
	StatusAccepted = "accepted"
	StatusRejected = "rejected"
)

// SendResult is the outcome of one entry of a send request, in request order.
type SendResult struct {
	To     string    `json:"to"`
	ID     string    `json:"id"`
	Status string    `json:"status"`
	ETAMS  int64     `json:"eta_ms,omitempty"`
	Code   ErrorCode `json:"code,omitempty"`
}

// SendResponse is the body of a 200 answer to POST /v1/send.
type SendResponse struct {
	Results []SendResult `json:"results"`
}

// MessageRef names a delivered message being acknowledged by its recipient.
type MessageRef struct {
	From string `json:"from"`
	ID   string `json:"id"`
}

// ReceiptRef names a receipt being acknowledged by the original sender.
type ReceiptRef struct {
	To string `json:"to"`
	ID string `json:"id"`
}

// AckRequest is the body of POST /v1/ack: message acks and receipt acks,
// batched; either list may be empty or absent.
type AckRequest struct {
	Messages []MessageRef `json:"messages,omitempty"`
	Receipts []ReceiptRef `json:"receipts,omitempty"`
}

// OK is the body of a successful answer that carries nothing else.
type OK struct {
	OK bool `json:"ok"`
}
