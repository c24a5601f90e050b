package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/keypost/keypost/protocol"
)

// Sentinel errors, for the conditions callers branch on. Errors returned by
// the client wrap them (errors.Is), with the details in their text or in a
// *SendError, *CloseError or *ProblemError (errors.As).
var (
	// ErrClosed: the client was closed with Close.
	ErrClosed = errors.New("keypost: client closed")
	// ErrKeyConflict: another session took this key (closing key_conflict,
	// §3.1). The client has stopped and will not reconnect on its own, so
	// that two processes with one key do not kick each other forever.
	ErrKeyConflict = errors.New("keypost: the key was taken by another session")
	// ErrRecipientOffline: the recipient's stream dropped and it has not
	// come back yet; nothing new is held for it meanwhile (§6).
	ErrRecipientOffline = errors.New("keypost: recipient offline")
	// ErrRecipientUnknown: no session holds the recipient's key and the
	// relay retains nothing for it.
	ErrRecipientUnknown = errors.New("keypost: recipient unknown")
	// ErrTooLarge: the data is longer than the relay's max_message_bytes
	// (§9.4). Cut it with SendStream.
	ErrTooLarge = errors.New("keypost: data larger than max_message_bytes")
	// ErrInvalidUTF8: the data is not valid UTF-8. Data is relayed
	// byte-exact or not at all: encoding/json would silently replace the
	// invalid bytes, so the client refuses them before sending.
	ErrInvalidUTF8 = errors.New("keypost: data is not valid UTF-8")
	// ErrReservedPrefix: plain data must not start with the chunk prefix
	// "kp-chunk:", which marks SendStream's chunks.
	ErrReservedPrefix = errors.New(`keypost: data starting with "kp-chunk:" is reserved for SendStream`)
	// ErrUndelivered: a message's final receipt was expired (§7) or
	// undeliverable (§9.3), so a transfer cannot complete.
	ErrUndelivered = errors.New("keypost: message not delivered")
	// ErrTransferTimeout: an incoming transfer got no chunk for
	// Options.TransferTimeout; its partial data was discarded.
	ErrTransferTimeout = errors.New("keypost: transfer timed out")
	// ErrTransferAborted: the sender gave up on a transfer (its reader
	// failed); the partial data was discarded.
	ErrTransferAborted = errors.New("keypost: transfer aborted by the sender")
	// ErrTransferCorrupt: an incoming transfer's chunks do not add up (bad
	// envelope, wrong size, SHA-256 mismatch); its data was discarded.
	ErrTransferCorrupt = errors.New("keypost: transfer corrupt")
)

// SendError is a message the relay refused (a rejected send result). It
// matches ErrRecipientOffline, ErrRecipientUnknown and ErrTooLarge with
// errors.Is according to its code.
type SendError struct {
	To   protocol.Key
	ID   string
	Code protocol.ErrorCode
}

func (e *SendError) Error() string {
	return fmt.Sprintf("keypost: message %s to %s rejected: %s", e.ID, e.To, e.Code)
}

// Is maps the wire code to the sentinel errors.
func (e *SendError) Is(target error) bool {
	switch target {
	case ErrRecipientOffline:
		return e.Code == protocol.CodeRecipientOffline
	case ErrRecipientUnknown:
		return e.Code == protocol.CodeRecipientUnknown
	case ErrTooLarge:
		return e.Code == protocol.CodeTooLarge
	}
	return false
}

// CloseError is a final closing from the relay (protocol.CloseCode.Final):
// the client stopped and did not reconnect. Code key_conflict also matches
// ErrKeyConflict.
type CloseError struct {
	Code protocol.CloseCode
}

func (e *CloseError) Error() string {
	return "keypost: the relay closed the session: " + string(e.Code)
}

// Is reports key_conflict as ErrKeyConflict.
func (e *CloseError) Is(target error) bool {
	return target == ErrKeyConflict && e.Code == protocol.CloseKeyConflict
}

// ProblemError is a whole request the relay refused with an RFC 9457
// problem (a non-200 answer).
type ProblemError struct {
	Status     int
	Code       protocol.ErrorCode
	Detail     string
	RetryAfter time.Duration // from Retry-After, 0 if absent
}

func (e *ProblemError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("keypost: relay answered %d %s", e.Status, e.Code)
	}
	return fmt.Sprintf("keypost: relay answered %d %s: %s", e.Status, e.Code, e.Detail)
}

// transient reports whether repeating the same request later can succeed:
// the relay is busy or restarting, or the nonce was consumed by a request
// that crossed this one.
func (e *ProblemError) transient() bool {
	return e.Status >= 500 || e.Status == 429 || e.Status == 408 || e.Code == protocol.CodeReplayed
}

// sessionGone reports whether the request failed because its session ended
// or is not ready: it succeeds on the next ready session.
func (e *ProblemError) sessionGone() bool {
	switch e.Code {
	case protocol.CodeUnknownSession, protocol.CodeNotReady, protocol.CodeKeyMismatch:
		return true
	}
	return false
}

// fatalError marks an error that reconnecting cannot fix (a wrong URL, a
// relay speaking another protocol version). It stops Connect at once.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }
