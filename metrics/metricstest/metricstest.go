// Package metricstest scrapes a /metrics endpoint over HTTP, as Prometheus
// does, and reads values out of it, for tests that assert what keypost
// reports.
package metricstest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is a parsed scrape, by metric name.
type Families map[string]*dto.MetricFamily

// Scrape GETs url with c and parses the Prometheus text format, failing the
// test if the answer is not 200 or does not parse.
func Scrape(tb testing.TB, c *http.Client, url string) Families {
	tb.Helper()
	resp, err := c.Get(url)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		tb.Fatalf("GET %s: Content-Type %q, want the text format", url, ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	return fams
}

// ScrapeHandler serves h, a metrics handler, on a test server just long
// enough to Scrape it.
func ScrapeHandler(tb testing.TB, h http.Handler) Families {
	tb.Helper()
	ts := httptest.NewServer(h)
	defer ts.Close()
	c := ts.Client()
	defer c.CloseIdleConnections()
	return Scrape(tb, c, ts.URL)
}

// Value sums the series of the metric name whose labels include the given
// pairs (name, value, name, value…): a counter's or gauge's value, or a
// histogram's count of observations. A metric that is missing fails the
// test; a metric with no matching series is 0.
func (f Families) Value(tb testing.TB, name string, labels ...string) float64 {
	tb.Helper()
	fam, ok := f[name]
	if !ok {
		tb.Fatalf("no metric %s in the scrape", name)
	}
	sum := 0.0
	for _, m := range fam.GetMetric() {
		if !matches(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum
}

// Series lists the label sets of a metric, for error messages.
func (f Families) Series(name string) []string {
	var out []string
	for _, m := range f[name].GetMetric() {
		var ls []string
		for _, l := range m.GetLabel() {
			ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
		}
		out = append(out, "{"+strings.Join(ls, ",")+"}")
	}
	sort.Strings(out)
	return out
}

func matches(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
