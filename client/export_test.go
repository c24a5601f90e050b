package client

// Test-only hooks (style: hooks live in export_test.go).

// WithDuplicateHook returns o with f called for every copy of a message
// that is not handed over again (with the copy's attempt number).
func WithDuplicateHook(o Options, f func(attempt int)) Options {
	o.hooks = &hooks{duplicate: f}
	return o
}

// DropAcks makes c drop its acks instead of sending them, as if each POST
// /v1/ack were lost.
func DropAcks(c *Client, drop bool) { c.opts.hooks.dropAcks.Store(drop) }

// ChunkBytes is chunkBytes.
var ChunkBytes = chunkBytes

// ChunkPrefix is the prefix of a chunk's data.
const ChunkPrefix = chunkPrefix

// Pauses is how many times c was told to wait (429 with Retry-After).
func Pauses(c *Client) int { return int(c.opts.hooks.paused.Load()) }
