// Command chart draws docs/benchmarks.svg from the JSON lines of `keypost
// bench latency --json` (one result per offered rate, several runs of each
// allowed: the median is drawn, with the min–max as a bar): delivered
// messages per second and send-to-delivery latency (p50, p99, p99.9)
// against the offered load. A `throughput` result in the input adds the
// closed-loop maximum as a dashed line.
//
//	go run ./bench/chart < results.jsonl > docs/benchmarks.svg
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

type result struct {
	Scenario      string  `json:"scenario"`
	Batch         int     `json:"batch"`
	OfferedPerS   float64 `json:"offered_per_s"`
	DeliveredPerS float64 `json:"delivered_per_s"`
	P50MS         float64 `json:"p50_ms"`
	P99MS         float64 `json:"p99_ms"`
	P999MS        float64 `json:"p999_ms"`
	Machine       struct {
		NumCPU int    `json:"nproc"`
		CPU    string `json:"cpu"`
		Go     string `json:"go"`
	} `json:"machine"`
}

// point is the median and range of several runs at one offered rate.
type point struct {
	x              float64
	delivered      [3]float64 // median, min, max
	p50, p99, p999 [3]float64
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chart:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var lat []result
	var closed []float64
	var machine string
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] != '{' {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return err
		}
		machine = fmt.Sprintf("%d × %s, %s", r.Machine.NumCPU, r.Machine.CPU, r.Machine.Go)
		switch {
		case r.Scenario == "latency" && r.OfferedPerS > 0:
			lat = append(lat, r)
		case r.Scenario == "throughput" && r.Batch <= 1:
			closed = append(closed, r.DeliveredPerS)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(lat) == 0 {
		return fmt.Errorf("no latency results in the input")
	}
	pts := points(lat)
	_, err := io.WriteString(out, svg(pts, stat(closed), machine))
	return err
}

func stat(v []float64) [3]float64 {
	if len(v) == 0 {
		return [3]float64{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return [3]float64{med, s[0], s[len(s)-1]}
}

func points(rs []result) []point {
	by := map[float64][]result{}
	for _, r := range rs {
		by[r.OfferedPerS] = append(by[r.OfferedPerS], r)
	}
	var pts []point
	for x, group := range by {
		col := func(f func(result) float64) [3]float64 {
			var v []float64
			for _, r := range group {
				v = append(v, f(r))
			}
			return stat(v)
		}
		pts = append(pts, point{
			x:         x,
			delivered: col(func(r result) float64 { return r.DeliveredPerS }),
			p50:       col(func(r result) float64 { return r.P50MS }),
			p99:       col(func(r result) float64 { return r.P99MS }),
			p999:      col(func(r result) float64 { return r.P999MS }),
		})
	}
	slices.SortFunc(pts, func(a, b point) int { return int(a.x - b.x) })
	return pts
}

// Layout: two panels, throughput above latency, sharing the x axis.
const (
	width, height = 760, 560
	left, right   = 80, 30
	top1, h1      = 50, 190 // throughput panel
	top2, h2      = 300, 190
)

func svg(pts []point, closed [3]float64, machine string) string {
	var b strings.Builder
	xmax := niceCeil(pts[len(pts)-1].x)
	ymax := xmax
	for _, p := range pts {
		ymax = math.Max(ymax, p.delivered[2])
	}
	ymax = math.Max(ymax, closed[2])
	ymax = niceCeil(ymax)
	lmin, lmax := 0.1, 1.0
	for _, p := range pts {
		for _, v := range []float64{p.p50[1], p.p999[2]} {
			if v > 0 {
				lmin = math.Min(lmin, v)
				lmax = math.Max(lmax, v)
			}
		}
	}
	lmin = math.Pow(10, math.Floor(math.Log10(lmin)))
	lmax = math.Pow(10, math.Ceil(math.Log10(lmax)))
	px := func(x float64) float64 { return left + x/xmax*(width-left-right) }
	py1 := func(y float64) float64 { return top1 + h1 - y/ymax*h1 }
	py2 := func(ms float64) float64 {
		ms = math.Max(ms, lmin)
		return top2 + h2 - (math.Log10(ms)-math.Log10(lmin))/(math.Log10(lmax)-math.Log10(lmin))*h2
	}

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">keypost: delivered messages and latency against offered load (one message per POST)</text>`+"\n", left)
	fmt.Fprintf(&b, `<text x="%d" y="38" fill="#555">%s; median of runs, bars min–max</text>`+"\n", left, esc(machine))

	// Axes and grids.
	for i := 0; i <= 5; i++ {
		x := xmax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>`+"\n", px(x), top1, px(x), top2+h2)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(x), top2+h2+16, human(x))
		y := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", left, py1(y), width-right, py1(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py1(y)+4, human(y))
	}
	for d := lmin; d <= lmax*1.001; d *= 10 {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", left, py2(d), width-right, py2(d))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s ms</text>`+"\n", left-6, py2(d)+4, trimFloat(d))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">offered load (messages/s)</text>`+"\n", (left+width-right)/2, top2+h2+36)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">delivered (acked) /s</text>`+"\n", top1+h1/2)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">send → delivery</text>`+"\n", top2+h2/2)
	for _, t := range []int{top1, top2} {
		h := h1
		if t == top2 {
			h = h2
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", left, t, width-left-right, h)
	}

	// Throughput: offered = delivered reference, the closed-loop maximum,
	// and the measured points.
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#bbb" stroke-dasharray="2 3"/>`+"\n", px(0), py1(0), px(math.Min(xmax, ymax)), py1(math.Min(xmax, ymax)))
	if closed[0] > 0 {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#c33" stroke-dasharray="6 4"/>`+"\n", left, py1(closed[0]), width-right, py1(closed[0]))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#c33">closed loop (window of 3 kept full): %s/s</text>`+"\n", width-right-6, py1(closed[0])+16, human(closed[0]))
	}
	series(&b, pts, func(p point) [3]float64 { return p.delivered }, px, py1, "#1f77b4", "delivered/s")

	// Latency.
	series(&b, pts, func(p point) [3]float64 { return p.p50 }, px, py2, "#2ca02c", "p50")
	series(&b, pts, func(p point) [3]float64 { return p.p99 }, px, py2, "#ff7f0e", "p99")
	series(&b, pts, func(p point) [3]float64 { return p.p999 }, px, py2, "#d62728", "p99.9")
	b.WriteString("</svg>\n")
	return b.String()
}

func series(b *strings.Builder, pts []point, f func(point) [3]float64, px, py func(float64) float64, color, name string) {
	var path []string
	for _, p := range pts {
		v := f(p)
		path = append(path, fmt.Sprintf("%.1f,%.1f", px(p.x), py(v[0])))
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" opacity="0.5"/>`+"\n", px(p.x), py(v[1]), px(p.x), py(v[2]), color)
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(p.x), py(v[0]), color)
	}
	fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`+"\n", strings.Join(path, " "), color)
	first := pts[0] // the series are furthest apart at low load
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", px(first.x)+8, py(f(first)[0])-6, color, name)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func human(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return trimFloat(v)
}

func trimFloat(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
