package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestBench runs every scenario briefly with tiny numbers, in process (idle
// with a child relay: this test binary as keypost), and checks the JSON
// fields each one promises and that nothing was lost or duplicated. It
// asserts no timings.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("runs load for a few seconds")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(asMainEnv, "1") // for the child relay of idle
	short := []string{"--duration", "400ms", "--warmup", "100ms", "--json"}
	for _, tc := range []struct {
		name   string
		args   []string
		fields []string
		load   bool
	}{
		{"baseline", []string{"baseline", "--duration", "200ms", "--json"},
			[]string{"bare_post_per_s", "verified_post_per_s", "ed25519_verify_per_s_per_core", "ed25519_sign_per_s_per_core"}, false},
		{"handshake", []string{"handshake", "-n", "12", "--concurrency", "4", "--json"},
			[]string{"ready_per_s", "p50_ms", "p99_ms", "ready"}, false},
		{"throughput", append([]string{"throughput", "--pairs", "4"}, short...),
			[]string{"delivered_per_s", "p50_ms", "p99_ms", "p999_ms", "lost", "duplicated"}, true},
		{"throughput-batch", append([]string{"throughput", "--pairs", "12", "--batch", "4", "-n", "200"}, short...),
			[]string{"delivered_per_s", "p50_ms", "p99_ms", "p999_ms", "lost", "duplicated"}, true},
		{"latency", append([]string{"latency", "--pairs", "4", "--rate", "200,400"}, short...),
			[]string{"offered_per_s", "delivered_per_s", "p50_ms", "p99_ms", "p999_ms", "lost", "duplicated"}, true},
		{"throughput-hmac", append([]string{"throughput", "--pairs", "4", "--hmac"}, short...),
			[]string{"delivered_per_s", "lost", "duplicated", "signing"}, true},
		{"latency-background", append([]string{"latency", "--pairs", "4", "--rate", "200", "--background", "20"}, short...),
			[]string{"delivered_per_s", "p50_ms", "lost", "duplicated", "background"}, true},
		{"fanout", append([]string{"fanout", "--recipients", "6", "--baseline"}, short...),
			[]string{"delivered_per_s", "p50_ms", "p99_ms", "lost", "duplicated", "baseline", "ratios"}, true},
		{"idle", []string{"idle", "-n", "10", "--server", "child", "--server-cmd", exe + " serve", "--json"},
			[]string{"server_rss_kb_per_session", "server_rss_before_kb", "server_rss_after_kb", "ready_per_s"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := runBench(t.Context(), tc.args, &stdout, &stderr); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if tc.name == "latency" && len(lines) != 2 {
				t.Fatalf("%d results for two rates:\n%s", len(lines), stdout.String())
			}
			for _, line := range lines {
				var res map[string]any
				if err := json.Unmarshal([]byte(line), &res); err != nil {
					t.Fatalf("not one JSON object per line: %v\n%s", err, stdout.String())
				}
				for _, f := range tc.fields {
					if _, ok := res[f]; !ok {
						t.Errorf("no %q in %s", f, line)
					}
				}
				if strings.HasSuffix(tc.name, "-hmac") && res["signing"] != "hmac-sha256" {
					t.Errorf("signing: %s", line)
				}
				if strings.HasSuffix(tc.name, "-background") && res["background"] != 20.0 {
					t.Errorf("not every background session held to the end: %s", line)
				}
				if res["errors"] != 0.0 {
					t.Errorf("errors: %s", line)
				}
				if tc.load {
					if res["lost"] != 0.0 || res["duplicated"] != 0.0 {
						t.Errorf("lost or duplicated: %s", line)
					}
					if res["delivered"].(float64) == 0 || res["delivered"] != res["accepted"] {
						t.Errorf("not every accepted message was delivered: %s", line)
					}
				}
			}
		})
	}
}

// The load goes only to loopback addresses unless explicitly allowed; bad
// arguments are usage errors.
func TestBenchRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"throughput", "--url", "http://192.0.2.1:8080"},
		{"throughput", "--url", "http://example.com:8080"},
		{"throughput", "--url", "http://[2001:db8::1]:8080"},
		{"throughput", "--url", "https://127.0.0.1:8080"},
		{"nosuch"},
		{"latency", "--rate", "fast"},
		{"idle", "--server", "elsewhere"},
	} {
		err := runBench(t.Context(), args, &bytes.Buffer{}, &bytes.Buffer{})
		if _, ok := errors.AsType[*usageError](err); !ok {
			t.Errorf("bench %v: %v, want a usage error", args, err)
		}
	}
}
