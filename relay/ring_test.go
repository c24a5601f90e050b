package relay

import "testing"

// The ring keeps FIFO order across growth and wrap-around.
func TestRing(t *testing.T) {
	var q ring[int]
	next, want := 0, 0
	for round := range 50 {
		for range round % 13 {
			q.push(next)
			next++
		}
		for range round % 7 {
			if q.len() == 0 {
				break
			}
			if got := q.pop(); got != want {
				t.Fatalf("pop = %d, want %d", got, want)
			}
			want++
		}
		if q.len() != next-want {
			t.Fatalf("len = %d, want %d", q.len(), next-want)
		}
		for i := range q.len() {
			if q.at(i) != want+i {
				t.Fatalf("at(%d) = %d, want %d", i, q.at(i), want+i)
			}
		}
	}
}
