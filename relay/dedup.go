package relay

import (
	"encoding/binary"
	"hash/maphash"
	"time"

	"github.com/keypost/keypost/protocol"
)

// dedup is a sender's memory of its settled message ids, for
// de-duplication: a retry of a settled message is answered `accepted`
// without a copy, the id reused for another recipient or other data is
// `duplicate_id`. It holds the ids settled within Config.DedupWindow, at
// most Config.MaxDedupPerSender of them; the oldest goes first. Guarded by
// Relay.mu.
//
// Each id is stored once, in a ring in settle order (expiry, by age or by
// count, pops the oldest), and a map finds an entry by id through its
// sequence number. An id settled a second time while remembered (a sender
// that came back while its earlier messages were held) gets a new entry
// and the map moves to it; the stale entry leaves the ring without
// touching the map.
//
// Cost: a 32-byte entry and a map slot (16-byte key, 4-byte value) per id,
// about 77 bytes per id measured at the default cap (16,384), against
// about 290 for the map of full records and the ring of copies it
// replaced. A hand-written open-addressing table was measured too: 50
// bytes per id and the same time per message end to end
// (BenchmarkDedupWindowFull), so the map stays. The ring holds no
// pointers, so the collector does not scan it. Both are released once
// everything in them has expired, which is noticed on the sender's next
// send or its session's next timer (forget), at the latest at its next
// idle ping.
type dedup struct {
	q     ring[dedupEntry]
	first uint32                 // sequence number of q's oldest entry (wraps)
	idx   map[protocol.ID]uint32 // id → sequence number of its newest entry
	base  time.Time              // set by the first remember; entry times count from it
}

type dedupEntry struct {
	id  protocol.ID
	sum uint64 // settledSum of the message's recipient and data
	at  int64  // settle time in ns since base: monotonic, as time.Time.Sub
}

// maxDedup bounds the count cap so that sequence numbers (uint32) do not
// wrap within one table; it is far above any useful setting.
const maxDedup = 1 << 30

// settledSum is what a settled message is compared by: a hash of its
// recipient and its data's hash (message.hash). One 64-bit sum instead of
// the 32-byte key and the hash saves 32 bytes per id. The trade-off: two
// different (recipient, data) pairs share a sum with probability about
// 2^-64, and then the id reused for the other pair is answered `accepted`
// (no copy is made) instead of `duplicate_id`. Data was already compared
// by a 64-bit hash only; the seed is the relay's secret one.
func settledSum(seed maphash.Seed, to protocol.Key, dataHash uint64) uint64 {
	var b [len(protocol.Key{}) + 8]byte
	copy(b[:], to[:])
	binary.LittleEndian.PutUint64(b[len(to):], dataHash)
	return maphash.Bytes(seed, b[:])
}

// find returns the sum remembered for id.
func (d *dedup) find(id protocol.ID) (sum uint64, ok bool) {
	seq, ok := d.idx[id]
	if !ok {
		return 0, false
	}
	return d.q.at(int(seq - d.first)).sum, true
}

// remember records id as settled at now with its sum, first forgetting
// the oldest ids past maxCount.
func (d *dedup) remember(id protocol.ID, sum uint64, now time.Time, maxCount int) {
	maxCount = min(max(maxCount, 1), maxDedup)
	for d.q.len() >= maxCount {
		d.pop()
	}
	if d.base.IsZero() {
		d.base = now
	}
	if d.idx == nil {
		d.idx = make(map[protocol.ID]uint32)
	}
	d.idx[id] = d.first + uint32(d.q.len()) // the newer entry wins; an old one is stale
	d.q.push(dedupEntry{id: id, sum: sum, at: int64(now.Sub(d.base))})
}

// forget drops the ids settled window or longer before now.
func (d *dedup) forget(now time.Time, window time.Duration) {
	if d.q.len() == 0 {
		return
	}
	age := now.Sub(d.base)
	for d.q.len() > 0 && age-time.Duration(d.q.at(0).at) >= window {
		d.pop()
	}
	if d.q.len() == 0 {
		*d = dedup{} // a map never shrinks: let it go
	}
}

// pop drops the oldest entry, and its id unless a later entry took it.
func (d *dedup) pop() {
	e := d.q.pop()
	if seq, ok := d.idx[e.id]; ok && seq == d.first {
		delete(d.idx, e.id)
	}
	d.first++
}
