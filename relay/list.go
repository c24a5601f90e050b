package relay

// list is a small doubly linked list that keeps insertion order and removes
// any node in O(1). The relay uses it for a recipient's held messages (§7:
// redelivered in order) and a sender's unacknowledged receipts.
type list[T any] struct {
	head, tail *node[T]
	len        int
}

type node[T any] struct {
	v          T
	prev, next *node[T]
}

func (l *list[T]) pushBack(v T) *node[T] {
	n := &node[T]{v: v, prev: l.tail}
	if l.tail != nil {
		l.tail.next = n
	} else {
		l.head = n
	}
	l.tail = n
	l.len++
	return n
}

func (l *list[T]) remove(n *node[T]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
	l.len--
}
