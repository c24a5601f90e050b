package main

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

// The chart is well-formed SVG with a point per offered rate.
func TestChart(t *testing.T) {
	in := `{"scenario":"latency","offered_per_s":1000,"delivered_per_s":999,"p50_ms":0.2,"p99_ms":1.5,"p999_ms":3,"machine":{"nproc":2,"cpu":"X","go":"go1.26"}}
{"scenario":"latency","offered_per_s":1000,"delivered_per_s":1001,"p50_ms":0.25,"p99_ms":1.7,"p999_ms":4,"machine":{"nproc":2,"cpu":"X","go":"go1.26"}}
{"scenario":"latency","offered_per_s":5000,"delivered_per_s":4990,"p50_ms":0.3,"p99_ms":2.5,"p999_ms":9,"machine":{"nproc":2,"cpu":"X","go":"go1.26"}}
{"scenario":"throughput","batch":1,"delivered_per_s":12000}
`
	var out bytes.Buffer
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	svg := out.String()
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := d.Token(); err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("not well-formed: %v", err)
			}
			break
		}
	}
	if n := strings.Count(svg, "<circle"); n != 2*4 {
		t.Errorf("%d points, want 8 (2 rates × 4 series)", n)
	}
	if err := run(strings.NewReader(`{"scenario":"handshake"}`), &out); err == nil {
		t.Error("no error without latency results")
	}
}
