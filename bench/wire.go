package bench

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Message ids name their pair and sequence number, so that a recipient can
// count duplicates and the end of a run can count losses without a shared
// table: a version 4 UUID whose bytes 0–3 are the pair's index and bytes
// 10–15 the sequence number (1, 2, 3 … per pair). Data starts with the
// time the message was sent (nanoseconds since the run's start) and is
// padded to the requested size.

// appendMsgID appends the id of message seq of pair p.
func appendMsgID(b []byte, p uint32, seq uint64) []byte {
	var id [16]byte
	id[0], id[1], id[2], id[3] = byte(p>>24), byte(p>>16), byte(p>>8), byte(p)
	id[6] = 0x40 // version 4
	id[8] = 0x80 // RFC 9562 variant
	for i := 15; i >= 10; i-- {
		id[i] = byte(seq)
		seq >>= 8
	}
	var s [36]byte
	hex.Encode(s[0:8], id[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], id[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], id[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], id[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], id[10:16])
	return append(b, s[:]...)
}

// parseMsgID is the inverse of appendMsgID.
func parseMsgID(s string) (p uint32, seq uint64, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[23] != '-' {
		return 0, 0, false
	}
	var b [6]byte
	if _, err := hex.Decode(b[:4], []byte(s[0:8])); err != nil {
		return 0, 0, false
	}
	p = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if _, err := hex.Decode(b[:], []byte(s[24:36])); err != nil {
		return 0, 0, false
	}
	for _, c := range b {
		seq = seq<<8 | uint64(c)
	}
	return p, seq, true
}

// appendData appends message data: the send time t (ns since the run
// started), then padding up to size bytes.
func appendData(b []byte, t int64, size int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, ';')
	for len(b)-start < size {
		b = append(b, 'x')
	}
	return b
}

// dataTime reads the send time at the start of message data.
func dataTime(d string) (int64, bool) {
	i := strings.IndexByte(d, ';')
	if i <= 0 {
		return 0, false
	}
	t, err := strconv.ParseInt(d[:i], 10, 64)
	return t, err == nil
}

// strField returns the string member name of a JSON object as the relay
// writes its events (a flat object; keys and these values without
// escapes). ok is false when the member is missing or escaped, and the
// caller falls back to encoding/json. Inside a JSON string every quote is
// escaped, so `"name":"` can only match a key.
func strField(obj, name string) (string, bool) {
	var pat [40]byte
	n := copy(pat[:], `"`)
	n += copy(pat[n:], name)
	n += copy(pat[n:], `":"`)
	i := strings.Index(obj, string(pat[:n]))
	if i < 0 {
		return "", false
	}
	rest := obj[i+n:]
	j := strings.IndexByte(rest, '"')
	if j < 0 || strings.IndexByte(rest[:j], '\\') >= 0 {
		return "", false
	}
	return rest[:j], true
}

// intField returns the integer member name of a flat JSON object.
func intField(obj, name string) (int64, bool) {
	i := strings.Index(obj, `"`+name+`":`)
	if i < 0 {
		return 0, false
	}
	rest := obj[i+len(name)+3:]
	j := 0
	for j < len(rest) && (rest[j] == '-' || rest[j] >= '0' && rest[j] <= '9') {
		j++
	}
	v, err := strconv.ParseInt(rest[:j], 10, 64)
	return v, err == nil
}

// field reads a string member, with encoding/json as the fallback.
func field(obj, name string) string {
	if v, ok := strField(obj, name); ok {
		return v
	}
	var m map[string]any
	if json.Unmarshal([]byte(obj), &m) == nil {
		if s, ok := m[name].(string); ok {
			return s
		}
	}
	return ""
}

// hist is a log-linear histogram of durations in nanoseconds: 64 buckets
// per power of two, so every quantile is within 1.6 % of the truth.
type hist struct {
	counts [64 * 58]uint64
	n      uint64
	max    int64
}

func bucketOf(v int64) int {
	if v < 64 {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - 7
	return 64*(e+1) + int(uint64(v)>>e) - 64
}

func bucketMid(i int) float64 {
	if i < 64 {
		return float64(i)
	}
	e := i/64 - 1
	m := uint64(i%64 + 64)
	lo := m << e
	hi := (m + 1) << e
	return float64(lo+hi) / 2
}

func (h *hist) add(v int64) {
	h.counts[bucketOf(v)]++
	h.n++
	h.max = max(h.max, v)
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile in milliseconds (NaN when empty).
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketMid(i), float64(h.max)) / 1e6
		}
	}
	return float64(h.max) / 1e6
}
