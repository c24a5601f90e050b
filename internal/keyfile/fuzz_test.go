package keyfile

import (
	"bytes"
	"testing"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// is a key whose canonical encoding decodes to the same key again.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(testKey()))
	f.Add(bytes.ReplaceAll(Encode(testKey()), []byte("\n"), []byte("\r\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		priv, err := Decode(data)
		if err != nil {
			if priv != nil {
				t.Fatal("Decode returned a key and an error")
			}
			return
		}
		again, err := Decode(Encode(priv))
		if err != nil {
			t.Fatalf("Decode(Encode(k)): %v", err)
		}
		if !again.Equal(priv) {
			t.Fatal("Decode(Encode(k)) != k")
		}
	})
}
