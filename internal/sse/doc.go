// Package sse owns keypost's Server-Sent Events framing, and nothing else:
// how an event, a reconnection delay or a keep-alive comment is written as
// bytes (the encoder, used on the relay's hot path), and how such a byte
// stream is read back into events (the decoder, used by the Go SDK and the
// tests).
//
// It knows nothing about HTTP, flushing, event names or JSON bodies; those
// belong to the callers and to package protocol. It imports only the
// standard library.
//
// The decoder follows the WHATWG HTML "server-sent events" parsing rules
// (https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream)
// exactly, so that the SDK sees what a browser would see.
package sse
