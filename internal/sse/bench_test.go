package sse_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keypost/keypost/internal/sse"
)

// payload is a typical keypost event body: about 200 bytes of JSON.
var payload = []byte(`{"id":"0196f1c2-7d3e-7a4b-9c1d-2e3f4a5b6c7d","from":"kp1qg8s7dfw3e0x9y2k4m6n8p0r2t4v6x8z0c2b4n6m8","sent":"2025-11-28T14:25:00Z","body":"aGVsbG8gd29ybGQsIHRoaXMgaXMgYSBtZXNzYWdlIQ=="}`)

func BenchmarkAppendEvent(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for i := 0; b.Loop(); i++ {
		buf = sse.AppendEvent(buf[:0], "message", uint64(i), payload)
	}
}

func BenchmarkDecode(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		stream = sse.AppendEvent(stream, "message", uint64(i), payload)
		if i%100 == 0 {
			stream = sse.AppendComment(stream, "keep-alive")
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	r := bytes.NewReader(stream)
	for b.Loop() {
		r.Reset(stream)
		d := sse.NewDecoder(r)
		for {
			if _, err := d.Next(); err != nil {
				break
			}
		}
	}
}

// BenchmarkDecodeLongLine measures a data line much larger than the read
// buffer, which the decoder must assemble from many reads.
func BenchmarkDecodeLongLine(b *testing.B) {
	stream := []byte("data: " + strings.Repeat("x", 1<<20-10) + "\n\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	r := bytes.NewReader(stream)
	for b.Loop() {
		r.Reset(stream)
		if _, err := sse.NewDecoder(r).Next(); err != nil {
			b.Fatal(err)
		}
	}
}
