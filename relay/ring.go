package relay

// ring is a FIFO queue in a circular buffer: push and pop are O(1) and
// reuse the buffer, so a queue that stays long (a sender's settled ids,
// up to MaxDedupPerSender) is never copied as it turns over.
type ring[T any] struct {
	buf  []T
	head int // index of the oldest element
	n    int
}

func (q *ring[T]) len() int { return q.n }

// at returns the i-th oldest element; 0 <= i < q.len().
func (q *ring[T]) at(i int) T { return q.buf[q.index(i)] }

// index is the position of the i-th oldest element in buf, wrapped with
// a compare rather than a modulo (a division).
func (q *ring[T]) index(i int) int {
	j := q.head + i
	if j >= len(q.buf) {
		j -= len(q.buf)
	}
	return j
}

func (q *ring[T]) push(v T) {
	if q.n == len(q.buf) {
		buf := make([]T, max(8, 2*len(q.buf)))
		for i := range q.n {
			buf[i] = q.at(i)
		}
		q.buf, q.head = buf, 0
	}
	q.buf[q.index(q.n)] = v
	q.n++
}

// pop removes and returns the oldest element; the queue must not be empty.
func (q *ring[T]) pop() T {
	var zero T
	v := q.buf[q.head]
	q.buf[q.head] = zero
	q.head = q.index(1)
	q.n--
	return v
}
