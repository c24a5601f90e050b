package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"time"
	"unicode/utf8"
)

// Default limits of a Decoder. They bound the memory a hostile or broken
// server can make a client use; keypost's own events are far smaller.
const (
	DefaultMaxLine  = 1 << 20 // bytes in one line, terminator excluded
	DefaultMaxEvent = 4 << 20 // bytes of one event's data
)

// Errors returned by Decoder.Next when a limit is exceeded. The stream
// cannot be resynchronised after either, so they are final.
var (
	ErrLineTooLong   = errors.New("sse: line longer than Decoder.MaxLine")
	ErrEventTooLarge = errors.New("sse: event data larger than Decoder.MaxEvent")
)

// Event is one dispatched event.
type Event struct {
	// Type is the event field of the event, or "message" if it had none.
	Type string
	// Data is the event's data lines joined with "\n".
	Data string
	// ID is the stream's last event ID when the event was dispatched. As in
	// the spec (and browsers' lastEventId) it persists across events until
	// another id field changes it, so it is what the SDK sends as
	// Last-Event-ID when it reconnects.
	ID string
	// Retry is the reconnection delay most recently set by a retry field of
	// the stream, or 0 if none has been. Like ID it is stream state: a retry
	// block (see AppendRetry) is not an event, so it shows up here.
	Retry time.Duration
}

// A Decoder reads events from an event stream. Create one with NewDecoder;
// it is not safe for concurrent use.
//
// Following the spec, a trailing event that is not ended by a blank line
// before end of stream is discarded, not dispatched, and so is a final line
// without a line end; Next then reports io.ErrUnexpectedEOF instead of
// io.EOF. Invalid UTF-8 is replaced with U+FFFD as a browser does.
type Decoder struct {
	// MaxLine bounds the length of a line in bytes; a longer line makes Next
	// return ErrLineTooLong. 0 or less means DefaultMaxLine.
	MaxLine int
	// MaxEvent bounds the length of Event.Data in bytes; a larger event
	// makes Next return ErrEventTooLarge. 0 or less means DefaultMaxEvent.
	MaxEvent int
	// OnComment, if not nil, is called with the text of each comment line
	// (a line beginning with ':'), without the ':' and one leading space.
	// Comments are not events; this lets tests and the SDK see keep-alives.
	OnComment func(text string)

	r       *bufio.Reader
	err     error // sticky: returned by every Next after the first error
	started bool  // the optional BOM has been dealt with
	skipLF  bool  // the last line ended with \r: a following \n is part of it
	consume int   // bytes of r still to discard for the line last returned
	line    []byte
	fix     []byte // line with invalid UTF-8 replaced
	data    []byte // data buffer: each data value followed by \n
	typ     []byte // event type buffer
	id      string // last event ID buffer
	lastID  string // last event ID string, committed at each blank line
	retry   time.Duration
	lastTyp string // previous Type, reused to avoid an allocation per event
}

// NewDecoder returns a Decoder reading from r with the default limits.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{
		MaxLine:  DefaultMaxLine,
		MaxEvent: DefaultMaxEvent,
		r:        bufio.NewReader(r),
	}
}

// LastEventID returns the stream's last event ID: the id in effect at the
// most recent blank line, even if no event was dispatched there.
func (d *Decoder) LastEventID() string { return d.lastID }

// Retry returns the reconnection delay most recently set by the stream, or 0.
func (d *Decoder) Retry() time.Duration { return d.retry }

// Next reads until the next event is dispatched and returns it. It returns
// io.EOF when the stream ends cleanly, io.ErrUnexpectedEOF when it ends in
// the middle of a line or of an event, ErrLineTooLong or ErrEventTooLarge
// when a limit is exceeded, or the underlying reader's error. After an error
// every call returns the same error.
func (d *Decoder) Next() (Event, error) {
	if d.err != nil {
		return Event{}, d.err
	}
	if !d.started {
		d.started = true
		if err := d.skipBOM(); err != nil {
			return Event{}, d.fail(err)
		}
	}
	for {
		line, err := d.readLine()
		if err != nil {
			return Event{}, d.fail(err)
		}
		if len(line) == 0 {
			if ev, ok := d.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if err := d.field(line); err != nil {
			return Event{}, d.fail(err)
		}
	}
}

func (d *Decoder) fail(err error) error {
	if err == io.EOF && (len(d.line) > 0 || len(d.data) > 0) {
		err = io.ErrUnexpectedEOF
	}
	d.err = err
	d.line, d.fix, d.data, d.typ = nil, nil, nil, nil
	return err
}

var bom = [3]byte{0xEF, 0xBB, 0xBF}

// skipBOM discards one leading UTF-8 byte order mark. It peeks one byte at a
// time so that it never waits for bytes that cannot be part of a BOM.
func (d *Decoder) skipBOM() error {
	for i := 1; i <= len(bom); i++ {
		b, err := d.r.Peek(i)
		if len(b) < i {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF // a partial line
			}
			return err
		}
		if b[i-1] != bom[i-1] {
			return nil
		}
	}
	_, err := d.r.Discard(len(bom))
	return err
}

// readLine returns the next line without its line end. The result is valid
// until the next call. A line that fits in the bufio buffer is returned in
// place and discarded on the next call; only longer lines are copied.
//
// A \r line end is reported at once, without waiting to see whether \n
// follows (that would delay the event until the next byte arrives); skipLF
// makes the next call drop that \n instead.
func (d *Decoder) readLine() ([]byte, error) {
	if d.consume > 0 {
		d.r.Discard(d.consume) // cannot fail: the bytes are buffered
		d.consume = 0
	}
	if cap(d.line) > 64<<10 {
		d.line = nil // do not pin a huge buffer after one long line
	}
	d.line = d.line[:0]
	maxLine := limit(d.MaxLine, DefaultMaxLine)
	for {
		if d.r.Buffered() == 0 {
			if _, err := d.r.Peek(1); err != nil {
				return nil, err
			}
		}
		buf, _ := d.r.Peek(d.r.Buffered())
		if d.skipLF {
			d.skipLF = false
			if buf[0] == '\n' {
				d.r.Discard(1)
				continue
			}
		}
		i := findLineEnd(buf)
		if i < 0 {
			if len(d.line)+len(buf) > maxLine {
				return nil, ErrLineTooLong
			}
			d.line = append(d.line, buf...)
			d.r.Discard(len(buf))
			continue
		}
		if len(d.line)+i > maxLine {
			return nil, ErrLineTooLong
		}
		n := i + 1
		if buf[i] == '\r' {
			if i+1 == len(buf) {
				d.skipLF = true
			} else if buf[i+1] == '\n' {
				n++
			}
		}
		if len(d.line) == 0 {
			d.consume = n
			return buf[:i], nil
		}
		d.line = append(d.line, buf[:i]...)
		d.r.Discard(n)
		return d.line, nil
	}
}

// field processes one non-blank line.
func (d *Decoder) field(line []byte) error {
	if !utf8.Valid(line) {
		d.fix = appendValidUTF8(d.fix[:0], line)
		line = d.fix
	}
	if line[0] == ':' {
		if d.OnComment != nil {
			d.OnComment(string(trimSpace(line[1:])))
		}
		return nil
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], trimSpace(line[i+1:])
	}
	switch string(name) {
	case "event":
		d.typ = append(d.typ[:0], value...)
	case "data":
		if len(d.data)+len(value) > limit(d.MaxEvent, DefaultMaxEvent) {
			return ErrEventTooLarge
		}
		d.data = append(append(d.data, value...), '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != d.id {
			d.id = string(value)
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			d.retry = time.Duration(ms) * time.Millisecond
		}
	}
	return nil
}

// dispatch handles a blank line. It reports false when the data buffer is
// empty: the spec does not dispatch such an event.
func (d *Decoder) dispatch() (Event, bool) {
	d.lastID = d.id
	if len(d.data) == 0 {
		d.typ = d.typ[:0]
		return Event{}, false
	}
	ev := Event{
		Type:  "message",
		Data:  string(d.data[:len(d.data)-1]),
		ID:    d.lastID,
		Retry: d.retry,
	}
	if len(d.typ) > 0 {
		if string(d.typ) != d.lastTyp {
			d.lastTyp = string(d.typ)
		}
		ev.Type = d.lastTyp
	}
	if cap(d.data) > 64<<10 {
		d.data = nil // do not pin a huge buffer after one large event
	}
	d.data, d.typ = d.data[:0], d.typ[:0]
	return ev, true
}

func limit(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// trimSpace removes one leading space, as the spec does for field values.
func trimSpace(b []byte) []byte {
	if len(b) > 0 && b[0] == ' ' {
		return b[1:]
	}
	return b
}

// parseDigits parses a retry value: one or more ASCII digits. Values too
// large for a time.Duration are rejected, as browsers reject values that
// overflow.
func parseDigits(b []byte) (int64, bool) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		if n > math.MaxInt64/int64(time.Millisecond) {
			return 0, false
		}
	}
	return n, len(b) > 0
}

// appendValidUTF8 appends src to dst with each maximal invalid subsequence
// replaced by one U+FFFD, as the WHATWG UTF-8 decoder does. (Neither
// strings.ToValidUTF8, which merges runs, nor utf8.DecodeRune, which goes
// byte by byte, gives the same count of U+FFFD as a browser.) Decoding line
// by line gives the same result as decoding the whole stream because line
// ends are ASCII, which always ends an invalid subsequence.
func appendValidUTF8(dst, src []byte) []byte {
	for len(src) > 0 {
		r, n := utf8.DecodeRune(src)
		if r == utf8.RuneError && n == 1 {
			n = invalidLen(src)
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, src[:n]...)
		}
		src = src[n:]
	}
	return dst
}

// invalidLen returns the length of the maximal invalid subsequence at the
// start of p: a lead byte and as many of its continuation bytes as were
// valid before the sequence broke off.
func invalidLen(p []byte) int {
	need, lo, hi := 0, byte(0x80), byte(0xBF)
	switch b := p[0]; {
	case b >= 0xC2 && b <= 0xDF:
		need = 1
	case b == 0xE0:
		need, lo = 2, 0xA0
	case b == 0xED:
		need, hi = 2, 0x9F
	case b >= 0xE1 && b <= 0xEF:
		need = 2
	case b == 0xF0:
		need, lo = 3, 0x90
	case b == 0xF4:
		need, hi = 3, 0x8F
	case b >= 0xF1 && b <= 0xF3:
		need = 3
	}
	n := 1
	for n <= need && n < len(p) && p[n] >= lo && p[n] <= hi {
		n, lo, hi = n+1, 0x80, 0xBF
	}
	return n
}
