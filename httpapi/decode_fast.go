package httpapi

import (
	"unicode/utf8"

	"github.com/keypost/keypost/protocol"
)

// Fast paths for the two hot bodies, /v1/send and /v1/ack. A client
// writes them in one usual shape: the documented keys, in lower case, each
// once, with string values that need no escape. fastSend and fastAck read
// exactly that shape without reflection, and give up (ok false) at
// anything else — another key or spelling, a repeated key, null, a number,
// an escape or a control character in a string, trailing data, invalid
// UTF-8 — so that encoding/json decides those bodies as before. For every
// body they accept, the result is what decodeStrict gives
// (FuzzDecodeFastPaths holds them to it).

// jsonScan walks a body.
type jsonScan struct {
	b []byte
	i int
}

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// lit consumes byte c after optional whitespace.
func (s *jsonScan) lit(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string without escapes or control characters and
// returns it with its quotes.
func (s *jsonScan) str() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i
	for s.i++; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start:s.i], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// object reads `{"k":"v",…}` whose keys are among names (at most three,
// each at most once) into vals, by the key's index; a missing key leaves
// its value nil.
func (s *jsonScan) object(names []string, vals *[3][]byte) bool {
	*vals = [3][]byte{}
	if !s.lit('{') {
		return false
	}
	if s.lit('}') {
		return true
	}
	for {
		k, ok := s.str()
		if !ok || !s.lit(':') {
			return false
		}
		k = k[1 : len(k)-1]
		i := 0
		for i < len(names) && names[i] != string(k) {
			i++
		}
		if i == len(names) || vals[i] != nil {
			return false
		}
		if vals[i], ok = s.str(); !ok {
			return false
		}
		if s.lit('}') {
			return true
		}
		if !s.lit(',') {
			return false
		}
	}
}

// arrayStart consumes '[' and reports whether an element follows (false:
// the array was empty, and ']' was consumed too).
func (s *jsonScan) arrayStart() (more, ok bool) {
	if !s.lit('[') {
		return false, false
	}
	if s.lit(']') {
		return false, true
	}
	return true, true
}

// arrayNext consumes ',' (another element follows) or ']'.
func (s *jsonScan) arrayNext() (more, ok bool) {
	if s.lit(',') {
		return true, true
	}
	return false, s.lit(']')
}

// end reports whether only whitespace is left.
func (s *jsonScan) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// text returns raw's value (raw is a string with its quotes, in the body)
// as a substring of bs, the body as one string: no copy per value. Only
// for values that do not outlive the request.
func (s *jsonScan) text(bs string, raw []byte) string {
	off := cap(s.b) - cap(raw)
	return bs[off+1 : off+len(raw)-1]
}

var sendEntryKeys = []string{"to", "data", "id"}

// fastSend is decodeStrict into a rawSend, for the usual shape only.
func fastSend(body []byte) (req rawSend, ok bool) {
	if !utf8.Valid(body) {
		return req, false
	}
	s := jsonScan{b: body}
	bs := string(body) // to and id are substrings of it: one copy in all
	if !s.lit('{') {
		return req, false
	}
	if k, ok := s.str(); !ok || string(k) != `"messages"` || !s.lit(':') {
		return req, false
	}
	more, ok := s.arrayStart()
	if !ok {
		return req, false
	}
	req.Messages = make([]rawOut, 0, bytesCount(body, `"to"`))
	var vals [3][]byte
	for more {
		if !s.object(sendEntryKeys, &vals) {
			return rawSend{}, false
		}
		var m rawOut
		if vals[0] != nil {
			m.To = s.text(bs, vals[0])
		}
		m.Data = vals[1]
		if vals[2] != nil {
			id := s.text(bs, vals[2])
			m.ID = &id
		}
		req.Messages = append(req.Messages, m)
		if more, ok = s.arrayNext(); !ok {
			return rawSend{}, false
		}
	}
	if !s.lit('}') || !s.end() {
		return rawSend{}, false
	}
	return req, true
}

// bytesCount is a capacity hint: how often sep occurs in b.
func bytesCount(b []byte, sep string) int {
	n := 0
	for i := 0; i+len(sep) <= len(b); i++ {
		if b[i] == sep[0] && string(b[i:i+len(sep)]) == sep {
			n++
		}
	}
	return n
}

var (
	ackMessageKeys = []string{"from", "id"}
	ackReceiptKeys = []string{"to", "id"}
)

// fastAck is decodeStrict into a rawAck, for the usual shape only.
func fastAck(body []byte) (req rawAck, ok bool) {
	if !utf8.Valid(body) {
		return req, false
	}
	s := jsonScan{b: body}
	bs := string(body)
	if !s.lit('{') {
		return req, false
	}
	if s.lit('}') {
		return req, s.end()
	}
	var vals [3][]byte
	for {
		k, ok := s.str()
		if !ok || !s.lit(':') {
			return rawAck{}, false
		}
		messages := string(k) == `"messages"`
		if messages && req.Messages != nil || !messages && (string(k) != `"receipts"` || req.Receipts != nil) {
			return rawAck{}, false // another key, or one repeated
		}
		more, ok := s.arrayStart()
		if !ok {
			return rawAck{}, false
		}
		if messages {
			req.Messages = []protocol.MessageRef{}
		} else {
			req.Receipts = []protocol.ReceiptRef{}
		}
		for more {
			keys := ackReceiptKeys
			if messages {
				keys = ackMessageKeys
			}
			if !s.object(keys, &vals) {
				return rawAck{}, false
			}
			var a, id string
			if vals[0] != nil {
				a = s.text(bs, vals[0])
			}
			if vals[1] != nil {
				id = s.text(bs, vals[1])
			}
			if messages {
				req.Messages = append(req.Messages, protocol.MessageRef{From: a, ID: id})
			} else {
				req.Receipts = append(req.Receipts, protocol.ReceiptRef{To: a, ID: id})
			}
			if more, ok = s.arrayNext(); !ok {
				return rawAck{}, false
			}
		}
		if s.lit('}') {
			if !s.end() {
				return rawAck{}, false
			}
			return req, true
		}
		if !s.lit(',') {
			return rawAck{}, false
		}
	}
}
