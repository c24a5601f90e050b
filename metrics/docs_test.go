package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/metrics"
	"github.com/keypost/keypost/relay"
)

// everyMetric returns the names of all keypost metrics, with every vector
// given a series so that it shows.
func everyMetric(t *testing.T) map[string]bool {
	m := metrics.New("test")
	r := relay.New(relay.Config{})
	defer r.Close()
	m.WatchRelay(r)
	m.WatchReady(func() bool { return true })
	m.Request("/v1/send", 400, "bad_request", time.Millisecond)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	return names
}

// docs/operations.md lists every keypost metric, and lists none that does
// not exist.
func TestOperationsDocListsMetrics(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	names := everyMetric(t)
	for n := range names {
		if strings.HasPrefix(n, "keypost_") && !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("docs/operations.md does not list %s", n)
		}
	}
	for _, n := range regexp.MustCompile("`(keypost_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		if !names[n[1]] {
			t.Errorf("docs/operations.md lists %s, which does not exist", n[1])
		}
	}
	for _, l := range httpapi.Limits {
		if !strings.Contains(string(doc), "`"+string(l)+"`") {
			t.Errorf("docs/operations.md does not list the limit %s", l)
		}
	}
}

// The Grafana dashboard is valid JSON and queries only metrics that exist.
func TestGrafanaDashboardQueriesExist(t *testing.T) {
	b, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string
		Panels []struct {
			Type    string
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	names := everyMetric(t)
	used := map[string]bool{}
	metric := regexp.MustCompile(`\b((?:keypost|go|process)_[a-z_]+)`)
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range metric.FindAllStringSubmatch(tg.Expr, -1) {
				n := m[1]
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if base := strings.TrimSuffix(n, suffix); base != n && names[base] {
						n = base
					}
				}
				if !names[n] {
					t.Errorf("panel %q queries %s, which does not exist", p.Title, m[1])
				}
				used[n] = true
			}
		}
	}
	for n := range names {
		if strings.HasPrefix(n, "keypost_") && n != "keypost_build_info" && !used[n] {
			t.Errorf("no panel shows %s", n)
		}
	}
}
