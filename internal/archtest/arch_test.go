// Package archtest enforces the direction of the arrows between keypost's
// packages (docs/architecture.md): the core never learns about HTTP or the
// cluster, the wire package and the SDK never learn about the server.
package archtest

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/keypost/keypost/"

type pkg struct {
	ImportPath string
	Imports    []string // direct, non-test
	Deps       []string // transitive
}

func list(t *testing.T) map[string]pkg {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(p.ImportPath, mod)] = p
	}
	return pkgs
}

func ours(deps []string) []string {
	var r []string
	for _, d := range deps {
		if strings.HasPrefix(d, mod) {
			r = append(r, strings.TrimPrefix(d, mod))
		}
	}
	return r
}

func TestImportDirection(t *testing.T) {
	pkgs := list(t)
	// Which of our packages each may depend on, transitively. A package not
	// listed here may depend on anything but internal/cli.
	allowed := map[string][]string{
		"protocol":            {},
		"internal/sse":        {},
		"internal/replay":     {},
		"internal/keyfile":    {"protocol"},
		"relay":               {"protocol", "internal/sse", "internal/replay"},
		"httpapi":             {"protocol", "internal/sse", "internal/replay", "relay"},
		"client":              {"protocol", "internal/sse"},
		"web":                 {},
		"relaytest":           {"protocol", "internal/sse", "internal/replay", "relay", "httpapi"},
		"metrics":             {"protocol", "internal/sse", "internal/replay", "relay", "httpapi"},
		"metrics/metricstest": {},
		// The load generator speaks the protocol itself and can start a
		// relay in its own process; it never needs the CLI or metrics.
		"bench":       {"protocol", "internal/sse", "internal/replay", "relay", "httpapi"},
		"bench/chart": {},
	}
	// Third-party modules a package must not depend on, transitively: the
	// core, the wire package, the transport and the SDK stay free of the
	// metrics library (package metrics adapts their observers to it).
	forbiddenThirdParty := map[string][]string{
		"relay":    {"github.com/prometheus/"},
		"protocol": {"github.com/prometheus/"},
		"httpapi":  {"github.com/prometheus/"},
		"client":   {"github.com/prometheus/"},
	}
	// Standard-library packages a package must not import directly.
	forbiddenStd := map[string][]string{
		"relay": {"net/http"},
	}
	for name, p := range pkgs {
		for _, d := range ours(p.Deps) {
			if d == "internal/cli" && name != "cmd/keypost" {
				t.Errorf("%s depends on internal/cli; only cmd/keypost may", name)
			}
		}
		ok, listed := allowed[name]
		if listed {
			for _, d := range ours(p.Deps) {
				if !contains(ok, d) {
					t.Errorf("%s depends on %s; it may depend only on %v", name, d, ok)
				}
			}
		}
		for _, d := range p.Imports {
			if contains(forbiddenStd[name], d) {
				t.Errorf("%s imports %s", name, d)
			}
		}
		for _, d := range p.Deps {
			for _, prefix := range forbiddenThirdParty[name] {
				if strings.HasPrefix(d, prefix) {
					t.Errorf("%s depends on %s", name, d)
				}
			}
		}
	}
	for _, must := range []string{"protocol", "relay", "httpapi", "internal/sse", "metrics", "bench"} {
		if _, ok := pkgs[must]; !ok {
			t.Errorf("package %s not found: is the rule table stale?", must)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
