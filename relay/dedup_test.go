package relay

import (
	"hash/maphash"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/keypost/keypost/protocol"
)

// dedupModel is the obvious implementation dedup must agree with: a map to
// the latest entry of each id and a queue in settle order.
type dedupModel struct {
	latest map[protocol.ID]int // id → seq of its latest entry
	q      []modelEntry
	seq    int
}

type modelEntry struct {
	id  protocol.ID
	sum uint64
	at  time.Time
	seq int
}

func (m *dedupModel) pop() {
	e := m.q[0]
	m.q = m.q[1:]
	if m.latest[e.id] == e.seq {
		delete(m.latest, e.id)
	}
}

func (m *dedupModel) remember(id protocol.ID, sum uint64, now time.Time, maxCount int) {
	for len(m.q) >= maxCount {
		m.pop()
	}
	m.latest[id] = m.seq
	m.q = append(m.q, modelEntry{id, sum, now, m.seq})
	m.seq++
}

func (m *dedupModel) forget(now time.Time, window time.Duration) {
	for len(m.q) > 0 && now.Sub(m.q[0].at) >= window {
		m.pop()
	}
}

func (m *dedupModel) find(id protocol.ID) (uint64, bool) {
	seq, ok := m.latest[id]
	if !ok {
		return 0, false
	}
	for _, e := range m.q {
		if e.seq == seq {
			return e.sum, true
		}
	}
	panic("model lost an entry")
}

// check compares d with the model on every id ever used, and that the
// map indexes no more ids than the ring holds entries.
func (d *dedup) check(t *testing.T, m *dedupModel, ids []protocol.ID) {
	t.Helper()
	if d.q.len() != len(m.q) {
		t.Fatalf("len %d, model %d", d.q.len(), len(m.q))
	}
	for _, id := range ids {
		gs, gok := d.find(id)
		ws, wok := m.find(id)
		if gs != ws || gok != wok {
			t.Fatalf("find(%x) = %d, %v; model %d, %v", id[:4], gs, gok, ws, wok)
		}
	}
	if len(d.idx) > d.q.len() {
		t.Fatalf("%d ids indexed, %d entries", len(d.idx), d.q.len())
	}
}

// dedup agrees with the model under random settles (new ids and ids
// settled again), expiry by age and by count, with time values that carry
// a monotonic reading and values that do not (as inside synctest bubbles),
// and with the sequence numbers wrapping.
func TestDedupMatchesModel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		start    time.Time
		maxCount int
		first    uint32
	}{
		{"monotonic", time.Now(), 100, 0},
		{"wall", time.Unix(946684800, 0), 37, 0},
		{"wrap", time.Now(), 64, ^uint32(0) - 500},
		{"cap1", time.Now(), 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.maxCount)))
			d := dedup{first: tc.first}
			m := &dedupModel{latest: make(map[protocol.ID]int)}
			var ids []protocol.ID
			now := tc.start
			const window = 10 * time.Second
			for step := range 20000 {
				switch r := rng.IntN(100); {
				case r < 60 || len(ids) == 0:
					id := protocol.NewID()
					ids = append(ids, id)
					sum := rng.Uint64()
					d.remember(id, sum, now, tc.maxCount)
					m.remember(id, sum, now, tc.maxCount)
				case r < 75:
					// an id settled again, maybe still remembered
					id := ids[len(ids)-1-rng.IntN(min(len(ids), 2*tc.maxCount))]
					sum := rng.Uint64()
					d.remember(id, sum, now, tc.maxCount)
					m.remember(id, sum, now, tc.maxCount)
				case r < 95:
					now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
				default:
					d.forget(now, window)
					m.forget(now, window)
				}
				if step%97 == 0 || step > 19900 {
					d.check(t, m, ids[max(0, len(ids)-3*tc.maxCount):])
				}
			}
			now = now.Add(window)
			d.forget(now, window)
			m.forget(now, window)
			d.check(t, m, ids[max(0, len(ids)-3*tc.maxCount):])
			if d.q.len() != 0 {
				t.Fatalf("len %d after the window", d.q.len())
			}
		})
	}
}

// A full table turning over keeps its buffers; once everything has
// expired, large buffers are released.
func TestDedupMemory(t *testing.T) {
	const maxCount = 4096
	var d dedup
	now := time.Now()
	for range 5 * maxCount {
		d.remember(protocol.NewID(), 1, now, maxCount)
	}
	if d.q.len() != maxCount || len(d.idx) != maxCount || len(d.q.buf) != maxCount {
		t.Fatalf("len %d, %d ids, ring of %d", d.q.len(), len(d.idx), len(d.q.buf))
	}
	ids := make([]protocol.ID, 1001)
	for i := range ids {
		ids[i] = protocol.NewID()
	}
	allocs := testing.AllocsPerRun(1000, func() {
		d.remember(ids[0], 1, now, maxCount)
		ids = ids[1:]
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per settle at the cap", allocs)
	}
	d.forget(now.Add(time.Minute), time.Minute)
	if d.q.len() != 0 || d.idx != nil || d.q.buf != nil {
		t.Fatalf("after expiry: len %d, %d ids, ring of %d", d.q.len(), len(d.idx), len(d.q.buf))
	}
	if _, ok := d.find(protocol.NewID()); ok {
		t.Fatal("found an id in an empty table")
	}
}

// The sum tells recipients and data apart.
func TestSettledSum(t *testing.T) {
	seed := maphash.MakeSeed()
	var a, b protocol.Key
	b[31] = 1
	if settledSum(seed, a, 1) == settledSum(seed, b, 1) || settledSum(seed, a, 1) == settledSum(seed, a, 2) {
		t.Fatal("sums collide")
	}
	if settledSum(seed, b, 7) != settledSum(seed, b, 7) {
		t.Fatal("sum not deterministic")
	}
}

// BenchmarkDedupTurnover is one settle into each of 100 full tables in
// turn (remember evicts the oldest) after a miss in find, as a send of a
// new id and its settle do.
func BenchmarkDedupTurnover(b *testing.B) {
	const tables = 100
	ds := make([]dedup, tables)
	now := time.Now()
	for i := range ds {
		for range DefaultMaxDedupPerSender {
			ds[i].remember(protocol.NewID(), 1, now, DefaultMaxDedupPerSender)
		}
	}
	ids := make([]protocol.ID, 4096)
	for i := range ids {
		ids[i] = protocol.NewID()
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d := &ds[n%tables]
		id := ids[n%len(ids)]
		id[0] ^= byte(n >> 12) // fresh ids
		if _, ok := d.find(id); ok {
			b.Fatal("found a new id")
		}
		d.remember(id, 1, now, DefaultMaxDedupPerSender)
		n++
	}
}
