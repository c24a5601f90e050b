// Package client is keypost's Go SDK: a connection to a relay under one
// Ed25519 key, which is the client's address.
//
// It owns the client's side of the protocol (docs/protocol.md; §N cites the
// seed): the event stream and its registration, request signing, acks and
// de-duplication, the per-recipient send window, reconnecting, and cutting
// large data into chunks and putting it back together. It speaks to the
// relay over HTTP only, through package protocol's wire types.
//
// # Connecting
//
// Connect opens GET /v1/events, reads the session event (§2), signs
// POST /v1/auth with the key (§3), answers the three challenges one by one
// (§4, §4.1) and returns at the ready event. Every POST is signed with
// protocol.SignRequest (RFC 9421), with a nonce counter that starts at 1 on
// each new session. Pings are answered with POST /v1/pong.
//
// After any drop (a network failure, closing shutdown, slow_reader or dead)
// the client reconnects with jittered exponential backoff
// (Options.MinBackoff … MaxBackoff) under the same key; Options.OnState and
// State report connecting, ready, reconnecting and closed. A 409 key_in_use
// on /v1/auth means the relay has just closed an older session holding the
// key: the client repeats /v1/auth after a second (§3.1), once. A final
// closing (key_conflict, bad_challenge, auth_timeout, register_timeout)
// stops the client for good: Done is closed and Err returns a *CloseError
// (key_conflict matches ErrKeyConflict), so that two processes with one key
// do not take it from each other forever — the newest one keeps it.
//
// # Receiving
//
// Messages arrive on Messages() or, if set, Options.OnMessage, in order per
// sender. Delivery is at least once, so the client acks every copy it
// parses (batched: one POST /v1/ack per Options.AckDelay, at most 200 ms)
// and remembers (sender, id) for ten minutes, so that a copy redelivered
// after a resend or a reconnect is never handed over twice. While more
// than Options.Buffer messages wait to be handed over, new ones are acked
// only when handed over: a slow reader then holds its senders back through
// the relay's window of three (§8) instead of growing the client's memory.
// Receipts for sent messages are acked the same way.
//
// # Sending
//
// Send and SendMany return once the relay accepted or refused each
// message; the returned *Sent reports its final receipt (Done, Status,
// Wait). Ids are chosen by the client, so a request whose answer was lost
// is retried with the same ids and never makes a copy; network errors and
// busy answers are retried with backoff until the context ends. Per
// recipient the client keeps its own window of max_pending_per_pair
// messages awaiting a receipt, so fast callers wait instead of seeing
// queue_full. Slots stay held across a reconnect, as the receipts come
// after the next ready; after an absence longer than the relay's
// retention, which may have dropped the receipts, the client offers those
// messages again with their ids (the recipient de-duplicates them).
// Refusals come back as a *SendError matching
// ErrRecipientOffline or ErrRecipientUnknown; data that is not valid
// UTF-8 (ErrInvalidUTF8) or longer than max_message_bytes (ErrTooLarge) is
// refused before it is sent.
//
// # Transfers
//
// Data longer than max_message_bytes is cut by the client itself (§9.4):
// SendStream sends it as a transfer, a sequence of chunk messages, and a
// receiver with Options.OnTransfer set puts it back together in a
// temporary file, checks its SHA-256 and hands over the whole, or reports
// why it failed and discards the partial data.
//
// A chunk is an ordinary message whose data is the prefix "kp-chunk:", a
// one-line JSON header (the envelope), a line feed, and the chunk's bytes
// in standard base64 with padding:
//
//	kp-chunk:{"v":1,"id":"<transfer uuid>","i":0,"n":3,"name":"notes.txt","size":100000}\n<base64>
//
// The header's members:
//
//	v       1, the envelope version
//	id      the transfer id, a lowercase UUID chosen by the sender
//	i       the chunk's index, 0 … n-1
//	n       the number of chunks, at least 1 (an empty transfer is one empty chunk)
//	name    the sender's name for the data (at most 255 bytes; untrusted, not a path)
//	size    the total number of bytes
//	sha256  lowercase hex SHA-256 of the whole; on the last chunk (i = n-1) only
//	abort   the sender gave up, and why; such a chunk carries no data
//
// The header is JSON with no line break in it, so the first line feed ends
// it; the bytes stay outside the JSON so that neither side runs a JSON
// codec over them. Every chunk repeats id, n, name and size, so whichever
// arrives first opens the transfer. The bytes are cut in order, every chunk
// but the last carries the same number of them, and that number is chosen
// so that the whole data string fits max_message_bytes. Chunks may arrive
// out of order or twice (after a resend); the receiver writes them in
// order and ignores copies. A receiver whose chunks stop coming for the
// relay's retention plus a margin (Options.TransferTimeout) discards the
// transfer with ErrTransferTimeout; a sender whose chunks expire gets
// ErrUndelivered. Send refuses plain data starting with "kp-chunk:", so
// the two never mix; without Options.OnTransfer, chunks are delivered as
// plain messages.
//
// # Request rate
//
// The relay limits signed requests per key (429 rate_limited with
// Retry-After). The client spends few: acks are batched (receipts alone
// wait 250 ms, as nothing hurries them), SendStream sends a window's worth
// of chunks per request, and SendMany packs many messages into one. A 429
// with Retry-After holds every later request back for that long (pongs and
// registration excepted: they are rare and cannot wait), and for a while
// after one, message acks are batched for the full 200 ms.
//
// # Goroutines
//
// A Client runs one goroutine reading the stream, one sending acks and one
// handing over messages, plus short-lived ones answering pings. Close stops
// them all and waits for them. Callbacks (OnState, OnMessage, OnTransfer)
// run on the client's goroutines: they must not call Close.
package client
