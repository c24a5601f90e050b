package sse_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/keypost/keypost/internal/sse"
)

func msg(data string) sse.Event { return sse.Event{Type: "message", Data: data} }

// ruleTests has one case per parsing rule of the WHATWG spec, named after
// the rule. err nil means io.EOF.
var ruleTests = []struct {
	name     string
	in       string
	want     []sse.Event
	comments []string
	err      error
}{
	{name: "DispatchOnBlankLine", in: "data: a\n\n", want: []sse.Event{msg("a")}},
	{name: "LeadingBOMStripped", in: "\uFEFFdata: a\n\n", want: []sse.Event{msg("a")}},
	{name: "OnlyOneBOMStripped", in: "\uFEFF\uFEFFdata: a\n\ndata: b\n\n", want: []sse.Event{msg("b")}},
	{name: "BOMOnlyAtStreamStart", in: "data: a\n\n\uFEFFdata: b\n\n", want: []sse.Event{msg("a")}},
	{name: "LineEndLF", in: "data: a\ndata: b\n\n", want: []sse.Event{msg("a\nb")}},
	{name: "LineEndCRLF", in: "data: a\r\ndata: b\r\n\r\n", want: []sse.Event{msg("a\nb")}},
	{name: "LineEndCR", in: "data: a\rdata: b\r\r", want: []sse.Event{msg("a\nb")}},
	{name: "MixedLineEnds", in: "data: a\rdata: b\ndata: c\r\n\n", want: []sse.Event{msg("a\nb\nc")}},
	{name: "LFCRIsTwoLineEnds", in: "data: a\n\rdata: b\n\n", want: []sse.Event{msg("a"), msg("b")}},
	{name: "CRCRIsTwoLineEnds", in: "data: a\r\r\ndata: b\n\n", want: []sse.Event{msg("a"), msg("b")}},
	{name: "DataLinesJoinedWithLF", in: "data: a\ndata:\ndata: c\n\n", want: []sse.Event{msg("a\n\nc")}},
	{name: "OneSpaceAfterColonRemoved", in: "data:a\n\ndata: b\n\ndata:  c\n\n", want: []sse.Event{msg("a"), msg("b"), msg(" c")}},
	{name: "TrailingSpaceKept", in: "data: a \n\n", want: []sse.Event{msg("a ")}},
	{name: "ValueSplitAtFirstColon", in: "data: a: b:c\n\n", want: []sse.Event{msg("a: b:c")}},
	{name: "NoColonMeansEmptyValue", in: "data\n\n", want: []sse.Event{msg("")}},
	{name: "EmptyValueStillAddsLine", in: "data\ndata\n\n", want: []sse.Event{msg("\n")}},
	{name: "EmptyDataBufferNotDispatched", in: "event: x\n\nid: 1\n\nretry: 5\n\n\n\n", want: nil},
	{name: "EventTypeResetAfterUndispatchedBlock", in: "event: x\n\ndata: a\n\n", want: []sse.Event{msg("a")}},
	{name: "EventTypeDefaultsToMessage", in: "data: a\n\n", want: []sse.Event{msg("a")}},
	{name: "EventTypeSet", in: "event: update\ndata: a\n\n", want: []sse.Event{{Type: "update", Data: "a"}}},
	{name: "EventTypeResetAfterDispatch", in: "event: x\ndata: a\n\ndata: b\n\n", want: []sse.Event{{Type: "x", Data: "a"}, msg("b")}},
	{name: "EmptyEventTypeIsMessage", in: "event\ndata: a\n\n", want: []sse.Event{msg("a")}},
	{name: "LastEventFieldWins", in: "event: x\nevent: y\ndata: a\n\n", want: []sse.Event{{Type: "y", Data: "a"}}},
	{name: "IDPersistsAcrossEvents", in: "id: 1\ndata: a\n\ndata: b\n\n", want: []sse.Event{{Type: "message", Data: "a", ID: "1"}, {Type: "message", Data: "b", ID: "1"}}},
	{name: "EmptyIDResets", in: "id: 1\ndata: a\n\nid\ndata: b\n\n", want: []sse.Event{{Type: "message", Data: "a", ID: "1"}, msg("b")}},
	{name: "IDWithNULIgnored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", want: []sse.Event{{Type: "message", Data: "a", ID: "1"}, {Type: "message", Data: "b", ID: "1"}}},
	{name: "IDCommittedByUndispatchedBlock", in: "id: 7\n\ndata: a\n\n", want: []sse.Event{{Type: "message", Data: "a", ID: "7"}}},
	{name: "IDAnywhereInBlock", in: "data: a\nid: 3\n\n", want: []sse.Event{{Type: "message", Data: "a", ID: "3"}}},
	{name: "RetryDigits", in: "retry: 1500\ndata: a\n\n", want: []sse.Event{{Type: "message", Data: "a", Retry: 1500 * time.Millisecond}}},
	{name: "RetryPersistsAcrossEvents", in: "retry: 10\n\ndata: a\n\ndata: b\n\n", want: []sse.Event{{Type: "message", Data: "a", Retry: 10 * time.Millisecond}, {Type: "message", Data: "b", Retry: 10 * time.Millisecond}}},
	{name: "RetryNonDigitsIgnored", in: "retry: 9\nretry: 1x\nretry: -1\nretry: 1.5\nretry: +2\nretry:  3\nretry\nretry: \ndata: a\n\n", want: []sse.Event{{Type: "message", Data: "a", Retry: 9 * time.Millisecond}}},
	{name: "RetryZero", in: "retry: 9\nretry: 0\ndata: a\n\n", want: []sse.Event{msg("a")}},
	{name: "RetryOverflowIgnored", in: "retry: 9\nretry: 99999999999999999999\ndata: a\n\n", want: []sse.Event{{Type: "message", Data: "a", Retry: 9 * time.Millisecond}}},
	{name: "CommentsIgnoredButObservable", in: ": keep-alive\ndata: a\n:\n:  x\n\n", want: []sse.Event{msg("a")}, comments: []string{"keep-alive", "", " x"}},
	{name: "CommentOnlyBlockNotDispatched", in: ": keep-alive\n\n", comments: []string{"keep-alive"}},
	{name: "UnknownFieldIgnored", in: "foo: bar\ndata: a\n\n", want: []sse.Event{msg("a")}},
	{name: "FieldNamesCaseSensitive", in: "Data: a\nDATA: b\n\n"},
	{name: "SpaceBeforeColonIsPartOfName", in: "data : a\n\n"},
	{name: "NULInDataKept", in: "data: a\x00b\n\n", want: []sse.Event{msg("a\x00b")}},
	{name: "InvalidUTF8Replaced", in: "data: a\xffb\n\n", want: []sse.Event{msg("a\uFFFDb")}},
	{name: "TruncatedUTF8IsOneReplacement", in: "data: \xe2\x82A\xf0\x9f\x98\n\n", want: []sse.Event{msg("\uFFFDA\uFFFD")}},
	{name: "SurrogateAndOverlongReplacedPerByte", in: "data: \xed\xa0\x80\xc0\xaf\n\n", want: []sse.Event{msg("\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD")}},
	{name: "ValidUTF8Kept", in: "event: ünï\ndata: €😀\uFFFD\n\n", want: []sse.Event{{Type: "ünï", Data: "€😀\uFFFD"}}},
	{name: "EmptyStreamIsCleanEOF", in: ""},
	{name: "BOMOnlyIsCleanEOF", in: "\uFEFF"},
	{name: "PartialBOMIsUnexpectedEOF", in: "\xef\xbb", err: io.ErrUnexpectedEOF},
	{name: "CRAtEndOfStream", in: "data: a\r\r", want: []sse.Event{msg("a")}},
	{name: "IncompleteEventAtEOFNotDispatched", in: "data: a\n\ndata: b\n", want: []sse.Event{msg("a")}, err: io.ErrUnexpectedEOF},
	{name: "UnterminatedLineAtEOFDiscarded", in: "data: a\n\n: c", want: []sse.Event{msg("a")}, err: io.ErrUnexpectedEOF},
	{name: "UndispatchableTailIsCleanEOF", in: "data: a\n\nevent: x\nid: 2\n", want: []sse.Event{msg("a")}},
}

func TestParsingRules(t *testing.T) {
	for _, tc := range ruleTests {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeAll(strings.NewReader(tc.in), nil)
			wantErr := tc.err
			if wantErr == nil {
				wantErr = io.EOF
			}
			if !reflect.DeepEqual(got.Events, tc.want) || !reflect.DeepEqual(got.Comments, tc.comments) || got.Err != wantErr {
				t.Errorf("decode %q:\n got %+v %q %v\nwant %+v %q %v", tc.in, got.Events, got.Comments, got.Err, tc.want, tc.comments, wantErr)
			}
			diff(t, "oracle", got, refDecode([]byte(tc.in)))
			checkChunkings(t, []byte(tc.in), got)
		})
	}
}

// TestLastEventID checks the id the SDK reconnects with: committed at each
// blank line, not by a trailing unterminated block.
func TestLastEventID(t *testing.T) {
	for in, want := range map[string]string{
		"id: 1\ndata: a\n\n":            "1",
		"id: 1\n\n":                     "1",
		"id: 1\ndata: a\n\nid: 2\n":     "1",
		"id: 1\n\nid\n\n":               "",
		"retry: 5\nid: 9\n\n: ping\n\n": "9",
	} {
		if got := decodeAll(strings.NewReader(in), nil); got.LastID != want {
			t.Errorf("%q: LastEventID = %q, want %q", in, got.LastID, want)
		}
	}
	if got := decodeAll(strings.NewReader("retry: 250\n\n"), nil); got.Retry != 250*time.Millisecond {
		t.Errorf("Retry = %v, want 250ms", got.Retry)
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name              string
		in                string
		maxLine, maxEvent int
		want              []sse.Event
		err               error
	}{
		{"LineAtLimit", "data: 0123\n\n", 10, 0, []sse.Event{msg("0123")}, io.EOF},
		{"LineOverLimit", "data: a\n\ndata: 01234\n\n", 10, 0, []sse.Event{msg("a")}, sse.ErrLineTooLong},
		{"UnterminatedLineOverLimit", "data: 012345678", 10, 0, nil, sse.ErrLineTooLong},
		{"CommentOverLimit", ": 012345678\n\n", 10, 0, nil, sse.ErrLineTooLong},
		{"EventAtLimit", "data: 0123\ndata: 4\n\n", 0, 6, []sse.Event{msg("0123\n4")}, io.EOF},
		{"EventOverLimit", "data: 0123\ndata: 45\n\n", 0, 6, nil, sse.ErrEventTooLarge},
		{"LimitIsPerEvent", "data: 0123\n\ndata: 0123\n\n", 0, 6, []sse.Event{msg("0123"), msg("0123")}, io.EOF},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			setup := func(d *sse.Decoder) { d.MaxLine, d.MaxEvent = tc.maxLine, tc.maxEvent }
			got := decodeAll(strings.NewReader(tc.in), setup)
			if !reflect.DeepEqual(got.Events, tc.want) || got.Err != tc.err {
				t.Errorf("got %+v %v, want %+v %v", got.Events, got.Err, tc.want, tc.err)
			}
			for _, r := range []io.Reader{iotest.OneByteReader(strings.NewReader(tc.in)), iotest.HalfReader(strings.NewReader(tc.in))} {
				diff(t, "chunked", decodeAll(r, setup), got)
			}
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	d := sse.NewDecoder(strings.NewReader(""))
	if d.MaxLine != 1<<20 || d.MaxEvent != 4<<20 {
		t.Fatalf("limits = %d, %d", d.MaxLine, d.MaxEvent)
	}
	long := "data: " + strings.Repeat("x", 1<<20-len("data: ")) + "\n\n"
	if got := decodeAll(strings.NewReader(long), nil); got.Err != io.EOF || len(got.Events) != 1 {
		t.Errorf("1 MiB line: %v, %d events", got.Err, len(got.Events))
	}
	if got := decodeAll(strings.NewReader(long[:len(long)-2]+"x\n\n"), nil); got.Err != sse.ErrLineTooLong {
		t.Errorf("1 MiB + 1 line: %v", got.Err)
	}
	line := "data: " + strings.Repeat("x", 1<<20-len("data: ")) + "\n"
	if got := decodeAll(strings.NewReader(strings.Repeat(line, 5)+"\n"), nil); got.Err != sse.ErrEventTooLarge {
		t.Errorf("5 MiB event: %v", got.Err)
	}
}

func TestErrorsAreSticky(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom))
	d := sse.NewDecoder(r)
	if ev, err := d.Next(); err != nil || ev.Data != "a" {
		t.Fatalf("first Next = %+v, %v", ev, err)
	}
	for range 3 {
		if _, err := d.Next(); err != boom {
			t.Fatalf("Next error = %v, want %v", err, boom)
		}
	}
	d = sse.NewDecoder(strings.NewReader("data: 0123456789\n\ndata: a\n\n"))
	d.MaxLine = 5
	for range 3 {
		if _, err := d.Next(); err != sse.ErrLineTooLong {
			t.Fatalf("Next error = %v, want ErrLineTooLong", err)
		}
	}
}

// TestDispatchWithoutReadAhead checks that an event is returned as soon as
// its blank line arrives: after a \r the decoder must not wait for a
// possible \n, or a live stream would stall until the next event.
func TestDispatchWithoutReadAhead(t *testing.T) {
	for _, in := range []string{"data: a\n\n", "data: a\r\r", "data: a\r\n\r", "\uFEFFdata: a\n\n"} {
		pr, pw := io.Pipe()
		go pw.Write([]byte(in)) // never closed: more bytes "may" follow
		done := make(chan error, 1)
		go func() {
			ev, err := sse.NewDecoder(pr).Next()
			if err == nil && ev.Data != "a" {
				err = errors.New("wrong data " + ev.Data)
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%q: %v", in, err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%q: Next blocked waiting for bytes after the blank line", in)
		}
		pw.Close()
	}
}

// TestLongLinesAcrossBuffer checks lines longer than the decoder's read
// buffer, which are assembled from several reads.
func TestLongLinesAcrossBuffer(t *testing.T) {
	data := strings.Repeat("0123456789", 2000)
	in := "data: " + data + "\r\n\r\ndata: x\n\n"
	got := decodeAll(bytes.NewReader([]byte(in)), nil)
	want := []sse.Event{msg(data), msg("x")}
	if got.Err != io.EOF || !reflect.DeepEqual(got.Events, want) {
		t.Fatalf("got %d events, %v", len(got.Events), got.Err)
	}
	checkChunkings(t, []byte(in), got)
}
