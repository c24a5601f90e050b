// Package replay keeps the per-session record of request nonces that makes
// a signed request usable only once (protocol §4.5: each nonce is accepted
// once, inside a sliding window of at least 1024).
package replay

// Size is how many nonces below the newest one seen a Window remembers.
// Clients may send up to this many requests concurrently, in any order,
// and each still gets through once; an older nonce is refused as replayed
// (the client retries with a new one).
const Size = 1024

const words = Size / 64

// Window is a sliding replay window for one session's nonces. It tracks
// the newest nonce accepted and, in a fixed bit array, which of the Size
// nonces ending at it were already seen: memory per session is constant
// (136 bytes) whatever the client sends, and Accept never allocates.
//
// The zero Window is ready to use. A Window is not safe for concurrent use:
// the caller holds the session's lock around Accept.
type Window struct {
	max  uint64        // the newest nonce accepted; 0 before the first
	bits [words]uint64 // bit n%Size is set when nonce n in (max-Size, max] was seen
}

// Accept reports whether nonce n may be used, and records it if so. It is
// true the first time n is seen, when n is at least 1 and newer than
// max-Size, where max is the newest nonce accepted so far. A nonce above
// max slides the window up to it. Anything else (0, a repeat, or a nonce
// that fell out of the window) is false.
func (w *Window) Accept(n uint64) bool {
	if n == 0 {
		return false
	}
	if n > w.max {
		w.slide(n)
		w.set(n)
		return true
	}
	if w.max >= Size && n <= w.max-Size {
		return false // too old: it may have been used, we no longer know
	}
	if w.has(n) {
		return false
	}
	w.set(n)
	return true
}

// slide moves the newest nonce to n > w.max, forgetting the slots that the
// nonces max+1…n take over from nonces that fall out of the window.
func (w *Window) slide(n uint64) {
	if n-w.max >= Size {
		w.bits = [words]uint64{}
	} else {
		for i := w.max + 1; i <= n; {
			pos := i % Size
			if pos%64 == 0 && n-i >= 63 {
				w.bits[pos/64] = 0 // a whole word at once
				i += 64
				continue
			}
			w.bits[pos/64] &^= 1 << (pos % 64)
			i++
		}
	}
	w.max = n
}

func (w *Window) has(n uint64) bool {
	pos := n % Size
	return w.bits[pos/64]&(1<<(pos%64)) != 0
}

func (w *Window) set(n uint64) {
	pos := n % Size
	w.bits[pos/64] |= 1 << (pos % 64)
}

// Max returns the newest nonce accepted so far (0 if none): a client that
// lost count can be told where to continue.
func (w *Window) Max() uint64 { return w.max }
