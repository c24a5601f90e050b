package sse_test

import (
	"bytes"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/keypost/keypost/internal/sse"
)

// FuzzDecode feeds arbitrary bytes to the decoder. It must not panic, must
// respect its limits, must give the same result whether the input arrives
// whole or one byte at a time, and must agree with the spec oracle.
func FuzzDecode(f *testing.F) {
	for _, tc := range ruleTests {
		f.Add([]byte(tc.in))
	}
	f.Add(splitStream())
	f.Add([]byte("data: 0123456789abcdef0123456789abcdef\r\ndata: x\r\n\r"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, lim := range [][2]int{{0, 0}, {16, 24}} {
			setup := func(d *sse.Decoder) { d.MaxLine, d.MaxEvent = lim[0], lim[1] }
			whole := decodeAll(bytes.NewReader(in), setup)
			one := decodeAll(iotest.OneByteReader(bytes.NewReader(in)), setup)
			if !reflect.DeepEqual(whole, one) {
				t.Fatalf("limits %v: whole and one-byte reads differ:\n%+v\n%+v", lim, whole, one)
			}
			checkLimits(t, whole, lim[0], lim[1])
			if lim[0] == 0 && !reflect.DeepEqual(whole, refDecode(in)) {
				t.Fatalf("differs from oracle:\n got %+v\nwant %+v", whole, refDecode(in))
			}
		}
	})
}

func checkLimits(t *testing.T, r result, maxLine, maxEvent int) {
	t.Helper()
	if maxLine <= 0 {
		maxLine, maxEvent = sse.DefaultMaxLine, sse.DefaultMaxEvent
	}
	// A line is limited in input bytes; replacing an invalid byte with
	// U+FFFD can at most triple it.
	for _, ev := range r.Events {
		if len(ev.Data) > maxEvent || len(ev.Type) > 3*maxLine || len(ev.ID) > 3*maxLine {
			t.Fatalf("event over limits %d/%d: %+v", maxLine, maxEvent, ev)
		}
		if !utf8.ValidString(ev.Type + ev.Data + ev.ID) {
			t.Fatalf("invalid UTF-8 in %+v", ev)
		}
	}
	for _, c := range r.Comments {
		if len(c) > 3*maxLine {
			t.Fatalf("comment over limit: %q", c)
		}
	}
}

// FuzzRoundTrip encodes a comment and an event and decodes them: what comes
// out must be what went in, up to the documented normalisations (line ends
// in data become \n, line ends in event names are removed, invalid UTF-8
// becomes U+FFFD).
func FuzzRoundTrip(f *testing.F) {
	f.Add("message", uint64(1), []byte(`{"body":"hi"}`), "keep-alive")
	f.Add("", uint64(0), []byte(""), "")
	f.Add("a\r\nb", uint64(1<<63), []byte("x\r\ny\rz\n"), "c\rd")
	f.Add(" sp", uint64(9), []byte(" lead\xff\xe2\x82"), " x")
	f.Fuzz(func(t *testing.T, event string, id uint64, data []byte, comment string) {
		var stream []byte
		stream = sse.AppendComment(stream, comment)
		stream = sse.AppendEvent(stream, event, id, data)
		stream = sse.AppendEvent(stream, "next", id+1, []byte("{}"))

		want := result{Err: io.EOF, LastID: strconv.FormatUint(id+1, 10)}
		want.Comments = strings.Split(normalize(comment), "\n")
		typ := whatwgUTF8(strings.NewReplacer("\r", "", "\n", "").Replace(event))
		if typ == "" {
			typ = "message"
		}
		want.Events = []sse.Event{
			{Type: typ, Data: normalize(string(data)), ID: strconv.FormatUint(id, 10)},
			{Type: "next", Data: "{}", ID: want.LastID},
		}
		if got := decodeAll(bytes.NewReader(stream), nil); !reflect.DeepEqual(got, want) {
			t.Fatalf("stream %q:\n got %+v\nwant %+v", stream, got, want)
		}
	})
}

// normalize turns every line end into \n and fixes UTF-8, as decoding does.
func normalize(s string) string {
	return whatwgUTF8(strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s))
}
