package protocol

import (
	"bytes"
	"encoding/json"
	"testing"
)

// jsonCases are strings that exercise every escaping rule of
// encoding/json.
var jsonCases = []string{
	"", "hello, keypost", `quote " and backslash \`, "<script>&amp;</script>",
	"\b\f\n\r\t\x00\x01\x1f\x7f", "é ü 日本語 🎉", "\u2028\u2029", "\xff\xfe bad \xc3",
	"\xed\xa0\x80 surrogate bytes", "a\u00e9\u2027\u202a", "\xf4\x90\x80\x80 beyond U+10FFFF",
}

func checkJSON(t *testing.T, what string, got []byte, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonCases {
		checkJSON(t, "string "+s, AppendJSONString(nil, s), s)
		checkJSON(t, "message", MessageEvent{ID: s, From: s, Data: s, SentAt: -12, Attempt: 3}.AppendJSON(nil),
			MessageEvent{ID: s, From: s, Data: s, SentAt: -12, Attempt: 3})
		checkJSON(t, "receipt", ReceiptEvent{ID: s, To: s, Status: s}.AppendJSON(nil), ReceiptEvent{ID: s, To: s, Status: s})
		r := SendResult{To: s, ID: s, Status: StatusRejected, Code: ErrorCode(s)}
		checkJSON(t, "result", r.AppendJSON(nil), r)
	}
	for _, r := range []SendResponse{{}, {Results: []SendResult{}}, {Results: []SendResult{
		{To: "a", ID: "b", Status: StatusAccepted, ETAMS: 16},
		{To: "c", ID: "d", Status: StatusRejected, Code: CodeQueueFull},
	}}} {
		checkJSON(t, "response", r.AppendJSON(nil), r)
	}
	// Appending keeps what dst holds.
	if got := string(AppendJSONString([]byte("x:"), "y")); got != `x:"y"` {
		t.Fatalf("got %s", got)
	}
}

// FuzzAppendJSON holds the hand-written encoders to encoding/json, byte
// for byte, for any strings and numbers.
func FuzzAppendJSON(f *testing.F) {
	for _, s := range jsonCases {
		f.Add(s, s, int64(1767225600123), 1)
	}
	f.Fuzz(func(t *testing.T, a, b string, n int64, attempt int) {
		checkJSON(t, "string", AppendJSONString(nil, a), a)
		m := MessageEvent{ID: a, From: b, Data: a + b, SentAt: n, Attempt: attempt}
		checkJSON(t, "message", m.AppendJSON(nil), m)
		rc := ReceiptEvent{ID: a, To: b, Status: StatusDelivered}
		checkJSON(t, "receipt", rc.AppendJSON(nil), rc)
		r := SendResponse{Results: []SendResult{{To: a, ID: b, Status: StatusAccepted, ETAMS: n}, {To: b, ID: a, Status: StatusRejected, Code: ErrorCode(a)}}}
		checkJSON(t, "response", r.AppendJSON(nil), r)
	})
}

func BenchmarkAppendMessageEvent(b *testing.B) {
	ev := MessageEvent{ID: "0b9d5a52-2c1e-4f0a-8e57-3c6f1a2b4d5e", From: "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg",
		Data: "a typical short chat message, about sixty bytes long", SentAt: 1767225600123, Attempt: 1}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = ev.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(ev)
		}
	})
}
