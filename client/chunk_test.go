package client

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/keypost/keypost/protocol"
)

// Every chunk chunkBytes sizes fits max_message_bytes, whatever the
// transfer's size and name, and parses back to its envelope and bytes.
func TestChunkFitsAndRoundTrips(t *testing.T) {
	for _, maxMsg := range []int{1024, 4 << 10, 64 << 10} {
		for _, size := range []int64{0, 1, 1000, 1 << 30, 1<<53 - 1} {
			for _, name := range []string{"", "a.txt", strings.Repeat("é\"<", 51)} {
				id := protocol.NewID().String()
				per, err := chunkBytes(maxMsg, id, name, size)
				if err != nil {
					t.Fatal(err)
				}
				total := max(1, (size+int64(per)-1)/int64(per))
				n := min(int64(per), size)
				data := bytes.Repeat([]byte{0xff}, int(n))
				e := envelope{V: envelopeVersion, ID: id, Index: total - 1, Total: total, Name: name, Size: size, SHA256: strings.Repeat("a", 64)}
				s := e.encode(data)
				if len(s) > maxMsg {
					t.Fatalf("max %d, size %d, name %q: chunk of %d bytes", maxMsg, size, name, len(s))
				}
				got, b, err := parseChunk(s)
				if err != nil || *got != e || !bytes.Equal(b, data) {
					t.Fatalf("round trip: %+v %v", got, err)
				}
			}
		}
	}
	if _, err := chunkBytes(150, protocol.NewID().String(), "x", 10); err == nil {
		t.Fatal("a message size with no room for data was accepted")
	}
}

// Inconsistent envelopes are refused as ErrTransferCorrupt.
func TestParseChunkRefuses(t *testing.T) {
	id := protocol.NewID().String()
	for _, s := range []string{
		chunkPrefix + "{}",
		chunkPrefix + `{"v":1,"id":"` + id + `","i":0,"n":1,"size":1}` + "\n" + "AA==", // no sha256 on the last chunk
		chunkPrefix + `{"v":1,"id":"` + id + `","i":1,"n":1,"size":1}` + "\n",          // index out of range
		chunkPrefix + `{"v":1,"id":"` + id + `","i":0,"n":5,"size":2}` + "\n" + "AA==", // more chunks than bytes
		chunkPrefix + `{"v":1,"id":"` + id + `","i":0,"n":2,"size":2}` + "\n" + "A===", // bad base64
		chunkPrefix + `{"v":2,"id":"` + id + `","i":0,"n":2,"size":2}` + "\n" + "AA==", // unknown version
		chunkPrefix + `{"v":1,"id":"NOT-A-UUID","i":0,"n":2,"size":2}` + "\n" + "AA==", // bad id
		chunkPrefix + `{"v":1,"id":"` + id + `","i":0,"n":2,"size":2}`,                 // no data line
	} {
		if _, _, err := parseChunk(s); !errors.Is(err, ErrTransferCorrupt) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// FuzzParseChunk: no input makes the parser panic, and what it accepts is
// consistent.
func FuzzParseChunk(f *testing.F) {
	id := protocol.NewID().String()
	e := envelope{V: 1, ID: id, Index: 0, Total: 1, Name: "n", Size: 3, SHA256: strings.Repeat("0", 64)}
	f.Add(e.encode([]byte("abc")))
	f.Add(chunkPrefix + `{"v":1,"id":"` + id + `","abort":"why"}` + "\n")
	f.Add(chunkPrefix + "\n")
	f.Fuzz(func(t *testing.T, s string) {
		e, b, err := parseChunk(s)
		if err != nil || e.Abort != "" {
			return
		}
		if e.Index < 0 || e.Index >= e.Total || int64(len(b)) > e.Size || (len(b) == 0 && e.Size > 0) {
			t.Fatalf("accepted %+v with %d bytes", e, len(b))
		}
	})
}
