package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/keypost/keypost/protocol"
)

// Scenarios, in the order `all` runs them.
var Scenarios = []string{"baseline", "handshake", "throughput", "latency", "fanout", "idle"}

// Options configure one run. Zero fields take the defaults of Defaults.
type Options struct {
	Scenario string

	URL         string   // the relay to drive; empty: start one (Server)
	AllowRemote bool     // allow a URL whose host is not loopback
	Server      string   // ServerInProcess or ServerChild when URL is empty
	ServerCmd   []string // the child relay's command; default: this executable and "serve"
	ServerPID   int      // with URL: the relay's process, to read its memory

	Duration    time.Duration // how long to measure (load scenarios, baseline)
	Warmup      time.Duration // load before measuring
	N           int           // sessions (handshake, idle); a cap on messages sent (load; 0: none)
	Pairs       int           // sender→recipient pairs (throughput, latency)
	Batch       int           // messages per send POST (throughput)
	Recipients  int           // recipients of one send (fanout); recipient sessions shared by the pairs (throughput, latency with Batch 1; default Pairs/8)
	Senders     int           // sessions sending (fanout)
	Rate        float64       // messages offered per second (latency)
	Size        int           // bytes of message data
	Concurrency int           // handshakes in flight (handshake, idle)
	AckDelay    time.Duration // how long a message ack may wait to be batched with others (0: DefaultAckDelay, or DefaultAckDelayWindow with Batch 1)
	SourceAddrs int           // loopback source addresses (0: enough for N)
	H2C         bool          // HTTP/2 without TLS: many streams per connection
	HMAC        bool          // sessions opt into the session profile: hmac-sha256 after /v1/auth
	Background  int           // load scenarios: ready sessions held idle (over h2c), connected first, while the load runs
	Baseline    bool          // also measure the machine's baseline and report ratios

	// AtPeak, when set, is called while the idle scenario's sessions are
	// all open (to take a heap profile, say).
	AtPeak func()

	// Progress, when set, gets a one-line status every half second
	// (rewritten in place with \r): pass stderr when it is a terminal.
	Progress io.Writer
}

// Defaults of Options.
const (
	DefaultDuration    = 10 * time.Second
	DefaultWarmup      = 1 * time.Second
	DefaultSize        = 64
	DefaultConcurrency = 64
	DefaultRate        = 5000
	DefaultRecipients  = 100
	// DefaultAckDelay is how long a recipient holds a message ack to
	// batch it with the next ones (the protocol allows 200 ms). With one
	// message per POST (throughput, latency), each recipient serves few
	// pairs, each bound by its window of 3 and the time to its acks, so it
	// holds them only DefaultAckDelayWindow.
	DefaultAckDelay       = 20 * time.Millisecond
	DefaultAckDelayWindow = 2 * time.Millisecond
	window                = 3 // unacknowledged messages per pair (protocol §8)
)

func (o Options) withDefaults() Options {
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	}
	if o.Size <= 0 {
		o.Size = DefaultSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Batch <= 0 {
		o.Batch = 1
	}
	if o.AckDelay <= 0 {
		o.AckDelay = DefaultAckDelay
		if o.Scenario != "fanout" && o.Batch == 1 {
			o.AckDelay = DefaultAckDelayWindow
		}
	}
	if o.Pairs <= 0 {
		switch {
		case o.Scenario == "latency" && o.Batch > 1:
			o.Pairs = 4 * o.Batch // four senders
		case o.Batch > 1:
			o.Pairs = 20 * o.Batch
		default:
			o.Pairs = 32
		}
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Recipients <= 0 && o.Scenario == "fanout" {
		o.Recipients = DefaultRecipients
	}
	if o.Senders <= 0 {
		o.Senders = 1
	}
	if o.N <= 0 && (o.Scenario == "handshake" || o.Scenario == "idle") {
		o.N = 1000
	}
	if o.Server == "" {
		o.Server = ServerInProcess
		if o.Scenario == "idle" {
			o.Server = ServerChild // its memory is measured on its own
		}
	}
	return o
}

// Result is what one scenario measured. Groups of fields that a scenario
// does not measure are left out of its JSON.
type Result struct {
	Scenario  string  `json:"scenario"`
	Server    string  `json:"server"`    // inproc, child or url
	Transport string  `json:"transport"` // http1 or h2c
	Signing   string  `json:"signing"`   // ed25519, or hmac-sha256 after /v1/auth (Options.HMAC)
	Machine   Machine `json:"machine"`
	DurationS float64 `json:"duration_s"` // time measured
	Sessions  int     `json:"sessions,omitempty"`

	*Latency
	*Handshake
	*Load
	*Idle
	*BaselineStats

	Errors      int64  `json:"errors"`
	ErrorSample string `json:"error_sample,omitempty"`

	// Baseline, when measured in the same run, and each headline figure
	// as a ratio to it.
	Baseline *BaselineStats     `json:"baseline,omitempty"`
	Ratios   map[string]float64 `json:"ratios,omitempty"`
}

// Latency summarises a distribution of times in milliseconds: handshake
// times, or send-to-delivery times.
type Latency struct {
	Samples uint64  `json:"samples"`
	P50MS   float64 `json:"p50_ms"`
	P99MS   float64 `json:"p99_ms"`
	P999MS  float64 `json:"p999_ms"`
	MaxMS   float64 `json:"max_ms"`
}

// Handshake is the handshake scenario's (and idle's set-up) result.
type Handshake struct {
	Ready     int     `json:"ready"`
	Failed    int     `json:"failed"`
	ReadyPerS float64 `json:"ready_per_s"`
	FDLimit   uint64  `json:"fd_limit"`
}

// Load is the result of throughput, latency and fanout.
type Load struct {
	Pairs         int     `json:"pairs"`
	Batch         int     `json:"batch"`
	Recipients    int     `json:"recipients"`
	Size          int     `json:"size"`
	OfferedPerS   float64 `json:"offered_per_s,omitempty"` // latency: the rate asked for
	SentPerS      float64 `json:"sent_per_s"`              // messages accepted per second
	DeliveredPerS float64 `json:"delivered_per_s"`         // acked deliveries (delivered receipts) per second
	Sent          int64   `json:"sent"`                    // send entries posted
	Accepted      int64   `json:"accepted"`
	Rejected      int64   `json:"rejected"`
	Delivered     int64   `json:"delivered"` // delivered receipts, whole run
	Lost          int64   `json:"lost"`
	Duplicated    int64   `json:"duplicated"`  // a message seen twice in the same attempt: a relay fault
	Redelivered   int64   `json:"redelivered"` // seen again in a later attempt: resent after its ack came too late (at-least-once)
	Expired       int64   `json:"expired"`
	Undeliverable int64   `json:"undeliverable"`
	Unsettled     int64   `json:"unsettled"`            // delivered but no receipt when the run ended
	Late          int64   `json:"late"`                 // latency: messages the generator sent behind schedule (window full or busy)
	Posts         int64   `json:"posts"`                // send POSTs
	Background    int     `json:"background,omitempty"` // idle ready sessions held during the run (Options.Background), still open at its end
	// CPUUSPerDelivery is the CPU time of this process (user and system)
	// over the measured time per delivery counted: the generator's, and
	// the relay's when it runs in this process. It is steadier than the
	// rates on a shared machine.
	CPUUSPerDelivery float64 `json:"cpu_us_per_delivery"`
	AckPosts         int64   `json:"ack_posts"`
}

// Idle is the idle scenario's result.
type Idle struct {
	Alive                 int     `json:"alive"` // ready sessions whose stream was still open when the memory was read
	ServerPID             int     `json:"server_pid"`
	ServerRSSBeforeKB     int64   `json:"server_rss_before_kb"`
	ServerRSSAfterKB      int64   `json:"server_rss_after_kb"`
	ServerRSSKBPerSession float64 `json:"server_rss_kb_per_session"`
}

// Machine describes where the run happened.
type Machine struct {
	NumCPU    int    `json:"nproc"`
	CPU       string `json:"cpu"`
	GoVersion string `json:"go"`
	LoadAvg   string `json:"loadavg"` // /proc/loadavg at the start
}

func machine() Machine {
	m := Machine{NumCPU: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// Run runs one scenario (not "all": the caller loops over Scenarios) and
// returns its result. It stops by itself: after o.Duration (plus set-up,
// warm-up and a bounded drain) or once o.N is reached, or when ctx ends.
func Run(ctx context.Context, o Options) (*Result, error) {
	o = o.withDefaults()
	res := &Result{Scenario: o.Scenario, Machine: machine(), Transport: "http1", Signing: protocol.SignatureAlg}
	if o.H2C {
		res.Transport = "h2c"
	}
	if o.HMAC {
		res.Signing = protocol.SignatureAlgHMAC
	}
	if o.Baseline && o.Scenario != "baseline" {
		b, err := measureBaseline(ctx, min(o.Duration, 3*time.Second), o.Progress)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		res.Baseline = b
	}
	if o.Scenario == "baseline" {
		b, err := measureBaseline(ctx, o.Duration, o.Progress)
		if err != nil {
			return nil, err
		}
		res.Server = ServerInProcess
		res.BaselineStats = b
		res.DurationS = o.Duration.Seconds()
		return res, nil
	}

	tg, u, err := o.target()
	if err != nil {
		return nil, err
	}
	defer tg.close()
	res.Server = tg.kind

	sources := o.SourceAddrs
	if sources <= 0 {
		sources = 1 + (o.N+o.Pairs+o.Recipients)/20000
	}
	nc := newNetClient(u, sources, o.H2C)
	defer nc.close()
	r := &runner{o: o, nc: nc, bg: nc, res: res, tg: tg, start: time.Now()}
	if o.Background > 0 && !o.H2C {
		r.bg = newNetClient(u, 1+o.Background/20000, true)
		defer r.bg.close()
	}
	switch o.Scenario {
	case "handshake":
		err = r.handshake(ctx)
	case "idle":
		err = r.idle(ctx)
	case "throughput", "latency", "fanout":
		err = r.load(ctx)
	default:
		return nil, fmt.Errorf("unknown scenario %q (want one of %s)", o.Scenario, strings.Join(Scenarios, ", "))
	}
	if err != nil {
		return nil, err
	}
	res.Errors = r.errors.Load()
	if s := r.errSample.Load(); s != nil {
		res.ErrorSample = *s
	}
	res.ratios()
	return res, nil
}

// target starts or names the relay.
func (o Options) target() (*target, *url.URL, error) {
	var tg *target
	var err error
	switch {
	case o.URL != "":
		u, err := CheckURL(o.URL, o.AllowRemote)
		if err != nil {
			return nil, nil, err
		}
		return &target{url: o.URL, kind: ServerURL, pid: o.ServerPID, close: func() {}}, u, nil
	case o.Server == ServerChild:
		tg, err = startChild(o.ServerCmd, o.H2C || o.Background > 0)
	case o.Server == ServerInProcess:
		tg, err = startInProcess(o.H2C || o.Background > 0)
	default:
		return nil, nil, fmt.Errorf("unknown server kind %q (want %s or %s)", o.Server, ServerInProcess, ServerChild)
	}
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(tg.url)
	if err != nil {
		tg.close()
		return nil, nil, err
	}
	return tg, u, nil
}

// runner holds one run's shared state.
type runner struct {
	o     Options
	nc    *netClient
	bg    *netClient // the background sessions' transport: nc if it is h2c, else an h2c one
	res   *Result
	tg    *target
	start time.Time

	errors    atomic.Int64
	errSample atomic.Pointer[string]
}

// fail counts an error and keeps the first one as a sample.
func (r *runner) fail(err error) {
	r.errors.Add(1)
	s := err.Error()
	r.errSample.CompareAndSwap(nil, &s)
}

// now is the time since the run started, in nanoseconds: the clock of
// message data and latencies.
func (r *runner) now() int64 { return int64(time.Since(r.start)) }

// SetBaseline attaches a baseline measured in the same run and states the
// headline figures as ratios to it.
func (res *Result) SetBaseline(b *BaselineStats) {
	res.Baseline = b
	res.ratios()
}

// ratios states the headline figures as ratios to the baseline.
func (res *Result) ratios() {
	b := res.Baseline
	if b == nil {
		return
	}
	res.Ratios = map[string]float64{}
	add := func(name string, v, base float64) {
		if base > 0 && v > 0 {
			res.Ratios[name] = math.Round(v/base*1000) / 1000
		}
	}
	if res.Load != nil {
		add("delivered_per_verified_post", res.DeliveredPerS, b.VerifiedPostPerS)
		add("delivered_per_bare_post", res.DeliveredPerS, b.BarePostPerS)
		add("delivered_per_verify_core", res.DeliveredPerS, b.VerifyPerSPerCore)
	}
	if res.Handshake != nil {
		add("ready_per_verified_post", res.ReadyPerS, b.VerifiedPostPerS)
	}
}

func numCPU() int { return runtime.NumCPU() }
