package httpapi

import (
	"reflect"
	"testing"
)

var fastSeeds = []string{
	`{"messages":[]}`,
	`{"messages":[{"to":"S-YO6XZ-ODk33NnMWLJbKfocjiBSeK7bFcd9fXq0uwk","data":"hi","id":"7d444840-9dc0-41d1-b245-5ffdce74fad2"}]}`,
	` { "messages" : [ { "data" : "é", "to" : "x" } , {} ] } `,
	`{"messages":[{"to":"x","data":"a\\b"}]}`,
	`{"messages":[{"to":"x","to":"y"}]}`,
	`{"messages":[{"To":"x"}]}`,
	`{"messages":null}`,
	`{"messages":[{"to":"x","data":5}]}`,
	`{"messages":[]} x`,
	"{\"messages\":[{\"to\":\"x\",\"data\":\"\xff\"}]}",
	`{}`,
	`{"messages":[{"from":"a","id":"b"}],"receipts":[{"to":"c","id":"d"}]}`,
	`{"receipts":[],"messages":[]}`,
	`{"messages":[],"messages":[]}`,
	`{"receipts":[{"to":"c","id":"d","x":1}]}`,
}

// FuzzDecodeFastPaths: whatever fastSend and fastAck accept, they read
// exactly as encoding/json (decodeStrict) does.
func FuzzDecodeFastPaths(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if got, ok := fastSend(body); ok {
			var want rawSend
			if err := decodeStrict(body, &want); err != nil {
				t.Fatalf("fastSend accepted %q, decodeStrict: %v", body, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fastSend(%q) = %+v, decodeStrict %+v", body, got, want)
			}
		}
		if got, ok := fastAck(body); ok {
			var want rawAck
			if err := decodeStrict(body, &want); err != nil {
				t.Fatalf("fastAck accepted %q, decodeStrict: %v", body, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("fastAck(%q) = %+v, decodeStrict %+v", body, got, want)
			}
		}
	})
}

// The usual shapes take the fast paths.
func TestFastPathsTaken(t *testing.T) {
	if _, ok := fastSend([]byte(fastSeeds[1])); !ok {
		t.Error("fastSend refused the usual shape")
	}
	if _, ok := fastSend([]byte(fastSeeds[2])); !ok {
		t.Error("fastSend refused whitespace and key order")
	}
	if _, ok := fastAck([]byte(fastSeeds[11])); !ok {
		t.Error("fastAck refused the usual shape")
	}
	for _, s := range []string{fastSeeds[3], fastSeeds[4], fastSeeds[5], fastSeeds[6], fastSeeds[8], fastSeeds[9]} {
		if _, ok := fastSend([]byte(s)); ok {
			t.Errorf("fastSend accepted %s", s)
		}
	}
}

func BenchmarkDecodeSend(b *testing.B) {
	body := []byte(`{"messages":[`)
	for i := range 50 {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, `{"to":"S-YO6XZ-ODk33NnMWLJbKfocjiBSeK7bFcd9fXq0uwk","data":"a typical short chat message, about sixty bytes long","id":"7d444840-9dc0-41d1-b245-5ffdce74fad2"}`...)
	}
	body = append(body, `]}`...)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := decodeSend(body, 1000); err != nil {
			b.Fatal(err)
		}
	}
}
