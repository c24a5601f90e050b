package client

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/keypost/keypost/protocol"
)

// The chunk format (documented in the package doc). A chunk is a plain
// message whose data is chunkPrefix, a one-line JSON header (the
// envelope), "\n", and the chunk's bytes in standard base64. The bytes
// stay out of the JSON so that neither side runs a JSON codec over them,
// and the header can be checked before the data is decoded.
const (
	chunkPrefix     = "kp-chunk:"
	envelopeVersion = 1
	maxNameBytes    = 255 // a file name, not a path
	maxAbortBytes   = 200
)

// envelope is the header of one chunk of a transfer. Every chunk repeats the transfer's
// name, size and chunk count, so that whichever arrives first (chunks may
// come out of order after a resend) can open the transfer.
type envelope struct {
	V      int    `json:"v"`                // envelopeVersion
	ID     string `json:"id"`               // transfer id, a UUID chosen by the sender
	Index  int64  `json:"i"`                // 0 … n-1
	Total  int64  `json:"n"`                // chunk count, ≥ 1
	Name   string `json:"name"`             // the sender's name for the content
	Size   int64  `json:"size"`             // total bytes
	SHA256 string `json:"sha256,omitempty"` // lowercase hex of the whole, on the last chunk
	Abort  string `json:"abort,omitempty"`  // the sender gave up, and why (no data)
}

// encode returns a chunk's message data: prefix, header, "\n", data.
func (e *envelope) encode(data []byte) string {
	var b strings.Builder
	b.Grow(len(chunkPrefix) + 256 + base64.StdEncoding.EncodedLen(len(data)))
	b.WriteString(chunkPrefix)
	enc := json.NewEncoder(&b) // ends the header with the "\n"
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		panic("keypost: chunk envelope does not encode: " + err.Error()) // strings and ints only
	}
	w := base64.NewEncoder(base64.StdEncoding, &b)
	w.Write(data)
	w.Close()
	return b.String()
}

// chunkBytes is how many raw bytes each chunk of a transfer can carry so
// that its data, prefix and envelope included, stays within maxMessage
// bytes (§9.4). It sizes the envelope with the widest index and count the
// transfer can have, and with the checksum, so every chunk fits.
func chunkBytes(maxMessage int, id, name string, size int64) (int, error) {
	wide := max(size, 1)
	probe := envelope{V: envelopeVersion, ID: id, Index: wide, Total: wide, Name: name, Size: size, SHA256: strings.Repeat("0", 64)}
	budget := maxMessage - len(probe.encode(nil))
	per := budget / 4 * 3 // base64: 4 characters per 3 bytes
	if per < 1 {
		return 0, fmt.Errorf("keypost: max_message_bytes %d leaves no room for chunk data", maxMessage)
	}
	return per, nil
}

// parseChunk reads a chunk's envelope and data and checks that they are
// consistent in themselves (the transfer checks them against each other).
func parseChunk(data string) (*envelope, []byte, error) {
	header, body, ok := strings.Cut(strings.TrimPrefix(data, chunkPrefix), "\n")
	if !ok {
		return nil, nil, fmt.Errorf("%w: no line end after the envelope", ErrTransferCorrupt)
	}
	var e envelope
	if err := json.Unmarshal([]byte(header), &e); err != nil {
		return nil, nil, fmt.Errorf("%w: envelope: %v", ErrTransferCorrupt, err)
	}
	if e.V != envelopeVersion {
		return &e, nil, fmt.Errorf("%w: envelope version %d, want %d", ErrTransferCorrupt, e.V, envelopeVersion)
	}
	if _, err := protocol.ParseID(e.ID); err != nil {
		return nil, nil, fmt.Errorf("%w: transfer id: %v", ErrTransferCorrupt, err)
	}
	if e.Abort != "" {
		return &e, nil, nil
	}
	switch {
	case e.Size < 0 || e.Total < 1 || e.Index < 0 || e.Index >= e.Total:
		return &e, nil, fmt.Errorf("%w: chunk %d of %d, size %d", ErrTransferCorrupt, e.Index, e.Total, e.Size)
	case e.Total > max(e.Size, 1):
		return &e, nil, fmt.Errorf("%w: %d chunks for %d bytes", ErrTransferCorrupt, e.Total, e.Size)
	case len(e.Name) > maxNameBytes || !utf8.ValidString(e.Name):
		return &e, nil, fmt.Errorf("%w: name is not a short UTF-8 string", ErrTransferCorrupt)
	case e.Index == e.Total-1 && !isHexSHA256(e.SHA256):
		return &e, nil, fmt.Errorf("%w: the last chunk has no sha256", ErrTransferCorrupt)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(body)
	if err != nil {
		return &e, nil, fmt.Errorf("%w: chunk %d data: %v", ErrTransferCorrupt, e.Index, err)
	}
	switch {
	case len(b) == 0 && e.Size > 0:
		return &e, nil, fmt.Errorf("%w: chunk %d is empty", ErrTransferCorrupt, e.Index)
	case int64(len(b)) > e.Size:
		return &e, nil, fmt.Errorf("%w: chunk %d has %d bytes of a %d-byte transfer", ErrTransferCorrupt, e.Index, len(b), e.Size)
	}
	return &e, b, nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

var errNameTooLong = errors.New("keypost: transfer name must be valid UTF-8 of at most 255 bytes")
