// Package bench is the load generator behind `keypost bench`: it drives a
// relay with the real protocol (every session makes the whole handshake,
// every POST is signed) and measures it. A scenario (handshake, throughput,
// latency, fanout, idle, baseline) runs against a relay it starts in this
// process, a child `keypost serve` it starts and watches (to read its
// memory from the OS), or one given by URL, which must be on the loopback
// network unless the caller allows otherwise.
//
// The generator is written to cost the relay's machine as little as it can:
// streams are read from raw HTTP/1.1 connections (no http.Transport
// goroutines), POSTs go over a pool of keep-alive connections, and events
// are parsed by a small scanner for the relay's fixed JSON shapes. Message
// ids and data carry what the generator needs to count loss, duplicates and
// latency without a shared table: the id names the pair and the sequence
// number, the data starts with the send time.
package bench
