package protocol

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// ID is a session, challenge, ping or message id: a UUID (RFC 9562).
//
// On the wire an id has exactly one form, lowercase canonical
// 8-4-4-4-12 hex, so that ids can be compared as strings by clients and
// used as map keys by the relay without normalising them first. The relay
// makes version 4 ids from a CSPRNG (they must be unguessable: a session id
// is what a POST names to act on a stream); clients may also use version 7
// for message ids.
//
// The parser is hand-written rather than github.com/google/uuid: that
// package also accepts uppercase hex, braces, the urn:uuid: prefix and the
// 32-digit form without hyphens, so strict parsing would need the same
// checks again on top of it, and package protocol imports only the standard
// library.
type ID [16]byte

// IDLen is the length of an id's wire form.
const IDLen = 36

// ErrBadID reports a string that is not a lowercase canonical version 4 or
// version 7 UUID (wire code bad_id). Errors returned by ParseID wrap it.
var ErrBadID = errors.New("bad id")

// NewID returns a random version 4 UUID. crypto/rand never fails (since Go
// 1.24 a broken system source crashes the program instead of returning a
// predictable id).
func NewID() ID {
	var id ID
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 9562 variant (10xx)
	return id
}

// Version returns the UUID version (the high nibble of byte 6): 4 or 7 for
// any id that ParseID accepted. The relay uses it to refuse v7 where only
// v4 is allowed (ids it issued itself).
func (id ID) Version() int { return int(id[6] >> 4) }

// ParseID parses an id's wire form: lowercase canonical 8-4-4-4-12 hex, the
// RFC 9562 variant and version 4 or 7. Anything else, uppercase included, is
// refused, so that one id never has two spellings.
func ParseID(s string) (ID, error) { return parseID(s) }

func parseID[T string | []byte](s T) (ID, error) {
	var id ID
	if len(s) != IDLen {
		return ID{}, fmt.Errorf("%w: %d characters, want %d", ErrBadID, len(s), IDLen)
	}
	j := 0
	for i := 0; i < IDLen; {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return ID{}, fmt.Errorf("%w: not in 8-4-4-4-12 form", ErrBadID)
			}
			i++
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return ID{}, fmt.Errorf("%w: not lowercase hex", ErrBadID)
		}
		id[j] = hi<<4 | lo
		j++
		i += 2
	}
	if id[8]>>6 != 0b10 {
		return ID{}, fmt.Errorf("%w: not the RFC 9562 variant", ErrBadID)
	}
	if v := id.Version(); v != 4 && v != 7 {
		return ID{}, fmt.Errorf("%w: version %d, want 4 or 7", ErrBadID, v)
	}
	return id, nil
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// String returns the id's wire form (lowercase canonical). It is built in a
// fixed array, so its only allocation is the string itself.
func (id ID) String() string {
	var b [IDLen]byte
	id.encode(&b)
	return string(b[:])
}

// AppendText appends the id's wire form to b (encoding.TextAppender),
// without allocating when b has room.
func (id ID) AppendText(b []byte) ([]byte, error) {
	var a [IDLen]byte
	id.encode(&a)
	return append(b, a[:]...), nil
}

// MarshalText returns the id's wire form, so that an ID field in a JSON body
// travels as its string.
func (id ID) MarshalText() ([]byte, error) {
	return id.AppendText(make([]byte, 0, IDLen))
}

// UnmarshalText is ParseID.
func (id *ID) UnmarshalText(text []byte) error {
	v, err := parseID(text)
	if err != nil {
		return err
	}
	*id = v
	return nil
}

func (id ID) encode(b *[IDLen]byte) {
	const digits = "0123456789abcdef"
	j := 0
	for i, c := range id {
		switch i {
		case 4, 6, 8, 10:
			b[j] = '-'
			j++
		}
		b[j] = digits[c>>4]
		b[j+1] = digits[c&0x0f]
		j += 2
	}
}
