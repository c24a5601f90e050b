package bench

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteSummary writes a human summary of res to w.
func WriteSummary(w io.Writer, res *Result) error {
	var b strings.Builder
	m := res.Machine
	fmt.Fprintf(&b, "%s (relay %s, %s, %s; %d × %s, %s, load %s)\n", res.Scenario, res.Server, res.Transport, res.Signing,
		m.NumCPU, m.CPU, m.GoVersion, m.LoadAvg)
	if bs := res.BaselineStats; bs != nil {
		writeBaseline(&b, bs)
	}
	if h := res.Handshake; h != nil {
		fmt.Fprintf(&b, "  sessions ready     %d of %d (%d failed) in %.2f s: %.0f/s\n",
			h.Ready, res.Sessions, h.Failed, res.DurationS, h.ReadyPerS)
		if l := res.Latency; l != nil {
			fmt.Fprintf(&b, "  handshake time     p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms\n", l.P50MS, l.P99MS, l.P999MS, l.MaxMS)
		}
	}
	if i := res.Idle; i != nil {
		fmt.Fprintf(&b, "  relay memory       %d KiB before, %d KiB after (pid %d): %.2f KiB per ready session; %d streams open at the end\n",
			i.ServerRSSBeforeKB, i.ServerRSSAfterKB, i.ServerPID, i.ServerRSSKBPerSession, i.Alive)
	}
	if l := res.Load; l != nil {
		fmt.Fprintf(&b, "  shape              %d pairs, %d per POST, %d recipients, %d-byte data, %d sessions\n",
			l.Pairs, l.Batch, l.Recipients, l.Size, res.Sessions)
		if l.Background > 0 {
			fmt.Fprintf(&b, "  background         %d idle ready sessions held through the run\n", l.Background)
		}
		if l.OfferedPerS > 0 {
			fmt.Fprintf(&b, "  offered            %.0f messages/s (%d sent late or not at all)\n", l.OfferedPerS, l.Late)
		}
		fmt.Fprintf(&b, "  delivered (acked)  %.0f/s over %.2f s; accepted %.0f/s; %.1f µs of CPU per delivery\n",
			l.DeliveredPerS, res.DurationS, l.SentPerS, l.CPUUSPerDelivery)
		if lat := res.Latency; lat != nil {
			fmt.Fprintf(&b, "  send → delivery    p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms (%d samples)\n",
				lat.P50MS, lat.P99MS, lat.P999MS, lat.MaxMS, lat.Samples)
		}
		fmt.Fprintf(&b, "  messages           %d sent, %d accepted, %d rejected, %d delivered in %d send and %d ack POSTs\n",
			l.Sent, l.Accepted, l.Rejected, l.Delivered, l.Posts, l.AckPosts)
		fmt.Fprintf(&b, "  lost %d, duplicated %d (and %d resent after a late ack), expired %d, undeliverable %d, unsettled at the end %d\n",
			l.Lost, l.Duplicated, l.Redelivered, l.Expired, l.Undeliverable, l.Unsettled)
	}
	if res.Errors > 0 {
		fmt.Fprintf(&b, "  errors             %d (first: %s)\n", res.Errors, res.ErrorSample)
	}
	if bs := res.Baseline; bs != nil {
		b.WriteString("  baseline, same run:\n")
		writeBaseline(&b, bs)
	}
	if len(res.Ratios) > 0 {
		names := make([]string, 0, len(res.Ratios))
		for k := range res.Ratios {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(&b, "  ratio %-28s %.3f\n", k, res.Ratios[k])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeBaseline(b *strings.Builder, bs *BaselineStats) {
	fmt.Fprintf(b, "  bare POST          %.0f/s (%d in flight)\n", bs.BarePostPerS, bs.Concurrency)
	fmt.Fprintf(b, "  Ed25519 POST       %.0f/s (signed by the client, verified by the handler)\n", bs.VerifiedPostPerS)
	fmt.Fprintf(b, "  Ed25519 one core   %.0f verifications/s, %.0f signatures/s (%d cores)\n",
		bs.VerifyPerSPerCore, bs.SignPerSPerCore, bs.Cores)
}
