package sse_test

import (
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keypost/keypost/internal/sse"
)

// result is everything observable from decoding one stream.
type result struct {
	Events   []sse.Event
	Comments []string
	Err      error
	LastID   string
	Retry    time.Duration
}

// decodeAll decodes r to the end. setup, if not nil, adjusts the decoder.
func decodeAll(r io.Reader, setup func(*sse.Decoder)) result {
	var res result
	d := sse.NewDecoder(r)
	if setup != nil {
		setup(d)
	}
	d.OnComment = func(s string) { res.Comments = append(res.Comments, s) }
	for {
		ev, err := d.Next()
		if err != nil {
			res.Err = err
			break
		}
		res.Events = append(res.Events, ev)
	}
	res.LastID, res.Retry = d.LastEventID(), d.Retry()
	return res
}

func diff(t *testing.T, what string, got, want result) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// chunkReader returns its data 1 to 7 bytes per Read, at random.
type chunkReader struct {
	data []byte
	rng  *rand.Rand
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+c.rng.IntN(7))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// chunks returns a reader that yields each part in its own Read.
func chunks(parts ...string) io.Reader {
	rs := make([]io.Reader, len(parts))
	for i, p := range parts {
		rs[i] = strings.NewReader(p)
	}
	return io.MultiReader(rs...)
}

// refDecode is an oracle: a direct, unoptimised transcription of the WHATWG
// "interpreting an event stream" algorithm, written independently of the
// Decoder (whole input in memory, strings, no limits).
func refDecode(in []byte) result {
	var res result
	s := whatwgUTF8(strings.TrimPrefix(string(in), "\uFEFF"))
	var data, typ, id string
	for s != "" {
		i := strings.IndexAny(s, "\r\n")
		if i < 0 { // a final line without a line end is discarded
			res.Err = io.ErrUnexpectedEOF
			return res
		}
		line := s[:i]
		if strings.HasPrefix(s[i:], "\r\n") {
			i++
		}
		s = s[i+1:]
		switch {
		case line == "":
			res.LastID = id
			if data == "" {
				typ = ""
				continue
			}
			ev := sse.Event{Type: "message", Data: strings.TrimSuffix(data, "\n"), ID: id, Retry: res.Retry}
			if typ != "" {
				ev.Type = typ
			}
			res.Events = append(res.Events, ev)
			data, typ = "", ""
		case line[0] == ':':
			res.Comments = append(res.Comments, strings.TrimPrefix(line[1:], " "))
		default:
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "event":
				typ = value
			case "data":
				data += value + "\n"
			case "id":
				if !strings.Contains(value, "\x00") {
					id = value
				}
			case "retry":
				n, err := strconv.ParseUint(value, 10, 64)
				if err == nil && n <= math.MaxInt64/uint64(time.Millisecond) {
					res.Retry = time.Duration(n) * time.Millisecond
				}
			}
		}
	}
	res.Err = io.EOF
	if data != "" {
		res.Err = io.ErrUnexpectedEOF
	}
	return res
}

// whatwgUTF8 is the WHATWG Encoding standard's UTF-8 decoder, transcribed
// step by step (without BOM handling), as an oracle for U+FFFD placement.
func whatwgUTF8(in string) string {
	var out strings.Builder
	var cp rune
	needed, seen, lower, upper := 0, 0, byte(0x80), byte(0xBF)
	for i := 0; i < len(in); i++ {
		b := in[i]
		if needed == 0 {
			switch {
			case b <= 0x7F:
				out.WriteByte(b)
			case b >= 0xC2 && b <= 0xDF:
				needed, cp = 1, rune(b&0x1F)
			case b >= 0xE0 && b <= 0xEF:
				if b == 0xE0 {
					lower = 0xA0
				}
				if b == 0xED {
					upper = 0x9F
				}
				needed, cp = 2, rune(b&0xF)
			case b >= 0xF0 && b <= 0xF4:
				if b == 0xF0 {
					lower = 0x90
				}
				if b == 0xF4 {
					upper = 0x8F
				}
				needed, cp = 3, rune(b&0x7)
			default:
				out.WriteRune('\uFFFD')
			}
			continue
		}
		if b < lower || b > upper {
			cp, needed, seen, lower, upper = 0, 0, 0, 0x80, 0xBF
			out.WriteRune('\uFFFD')
			i-- // restore b to the stream
			continue
		}
		lower, upper = 0x80, 0xBF
		cp = cp<<6 | rune(b&0x3F)
		if seen++; seen == needed {
			out.WriteRune(cp)
			cp, needed, seen = 0, 0, 0
		}
	}
	if needed != 0 {
		out.WriteRune('\uFFFD')
	}
	return out.String()
}
