// Package relay is keypost's core: sessions, the key registry (entities),
// per-pair queues, the delivery state machine, the link estimator and the
// retention of offline users. It knows neither HTTP nor NATS: the transport
// adapts a stream to a Session (it pulls encoded bytes with Session.Next and
// reports the end with Relay.StreamEnded), and verified requests arrive as
// method calls.
//
// Concurrency: one mutex (Relay.mu) guards every session, entity and
// message. Critical sections are short and do no I/O: events are encoded into
// a session's outbox, whose own lock (outbox.mu) is taken after Relay.mu and
// never before it. The transport's writer goroutine takes only outbox.mu.
//
// Time: every duration lives in Config. Time decisions are functions of a
// `now` argument; timers are time.AfterFunc, one per session and one per
// offline entity, reset to the earliest deadline, so tests run them inside
// testing/synctest bubbles.
package relay
