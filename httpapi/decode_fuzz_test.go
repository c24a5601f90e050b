package httpapi

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeSend: any body either is refused whole with a problem code or
// gives exactly one entry per message, each accepted for the relay or
// carrying its own error code; never a panic. Data that passes is exactly
// what a JSON decoder reads and is valid UTF-8.
func FuzzDecodeSend(f *testing.F) {
	for _, s := range []string{
		`{"messages":[]}`,
		`{"messages":[{"to":"S-YO6XZ-ODk33NnMWLJbKfocjiBSeK7bFcd9fXq0uwk","data":"hi"}]}`,
		`{"messages":[{"to":"S-YO6XZ-ODk33NnMWLJbKfocjiBSeK7bFcd9fXq0uwk","data":"\ud800","id":"7d444840-9dc0-11d1-b245-5ffdce74fad2"}]}`,
		`{"messages":[{"to":"x","data":"\ud83d\ude00"}]}`,
		`{"messages":[{"to":"x","data":5}]}`,
		`{"messages":null}`,
		`[]`,
		`{"messages":[{"to":"x","data":"a\u0000b\\\"c"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := decodeSend(body, 10)
		if err != nil {
			if _, ok := err.(*apiError); !ok {
				t.Fatalf("error %T %v is not a problem", err, err)
			}
			return
		}
		var raw struct{ Messages []json.RawMessage }
		if json.Unmarshal(body, &raw) != nil || len(raw.Messages) != len(out) {
			t.Fatalf("%d entries from %s", len(out), body)
		}
		for _, o := range out {
			if o.Err == "" && !utf8.ValidString(o.Data) {
				t.Fatalf("invalid UTF-8 passed: %q", o.Data)
			}
		}
	})
}

// FuzzValidJSONString checks the lone-surrogate scanner against
// encoding/json: a string it accepts decodes without any U+FFFD that the
// input did not spell out.
func FuzzValidJSONString(f *testing.F) {
	for _, s := range []string{`"a"`, `"\ud800"`, `"\ud800\udc00"`, `"\udc00"`, `"\ud800\u0041"`, `"\\ud800"`, `"\ufffd"`, `"\ud800\\"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return // not a JSON string: the decoder refuses it before us
		}
		ok := validJSONString(raw)
		if !ok {
			return
		}
		// Re-encoding the decoded value must give back the same code points.
		var back string
		enc, _ := json.Marshal(s)
		_ = json.Unmarshal(enc, &back)
		if back != s || !utf8.ValidString(s) {
			t.Fatalf("accepted %q, decoded %q", raw, s)
		}
	})
}

func FuzzDecodeAck(f *testing.F) {
	f.Add([]byte(`{"messages":[{"from":"S-YO6XZ-ODk33NnMWLJbKfocjiBSeK7bFcd9fXq0uwk","id":"7d444840-9dc0-41d1-b245-5ffdce74fad2"}],"receipts":[]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"receipts":[{"to":"","id":""}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := decodeAck(body)
		if err == nil && (a.Messages == nil || a.Receipts == nil) {
			t.Fatal("nil lists on success")
		}
	})
}

func TestValidJSONString(t *testing.T) {
	for raw, want := range map[string]bool{
		`"plain"`:              true,
		`"\ud83d\ude00"`:       true,
		`"\uD83D\uDE00"`:       true,
		`"\ud800"`:             false,
		`"\udc00"`:             false,
		`"\ud800x"`:            false,
		`"\ud800\u0041"`:       false,
		`"\\ud800"`:            true, // an escaped backslash, then text
		`"é"`:                  true,
		"\"\xff\"":             false,
		`"\ud83d\ude00\ud83d"`: false,
	} {
		if got := validJSONString([]byte(raw)); got != want {
			t.Errorf("validJSONString(%s) = %v, want %v", raw, got, want)
		}
	}
}
