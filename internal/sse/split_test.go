package sse_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"time"

	"github.com/keypost/keypost/internal/sse"
)

// checkChunkings decodes in as delivered by many different readers and
// requires the result to equal want: how bytes are split across reads, in
// particular a \r\n split between two reads, must not matter.
func checkChunkings(t *testing.T, in []byte, want result) {
	t.Helper()
	s := string(in)
	step := 1 + len(s)/1024 // every position, or ~1024 of them for long input
	for i := 0; i <= len(s); i += step {
		diff(t, fmt.Sprintf("split at %d", i), decodeAll(chunks(s[:i], s[i:]), nil), want)
	}
	diff(t, "OneByteReader", decodeAll(iotest.OneByteReader(bytes.NewReader(in)), nil), want)
	diff(t, "HalfReader", decodeAll(iotest.HalfReader(bytes.NewReader(in)), nil), want)
	diff(t, "DataErrReader", decodeAll(iotest.DataErrReader(bytes.NewReader(in)), nil), want)
	rng := rand.New(rand.NewPCG(1, uint64(len(in))))
	for range 20 {
		diff(t, "chunkReader", decodeAll(&chunkReader{data: in, rng: rng}, nil), want)
	}
}

// splitStream mixes everything the relay writes with hand-written \r\n and
// \r line ends, a BOM, and multi-byte UTF-8 that chunking can cut in half.
func splitStream() []byte {
	b := []byte("\uFEFF")
	b = sse.AppendRetry(b, 3000)
	b = sse.AppendComment(b, "keep-alive")
	b = sse.AppendEvent(b, "session", 1, []byte(`{"version":"1.0","pad":"€😀"}`))
	b = sse.AppendEvent(b, "message", 2, []byte("two\r\nlines"))
	b = append(b, "event: ready\r\ndata: {}\r\nid: 3\r\n\r\n"...)
	b = append(b, ": cr\rdata: x\rdata: y\r\r"...)
	b = sse.AppendComment(b, "keep-alive")
	b = sse.AppendEvent(b, "", 4, nil)
	return b
}

func TestSplitStream(t *testing.T) {
	in := splitStream()
	want := decodeAll(bytes.NewReader(in), nil)
	retry := 3 * time.Second
	wantEvents := []sse.Event{
		{Type: "session", Data: `{"version":"1.0","pad":"€😀"}`, ID: "1", Retry: retry},
		{Type: "message", Data: "two\nlines", ID: "2", Retry: retry},
		{Type: "ready", Data: "{}", ID: "3", Retry: retry},
		{Type: "message", Data: "x\ny", ID: "3", Retry: retry},
		{Type: "message", Data: "", ID: "4", Retry: retry},
	}
	diff(t, "whole", want, result{
		Events:   wantEvents,
		Comments: []string{"keep-alive", "cr", "keep-alive"},
		Err:      io.EOF,
		LastID:   "4",
		Retry:    retry,
	})
	diff(t, "oracle", want, refDecode(in))
	checkChunkings(t, in, want)
}
