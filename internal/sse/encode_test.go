package sse_test

import (
	"bytes"
	"io"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/keypost/keypost/internal/sse"
)

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		name, event string
		id          uint64
		data, want  string
	}{
		{"JSON", "update", 42, `{"a":1}`, "event: update\ndata: {\"a\":1}\nid: 42\n\n"},
		{"EmptyData", "ping", 0, "", "event: ping\ndata: \nid: 0\n\n"},
		{"MaxID", "x", math.MaxUint64, "1", "event: x\ndata: 1\nid: 18446744073709551615\n\n"},
		{"EmptyEventOmitted", "", 7, "d", "data: d\nid: 7\n\n"},
		{"NewlinesStrippedFromEvent", "up\r\nda\nte\r", 1, "d", "event: update\ndata: d\nid: 1\n\n"},
		{"DataLineEndsSplit", "e", 1, "a\r\nb\rc\nd", "event: e\ndata: a\ndata: b\ndata: c\ndata: d\nid: 1\n\n"},
		{"DataTrailingLineEnd", "e", 1, "a\n", "event: e\ndata: a\ndata: \nid: 1\n\n"},
		{"DataCRCR", "e", 1, "\r\r", "event: e\ndata: \ndata: \ndata: \nid: 1\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sse.AppendEvent([]byte("prefix"), tc.event, tc.id, []byte(tc.data))
			if string(got) != "prefix"+tc.want {
				t.Errorf("got %q, want %q", got, "prefix"+tc.want)
			}
		})
	}
}

func TestAppendRetry(t *testing.T) {
	for ms, want := range map[int64]string{3000: "retry: 3000\n\n", 0: "retry: 0\n\n", -5: "retry: 0\n\n"} {
		if got := sse.AppendRetry([]byte("p"), ms); string(got) != "p"+want {
			t.Errorf("AppendRetry(%d) = %q", ms, got)
		}
	}
}

func TestAppendComment(t *testing.T) {
	for text, want := range map[string]string{
		"keep-alive": ": keep-alive\n\n",
		"":           ": \n\n",
		"a\r\nb\rc":  ": a\n: b\n: c\n\n",
	} {
		if got := sse.AppendComment([]byte("p"), text); string(got) != "p"+want {
			t.Errorf("AppendComment(%q) = %q", text, got)
		}
	}
}

// TestEncoderDoesNotAllocate guards the relay's hot path: with a buffer of
// sufficient capacity the encoder must not allocate, even for odd input.
func TestEncoderDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 4096)
	data := []byte(`{"id":"0123","body":"x"}`)
	allocs := testing.AllocsPerRun(100, func() {
		b := sse.AppendEvent(buf[:0], "message", 12345, data)
		b = sse.AppendEvent(b, "weird\nname", 1, []byte("a\r\nb"))
		b = sse.AppendRetry(b, 3000)
		_ = sse.AppendComment(b, "keep-alive\nx")
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run, want 0", allocs)
	}
}

// TestRoundTrip encodes events, retries and comments and decodes them back.
func TestRoundTrip(t *testing.T) {
	type in struct {
		event string
		id    uint64
		data  string
	}
	inputs := []in{
		{"session", 1, `{"version":"1.0","limits":{"max":65536}}`},
		{"message", 2, `{"body":"héllo \u2028 wörld"}`},
		{"", 3, "plain"},
		{"multi", 4, "a\nb\r\nc\rd"},
		{"trailing", 5, "a\n"},
		{"empty", 6, ""},
		{"spaces", 7, "  leading and trailing  "},
		{"colons", 8, "data: not a field"},
		{"nul", 9, "a\x00b"},
		{"bad\r\nname", 10, "x"},
	}
	want := map[string]string{"": "message", "bad\r\nname": "badname"}
	expectData := map[string]string{"a\nb\r\nc\rd": "a\nb\nc\nd"}

	var stream []byte
	var wantRes result
	retry := int64(0)
	for i, e := range inputs {
		if i%3 == 0 {
			retry += 1000
			stream = sse.AppendRetry(stream, retry)
			stream = sse.AppendComment(stream, "keep-alive "+strconv.Itoa(i))
			wantRes.Comments = append(wantRes.Comments, "keep-alive "+strconv.Itoa(i))
		}
		stream = sse.AppendEvent(stream, e.event, e.id, []byte(e.data))
		typ, ok := want[e.event]
		if !ok {
			typ = e.event
		}
		data, ok := expectData[e.data]
		if !ok {
			data = e.data
		}
		wantRes.Events = append(wantRes.Events, sse.Event{
			Type: typ, Data: data, ID: strconv.FormatUint(e.id, 10),
			Retry: time.Duration(retry) * time.Millisecond,
		})
	}
	wantRes.Err, wantRes.LastID, wantRes.Retry = io.EOF, "10", time.Duration(retry)*time.Millisecond

	got := decodeAll(bytes.NewReader(stream), nil)
	if !reflect.DeepEqual(got, wantRes) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, wantRes)
	}
	checkChunkings(t, stream, got)
}
