package replay

import (
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"
)

// model is the obvious, unbounded definition of the window: every nonce
// ever accepted is remembered, and a nonce is accepted when it is new,
// non-zero and newer than max-Size.
type model struct {
	max  uint64
	seen map[uint64]bool
}

func (m *model) accept(n uint64) bool {
	if n == 0 || m.seen[n] || (m.max >= Size && n <= m.max-Size) {
		return false
	}
	m.seen[n] = true
	m.max = max(m.max, n)
	return true
}

func TestWindowTable(t *testing.T) {
	steps := []struct {
		n    uint64
		want bool
		why  string
	}{
		{0, false, "zero is never a nonce"},
		{1, true, "first"},
		{1, false, "repeat"},
		{3, true, "skip ahead"},
		{2, true, "late but inside the window"},
		{2, false, "late repeat"},
		{1027, true, "slide so that max-Size = 3"},
		{3, false, "exactly max-Size: too old"},
		{4, true, "max-Size+1: oldest slot still inside, never seen"},
		{4, false, "and now seen"},
		{1027, false, "repeat of max"},
		{1026, true, "just below max"},
		{5000, true, "a jump longer than the window clears it"},
		{3976, false, "5000-1024: too old"},
		{3977, true, "oldest inside"},
		{4000, true, "inside, never seen"},
		{1 << 53, true, "large"},
		{1<<53 - 1, true, "just below"},
		{1<<53 - 1024, false, "too old"},
		{^uint64(0), true, "the largest uint64"},
		{^uint64(0), false, "repeat of the largest"},
		{^uint64(0) - 1023, true, "oldest inside at the top"},
	}
	var w Window
	for i, s := range steps {
		if got := w.Accept(s.n); got != s.want {
			t.Fatalf("step %d Accept(%d) = %v, want %v (%s)", i, s.n, got, s.want, s.why)
		}
	}
}

// TestWindowZeroValue checks that a zero Window forgets nothing it should
// know: the slots of nonces 1…1024 start empty, so all of them are new.
func TestWindowZeroValue(t *testing.T) {
	var w Window
	for n := uint64(Size); n >= 1; n-- {
		if !w.Accept(n) {
			t.Fatalf("Accept(%d) = false on a fresh window", n)
		}
	}
	for n := uint64(1); n <= Size; n++ {
		if w.Accept(n) {
			t.Fatalf("Accept(%d) = true a second time", n)
		}
	}
	if w.Max() != Size {
		t.Fatalf("Max = %d, want %d", w.Max(), Size)
	}
}

// TestWindowProperty compares Window with the model on random sequences
// that stay near the window's edges, where mistakes would be.
func TestWindowProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var w Window
		m := model{seen: map[uint64]bool{}}
		steps := rapid.IntRange(1, 3000).Draw(t, "steps")
		for i := range steps {
			var n uint64
			switch rapid.IntRange(0, 5).Draw(t, "kind") {
			case 0: // ahead of max, by a little or by more than the window
				n = m.max + rapid.Uint64Range(1, 2*Size+70).Draw(t, "ahead")
			case 1: // inside the window or just below it
				n = m.max - min(m.max, rapid.Uint64Range(0, Size+2).Draw(t, "behind"))
			case 2: // right at the boundary
				n = m.max - min(m.max, rapid.SampledFrom([]uint64{Size - 1, Size, Size + 1}).Draw(t, "edge"))
			case 3: // a small value
				n = rapid.Uint64Range(0, 3*Size).Draw(t, "small")
			case 4: // a huge jump
				n = m.max + rapid.Uint64Range(0, 1<<40).Draw(t, "jump")
			case 5: // a repeat of something accepted lately
				n = m.max - min(m.max, rapid.Uint64Range(0, 64).Draw(t, "recent"))
			}
			want := m.accept(n)
			if got := w.Accept(n); got != want {
				t.Fatalf("step %d: Accept(%d) = %v, model says %v (max %d)", i, n, got, want, w.Max())
			}
			if w.Max() != m.max {
				t.Fatalf("step %d: Max = %d, model %d", i, w.Max(), m.max)
			}
		}
	})
}

// TestWindowRandomSlides runs long random walks (many more steps than the
// property test) to exercise the word-wise clearing in slide.
func TestWindowRandomSlides(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		var w Window
		m := model{seen: map[uint64]bool{}}
		for i := range 20000 {
			var n uint64
			if r.IntN(3) == 0 {
				n = m.max + uint64(r.IntN(200)) // forward, often by 64 or more
			} else {
				n = m.max - min(m.max, uint64(r.IntN(Size+10)))
			}
			if got, want := w.Accept(n), m.accept(n); got != want {
				t.Fatalf("step %d: Accept(%d) = %v, model %v", i, n, got, want)
			}
		}
	}
}

func TestWindowNoAllocs(t *testing.T) {
	var w Window
	var n uint64
	allocs := testing.AllocsPerRun(1000, func() {
		n += 3
		w.Accept(n)
		w.Accept(n - 1)
		w.Accept(n)
	})
	if allocs != 0 {
		t.Fatalf("Accept allocates %v times per run", allocs)
	}
}

func BenchmarkAccept(b *testing.B) {
	var w Window
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		n++
		w.Accept(n)
	}
}
