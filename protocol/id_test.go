package protocol

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// Independent statements of the accepted forms, for the tests only.
var (
	canonicalUUID   = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	canonicalUUID47 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

func TestNewID(t *testing.T) {
	seen := map[ID]bool{}
	for range 1000 {
		id := NewID()
		if seen[id] {
			t.Fatal("NewID repeated an id")
		}
		seen[id] = true
		s := id.String()
		if !canonicalUUID.MatchString(s) {
			t.Fatalf("NewID().String() = %q, not a canonical v4 UUID", s)
		}
		if id.Version() != 4 {
			t.Fatalf("Version() = %d", id.Version())
		}
		back, err := ParseID(s)
		if err != nil || back != id {
			t.Fatalf("ParseID(%q) = %v, %v", s, back, err)
		}
	}
}

func TestParseID(t *testing.T) {
	good := map[string]int{
		"5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e10": 4,
		"00000000-0000-4000-8000-000000000000": 4,
		"ffffffff-ffff-4fff-bfff-ffffffffffff": 4,
		"01936c3e-8f4a-7b2c-a1d3-0123456789ab": 7, // v7 (message ids)
	}
	for s, v := range good {
		id, err := ParseID(s)
		if err != nil {
			t.Errorf("ParseID(%q): %v", s, err)
			continue
		}
		if id.String() != s || id.Version() != v {
			t.Errorf("ParseID(%q) → %q version %d", s, id.String(), id.Version())
		}
	}
	bad := map[string]string{
		"empty":           "",
		"uppercase":       "5F0C1A7E-3B7D-4C52-9F4E-2A1D8C6B9E10",
		"one uppercase":   "5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e1A",
		"braces":          "{5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e10}",
		"urn":             "urn:uuid:5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e10",
		"no hyphens":      "5f0c1a7e3b7d4c529f4e2a1d8c6b9e10",
		"hyphen moved":    "5f0c1a7e3-b7d-4c52-9f4e-2a1d8c6b9e10",
		"too short":       "5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e1",
		"too long":        "5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e100",
		"not hex":         "5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e1g",
		"space":           "5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e1 ",
		"version 1":       "5f0c1a7e-3b7d-1c52-9f4e-2a1d8c6b9e10",
		"version 0 (nil)": "00000000-0000-0000-0000-000000000000",
		"version 5":       "5f0c1a7e-3b7d-5c52-9f4e-2a1d8c6b9e10",
		"version 8":       "5f0c1a7e-3b7d-8c52-9f4e-2a1d8c6b9e10",
		"max uuid":        "ffffffff-ffff-ffff-ffff-ffffffffffff",
		"variant 0xxx":    "5f0c1a7e-3b7d-4c52-7f4e-2a1d8c6b9e10",
		"variant 110x":    "5f0c1a7e-3b7d-4c52-cf4e-2a1d8c6b9e10",
		"variant 111x":    "5f0c1a7e-3b7d-4c52-ef4e-2a1d8c6b9e10",
		"plus sign":       "5f0c1a7e-3b7d-4c52-9f4e-+a1d8c6b9e10",
		"non-ASCII":       "5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9eé",
	}
	for name, s := range bad {
		if _, err := ParseID(s); !errors.Is(err, ErrBadID) {
			t.Errorf("%s: ParseID(%q) err = %v, want ErrBadID", name, s, err)
		}
		var id ID
		if err := id.UnmarshalText([]byte(s)); !errors.Is(err, ErrBadID) {
			t.Errorf("%s: UnmarshalText(%q) err = %v, want ErrBadID", name, s, err)
		}
	}
}

func TestIDText(t *testing.T) {
	id := NewID()
	type body struct {
		ID ID `json:"id"`
	}
	b, err := json.Marshal(body{id})
	if err != nil || string(b) != `{"id":"`+id.String()+`"}` {
		t.Fatalf("json = %s, %v", b, err)
	}
	var got body
	if err := json.Unmarshal(b, &got); err != nil || got.ID != id {
		t.Fatalf("round trip %v %v", got.ID, err)
	}
	if err := json.Unmarshal([]byte(`{"id":"`+strings.ToUpper(id.String())+`"}`), &got); !errors.Is(err, ErrBadID) {
		t.Fatalf("uppercase id in JSON: %v", err)
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf, _ = id.AppendText(buf[:0]) }); n != 0 {
		t.Fatalf("AppendText allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = id.String() }); n > 1 {
		t.Fatalf("String allocates %v times", n)
	}
	s := id.String()
	if n := testing.AllocsPerRun(100, func() { ParseID(s) }); n != 0 {
		t.Fatalf("ParseID allocates %v times", n)
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e10",
		"01936c3e-8f4a-7b2c-a1d3-0123456789ab",
		"5F0C1A7E-3B7D-4C52-9F4E-2A1D8C6B9E10",
		"00000000-0000-0000-0000-000000000000",
		"{5f0c1a7e-3b7d-4c52-9f4e-2a1d8c6b9e10}",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			if canonicalUUID47.MatchString(s) {
				t.Fatalf("refused %q: %v", s, err)
			}
			if !errors.Is(err, ErrBadID) {
				t.Fatalf("error %v does not wrap ErrBadID", err)
			}
			return
		}
		if id.String() != s {
			t.Fatalf("ParseID(%q).String() = %q", s, id.String())
		}
		if !canonicalUUID47.MatchString(s) {
			t.Fatalf("accepted %q", s)
		}
	})
}

func BenchmarkParseID(b *testing.B) {
	s := NewID().String()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseID(s); err != nil {
			b.Fatal(err)
		}
	}
}
