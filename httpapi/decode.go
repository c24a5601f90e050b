package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// decodeStrict decodes one JSON object into v: unknown fields, trailing
// data and invalid UTF-8 are refused (400 bad_request).
func decodeStrict(body []byte, v any) error {
	if !utf8.Valid(body) {
		return fail(protocol.CodeBadRequest, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fail(protocol.CodeBadRequest, "the body is not JSON of the expected shape: "+err.Error())
	}
	if dec.More() {
		return fail(protocol.CodeBadRequest, "the body has data after its JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return fail(protocol.CodeBadRequest, "the body has data after its JSON object")
	}
	return nil
}

type rawSend struct {
	Messages []rawOut `json:"messages"`
}

type rawOut struct {
	To   string          `json:"to"`
	Data json.RawMessage `json:"data"`
	ID   *string         `json:"id"`
}

// decodeSend parses a send body (§10). A malformed body is refused whole; a
// problem with one entry (bad key, id or data) rejects that entry only.
func decodeSend(body []byte, maxRecipients int) ([]relay.Outgoing, error) {
	req, ok := fastSend(body)
	if !ok {
		if err := decodeStrict(body, &req); err != nil {
			return nil, err
		}
	}
	switch {
	case req.Messages == nil:
		return nil, fail(protocol.CodeBadRequest, `"messages" is required`)
	case len(req.Messages) > maxRecipients:
		return nil, fail(protocol.CodeBadRequest, fmt.Sprintf("at most %d messages per request (max_recipients)", maxRecipients))
	}
	out := make([]relay.Outgoing, len(req.Messages))
	for i, m := range req.Messages {
		o := &out[i]
		o.ToStr = m.To
		if m.ID != nil {
			o.IDStr = *m.ID
			id, err := protocol.ParseID(*m.ID)
			if err != nil {
				o.Err = protocol.CodeBadID
				continue
			}
			o.ID, o.HasID = id, true
		}
		if len(m.Data) > 0 && m.Data[0] != '"' {
			return nil, fail(protocol.CodeBadRequest, fmt.Sprintf("messages[%d].data must be a string", i))
		}
		k, err := protocol.DecodeKey(m.To)
		if err != nil {
			o.Err = protocol.CodeBadKey
			continue
		}
		o.To = k
		if m.Data == nil || !validJSONString(m.Data) {
			o.Err = protocol.CodeBadData
			continue
		}
		if bytes.IndexByte(m.Data, '\\') < 0 {
			// Valid UTF-8 (checked) without escapes: the text between
			// the quotes is the value.
			o.Data = string(m.Data[1 : len(m.Data)-1])
		} else if err := json.Unmarshal(m.Data, &o.Data); err != nil {
			o.Err = protocol.CodeBadData
		}
	}
	return out, nil
}

type rawAck struct {
	Messages []protocol.MessageRef `json:"messages"`
	Receipts []protocol.ReceiptRef `json:"receipts"`
}

// decodeAck parses an ack body; a malformed key or id refuses it whole.
func decodeAck(body []byte) (relay.Acks, error) {
	req, ok := fastAck(body)
	if !ok {
		if err := decodeStrict(body, &req); err != nil {
			return relay.Acks{}, err
		}
	}
	a := relay.Acks{
		Messages: make([]relay.MessageAck, len(req.Messages)),
		Receipts: make([]relay.ReceiptAck, len(req.Receipts)),
	}
	var err error
	for i, m := range req.Messages {
		if a.Messages[i].From, err = protocol.DecodeKey(m.From); err != nil {
			return a, err
		}
		if a.Messages[i].ID, err = protocol.ParseID(m.ID); err != nil {
			return a, err
		}
	}
	for i, rc := range req.Receipts {
		if a.Receipts[i].To, err = protocol.DecodeKey(rc.To); err != nil {
			return a, err
		}
		if a.Receipts[i].ID, err = protocol.ParseID(rc.ID); err != nil {
			return a, err
		}
	}
	return a, nil
}

// validJSONString reports whether raw is a JSON string literal whose value
// is valid Unicode: encoding/json would silently turn a lone surrogate
// escape (\ud800) into U+FFFD, and keypost relays data byte-exact or not at
// all. raw comes from a decoder that already checked the JSON syntax.
func validJSONString(raw []byte) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' || !utf8.Valid(raw) {
		return false
	}
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		i++
		if i >= len(s) || s[i] != 'u' {
			continue
		}
		r, ok := hex4(s[i+1:])
		if !ok {
			return false
		}
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return false // a low surrogate with no high one before it
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(s) || s[i+1] != '\\' || s[i+2] != 'u' {
				return false
			}
			lo, ok := hex4(s[i+3:])
			if !ok || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 6
		}
	}
	return true
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
