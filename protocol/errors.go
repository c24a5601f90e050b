package protocol

import "net/http"

// ErrorCode is a stable machine-readable error code: the `code` member of a
// problem+json body, and of a rejected send result.
type ErrorCode string

// Error codes. The HTTP status of each, where it is a whole-request error,
// is given by Status.
const (
	CodeBadRequest       ErrorCode = "bad_request"        // 400 body is not JSON of the expected shape
	CodeBadKey           ErrorCode = "bad_key"            // 400 a key is not a canonical Ed25519 public key
	CodeBadID            ErrorCode = "bad_id"             // 400 an id is not a lowercase canonical UUID (v4, or v7 for messages)
	CodeBadData          ErrorCode = "bad_data"           // 400 data is not valid Unicode
	CodeBadChallenge     ErrorCode = "bad_challenge"      // 400 §4 answer to a challenge never issued; registration fails
	CodeBadSignature     ErrorCode = "bad_signature"      // 401 §4.5 missing, malformed or failing signature
	CodeBadDigest        ErrorCode = "bad_digest"         // 401 Content-Digest does not match the body
	CodeReplayed         ErrorCode = "replayed"           // 401 nonce already used or too old
	CodeKeyMismatch      ErrorCode = "key_mismatch"       // 401 signer is not the session's key
	CodeUnknownSession   ErrorCode = "unknown_session"    // 404 no such session (or it ended)
	CodeNotFound         ErrorCode = "not_found"          // 404 no such endpoint
	CodeMethodNotAllowed ErrorCode = "method_not_allowed" // 405
	CodeSessionBound     ErrorCode = "session_bound"      // 409 §3.2 the session is bound to another key
	CodeKeyInUse         ErrorCode = "key_in_use"         // 409 §3.1, §5 the key is bound to another live session
	CodeNotReady         ErrorCode = "not_ready"          // 409 the session has not finished registration
	CodeBodyTooLarge     ErrorCode = "body_too_large"     // 413
	CodeUnsupportedMedia ErrorCode = "unsupported_media"  // 415 not application/json, or Content-Encoding set
	CodeReceiptsUnacked  ErrorCode = "receipts_unacked"   // 429 too many unacknowledged receipts
	CodeTooManyStreams   ErrorCode = "too_many_streams"   // 429 / 503 stream caps: per address / in total
	CodeRateLimited      ErrorCode = "rate_limited"       // 429 too many requests signed by one key; Retry-After
	CodeServerBusy       ErrorCode = "server_busy"        // 503 the relay's memory cap is reached
	CodeShuttingDown     ErrorCode = "shutting_down"      // 503 the relay is draining
	CodeInternal         ErrorCode = "internal"           // 500

	// Per-entry send rejections (inside a 200 send response).
	CodeDuplicateID      ErrorCode = "duplicate_id"      // id reused for another recipient or other data
	CodeTooLarge         ErrorCode = "too_large"         // §9.4 data longer than max_message_bytes
	CodeRecipientUnknown ErrorCode = "recipient_unknown" // no such key connected or retained
	CodeRecipientOffline ErrorCode = "recipient_offline" // §6 its stream dropped; nothing new is held
	CodeQueueFull        ErrorCode = "queue_full"        // §8 already 3 unacknowledged messages to it
	CodeRecipientBusy    ErrorCode = "recipient_busy"    // held bytes for the recipient at their cap
	CodeSenderBusy       ErrorCode = "sender_busy"       // held bytes from the sender at their cap
)

// Status is the HTTP status of a whole-request error with this code.
func (c ErrorCode) Status() int {
	switch c {
	case CodeBadRequest, CodeBadKey, CodeBadID, CodeBadData, CodeBadChallenge:
		return http.StatusBadRequest
	case CodeBadSignature, CodeBadDigest, CodeReplayed, CodeKeyMismatch:
		return http.StatusUnauthorized
	case CodeUnknownSession, CodeNotFound:
		return http.StatusNotFound
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case CodeSessionBound, CodeKeyInUse, CodeNotReady:
		return http.StatusConflict
	case CodeBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeUnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case CodeReceiptsUnacked, CodeTooManyStreams, CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeServerBusy, CodeShuttingDown:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Problem is an RFC 9457 problem details body (application/problem+json)
// with keypost's stable Code member.
type Problem struct {
	Type   string    `json:"type"`
	Title  string    `json:"title"`
	Status int       `json:"status"`
	Detail string    `json:"detail,omitempty"`
	Code   ErrorCode `json:"code"`
}

// ProblemType is the problem type URI for a code.
func ProblemType(c ErrorCode) string { return "urn:keypost:error:" + string(c) }

// CloseCode says why the server ended a stream (the closing event).
type CloseCode string

// Close codes. Final ones tell the client not to reconnect on its own.
const (
	CloseAuthTimeout     CloseCode = "auth_timeout"     // §2.2 no /v1/auth within 20 s (final)
	CloseRegisterTimeout CloseCode = "register_timeout" // §4 challenges not answered in time (final)
	CloseBadChallenge    CloseCode = "bad_challenge"    // §4 wrong challenge answer (final)
	CloseKeyConflict     CloseCode = "key_conflict"     // §3.1 another session took the key (final)
	CloseShutdown        CloseCode = "shutdown"         // the relay is stopping; reconnect elsewhere
	CloseSlowReader      CloseCode = "slow_reader"      // the stream's unwritten output hit its cap
	CloseDead            CloseCode = "dead"             // §9.3 three pings in a row unanswered
)

// Final reports whether a client must not reconnect on its own after it.
func (c CloseCode) Final() bool {
	switch c {
	case CloseAuthTimeout, CloseRegisterTimeout, CloseBadChallenge, CloseKeyConflict:
		return true
	}
	return false
}
