package protocol

import (
	"strconv"
	"unicode/utf8"
)

// Hand-written JSON encoders for the hot wire types: the relay writes a
// message event and a receipt event for every message, and a send result
// per entry. Each appends exactly the bytes encoding/json.Marshal writes for
// the same value (a fuzz test holds them to it), without reflection or
// allocation.

// AppendJSONString appends s as a JSON string, escaped exactly as
// encoding/json does: `"` and `\` with a backslash; \b, \f, \n, \r and \t
// by name; other control characters, and <, > and & (so that JSON is safe
// inside HTML), as \u00XX; U+2028 and U+2029 as \u2028 and \u2029 (they end
// lines in JavaScript); and each byte of invalid UTF-8 as \ufffd.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonSafe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes encoding/json writes as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		switch b {
		case '"', '\\', '<', '>', '&':
		default:
			t[b] = true
		}
	}
	return t
}()

// AppendJSON appends the event as encoding/json.Marshal would.
func (ev MessageEvent) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, ev.ID)
	dst = append(dst, `,"from":`...)
	dst = AppendJSONString(dst, ev.From)
	dst = append(dst, `,"data":`...)
	dst = AppendJSONString(dst, ev.Data)
	dst = append(dst, `,"sent_at":`...)
	dst = strconv.AppendInt(dst, ev.SentAt, 10)
	dst = append(dst, `,"attempt":`...)
	dst = strconv.AppendInt(dst, int64(ev.Attempt), 10)
	return append(dst, '}')
}

// AppendJSON appends the event as encoding/json.Marshal would.
func (ev ReceiptEvent) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, ev.ID)
	dst = append(dst, `,"to":`...)
	dst = AppendJSONString(dst, ev.To)
	dst = append(dst, `,"status":`...)
	dst = AppendJSONString(dst, ev.Status)
	return append(dst, '}')
}

// AppendJSON appends the result as encoding/json.Marshal would.
func (r SendResult) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"to":`...)
	dst = AppendJSONString(dst, r.To)
	dst = append(dst, `,"id":`...)
	dst = AppendJSONString(dst, r.ID)
	dst = append(dst, `,"status":`...)
	dst = AppendJSONString(dst, r.Status)
	if r.ETAMS != 0 {
		dst = append(dst, `,"eta_ms":`...)
		dst = strconv.AppendInt(dst, r.ETAMS, 10)
	}
	if r.Code != "" {
		dst = append(dst, `,"code":`...)
		dst = AppendJSONString(dst, string(r.Code))
	}
	return append(dst, '}')
}

// AppendJSON appends the answer as encoding/json.Marshal would.
func (r SendResponse) AppendJSON(dst []byte) []byte {
	if r.Results == nil {
		return append(dst, `{"results":null}`...)
	}
	dst = append(dst, `{"results":[`...)
	for i, res := range r.Results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = res.AppendJSON(dst)
	}
	return append(dst, "]}"...)
}
