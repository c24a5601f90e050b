package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keypost/keypost/bench"
)

const benchLong = `Measure a relay with the real protocol: every session makes the whole
handshake (session event, auth, three challenges, ready) and every POST is
signed. The relay is started in this process (--server inproc, the
default), as a child "keypost serve" (--server child: its memory is read
from /proc), or given with --url, which must be on the loopback network
(127.0.0.0/8 or ::1) unless --allow-remote.

Scenarios:
  baseline    the machine's own limits, for ratios: a bare net/http POST
              handler, the same handler checking an Ed25519 signature, and
              Ed25519 verifications and signatures per second on one core
  handshake   -n sessions connect and become ready as fast as they can
              (--concurrency at a time): ready/s, handshake time
  throughput  --pairs sender→recipient pairs keep their window of 3 full;
              with --batch B, each sender posts up to B messages at once to
              B recipients; recipients ack in batches: delivered (acked)
              messages/s, send→delivery time, lost and duplicated
  latency     the same at a fixed offered --rate (a list gives one result
              per rate, e.g. --rate 1000,5000,20000)
  fanout      --senders sessions each send one message to --recipients
              recipients at once, again as soon as every window allows
  idle        -n ready sessions that do nothing: the relay's resident
              memory per session (a child relay by default)
  all         baseline, then every other scenario, with ratios to the
              baseline

Each scenario stops by itself: after its set-up, --warmup and --duration
(plus at most 10 s for messages in flight to settle), or after -n
messages. With --json each result is one JSON object on its own line.
Progress goes to stderr when it is a terminal.

The relay's per-address stream caps and per-key rate limit are lifted for
an in-process or child relay; a relay given with --url needs the same
(--max-streams-per-addr, --max-unauth-per-addr, --key-rate, --key-burst).
docs/benchmarks.md has the figures of this machine and the commands.`

type benchFlags struct {
	o          bench.Options
	rates      string
	json       bool
	cpuprofile string
	memprofile string
	serverCmd  string
}

func newBenchCmd() *cobra.Command {
	f := &benchFlags{}
	cmd := &cobra.Command{
		Use:       "bench SCENARIO [flags]",
		Short:     "Load-test a relay with the real protocol",
		Long:      benchLong,
		Args:      cobra.ExactArgs(1),
		ValidArgs: append(slices.Clone(bench.Scenarios), "all"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd.Context(), args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	o := &f.o
	fs.StringVar(&o.URL, "url", "", "the relay to measure (http://127.0.0.1:PORT); default: start one")
	fs.BoolVar(&o.AllowRemote, "allow-remote", false, "allow a --url that is not on the loopback network")
	fs.StringVar(&o.Server, "server", "", "without --url, where the relay runs: inproc or child (default inproc; child for idle)")
	fs.StringVar(&f.serverCmd, "server-cmd", "", "the child relay's command (default: this program and \"serve\"), space-separated")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "with --url, the relay's process id, to read its memory (idle)")
	fs.DurationVar(&o.Duration, "duration", bench.DefaultDuration, "how long to measure")
	fs.DurationVar(&o.Warmup, "warmup", bench.DefaultWarmup, "load before measuring")
	fs.IntVarP(&o.N, "n", "n", 0, "sessions (handshake, idle; default 1000); at most this many messages (load scenarios; default no cap)")
	fs.IntVar(&o.Pairs, "pairs", 0, "sender→recipient pairs (throughput, latency; default 32, or 20×batch)")
	fs.IntVar(&o.Batch, "batch", 1, "messages per send POST, to as many recipients (throughput, latency)")
	fs.IntVar(&o.Recipients, "recipients", 0, "recipients of one send (fanout; default 100); recipient sessions the pairs share (throughput and latency with --batch 1; default pairs/8)")
	fs.IntVar(&o.Senders, "senders", 1, "sessions sending (fanout)")
	fs.StringVar(&f.rates, "rate", strconv.Itoa(bench.DefaultRate), "messages offered per second (latency); a comma-separated list runs each")
	fs.IntVar(&o.Size, "size", bench.DefaultSize, "bytes of message data")
	fs.IntVar(&o.Concurrency, "concurrency", bench.DefaultConcurrency, "handshakes in flight (handshake, idle)")
	fs.DurationVar(&o.AckDelay, "ack-delay", 0, "how long a recipient may hold a message ack to batch it with others (protocol: at most 200ms; default 20ms, 2ms with --batch 1)")
	fs.IntVar(&o.SourceAddrs, "source-addrs", 0, "loopback source addresses 127.0.0.x to spread connections over (default: one per 20000)")
	fs.BoolVar(&o.H2C, "h2c", false, "HTTP/2 without TLS: many streams and POSTs share a connection")
	fs.BoolVar(&o.HMAC, "hmac", false, "sessions opt into the session profile: requests after /v1/auth are signed with hmac-sha256 (protocol §4.6)")
	fs.IntVar(&o.Background, "background", 0, "load scenarios: first make this many sessions ready, over HTTP/2 (h2c), and hold them idle while the load runs (use --server child for 100000)")
	fs.BoolVar(&o.Baseline, "baseline", false, "also measure the baseline in this run and report ratios to it")
	fs.BoolVar(&f.json, "json", false, "print each result as one JSON object per line")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile of this process to `FILE` (goroutines are labelled side=relay or side=generator)")
	fs.StringVar(&f.memprofile, "memprofile", "", "write a heap profile of this process to `FILE` (idle: while every session is open)")
	return cmd
}

// runBench runs the bench command with args.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, newBenchCmd(), args, stdout, stderr)
}

func (f *benchFlags) run(ctx context.Context, scenario string, stdout, stderr io.Writer) error {
	if scenario != "all" && !slices.Contains(bench.Scenarios, scenario) {
		return usagef("unknown scenario %q: want one of %s or all", scenario, strings.Join(bench.Scenarios, ", "))
	}
	if f.o.URL != "" {
		if _, err := bench.CheckURL(f.o.URL, f.o.AllowRemote); err != nil {
			return usagef("%v", err)
		}
	}
	if f.o.Server != "" && f.o.Server != bench.ServerInProcess && f.o.Server != bench.ServerChild {
		return usagef("--server %q: want %s or %s", f.o.Server, bench.ServerInProcess, bench.ServerChild)
	}
	var rates []float64
	for r := range strings.SplitSeq(f.rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v <= 0 {
			return usagef("--rate %q: want positive numbers, comma-separated", f.rates)
		}
		rates = append(rates, v)
	}
	if f.serverCmd != "" {
		f.o.ServerCmd = strings.Fields(f.serverCmd)
	}
	if file, ok := stderr.(*os.File); ok && isTerminal(file) {
		f.o.Progress = stderr
	}
	if f.cpuprofile != "" {
		out, err := os.Create(f.cpuprofile)
		if err != nil {
			return err
		}
		defer out.Close()
		if err := pprof.StartCPUProfile(out); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if f.memprofile != "" {
		f.o.AtPeak = func() { writeHeapProfile(f.memprofile, stderr) }
		defer func() {
			if _, err := os.Stat(f.memprofile); err != nil {
				writeHeapProfile(f.memprofile, stderr)
			}
		}()
	}
	var base *bench.BaselineStats
	scenarios := []string{scenario}
	if scenario == "all" {
		scenarios = bench.Scenarios
	}
	var err error
	pprof.Do(ctx, pprof.Labels("side", "generator"), func(ctx context.Context) {
		for _, sc := range scenarios {
			o := f.o
			o.Scenario = sc
			if scenario == "all" {
				o.Baseline = false // measured once, first
			}
			runRates := []float64{0}
			if sc == "latency" {
				runRates = rates
			}
			for _, rate := range runRates {
				o.Rate = rate
				var res *bench.Result
				if res, err = bench.Run(ctx, o); err != nil {
					err = fmt.Errorf("bench %s: %w", sc, err)
					return
				}
				if sc == "baseline" {
					base = res.BaselineStats
				} else if base != nil {
					res.SetBaseline(base)
				}
				if err = f.print(stdout, res); err != nil {
					return
				}
				if ctx.Err() != nil {
					err = ctx.Err()
					return
				}
			}
		}
	})
	return err
}

func writeHeapProfile(path string, stderr io.Writer) {
	out, err := os.Create(path)
	if err == nil {
		runtime.GC()
		err = pprof.WriteHeapProfile(out)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "keypost: heap profile: %v\n", err)
	}
}

func (f *benchFlags) print(w io.Writer, res *bench.Result) error {
	if f.json {
		return json.NewEncoder(w).Encode(res)
	}
	return bench.WriteSummary(w, res)
}
