// Package protocol holds keypost's wire format: the JSON bodies of every
// request and event, the names of events and error codes, the announced
// limits, the encoding of public keys and ids, and RFC 9421 request signing.
//
// It is the one place where the server, the Go SDK and the tests agree on
// what travels over the wire, so it imports little: the standard library,
// and filippo.io/edwards25519 (the implementation under crypto/ed25519) for
// the check that a key is a valid point.
// The normative description is docs/protocol.md; section numbers cited as §N
// refer to the seed document the protocol comes from.
package protocol

// Version is the protocol version announced in the session event.
const Version = "1.0"
