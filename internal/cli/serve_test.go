package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/relay"
)

// hangGuard bounds waits that only end if serve works; it is never a
// timing assertion.
const hangGuard = 30 * time.Second

// parseServe runs the serve command with args but, instead of serving,
// returns the options it would serve with.
func parseServe(t *testing.T, args ...string) (*serveOptions, error) {
	t.Helper()
	var got *serveOptions
	cmd := newServeCmd(func(_ context.Context, o *serveOptions, _ io.Writer) error {
		got = o
		return nil
	})
	var out strings.Builder
	if err := run(t.Context(), cmd, args, &out, &out); err != nil {
		return nil, err
	}
	return got, nil
}

// relayDefaults is the configuration relay itself uses for a zero Config.
func relayDefaults() relay.Config {
	r := relay.New(relay.Config{})
	defer r.Close()
	c := r.Config()
	c.Observer = nil
	return c
}

func TestServeDefaults(t *testing.T) {
	o, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	// Equal to relay's own defaults: the table covers every limit and timer
	// of relay.Config (a missing row leaves a field zero) with the right
	// default.
	if want := relayDefaults(); !reflect.DeepEqual(o.relay, want) {
		t.Errorf("relay config from the defaults:\n%+v\nwant relay's defaults:\n%+v", o.relay, want)
	}
	want := serveOptions{
		addr:            "127.0.0.1:8080",
		logLevel:        "info",
		logFormat:       "text",
		origins:         originsValue{"*"},
		shutdownTimeout: 10 * time.Second,
		http: httpapi.Config{
			KeepAlive: httpapi.DefaultKeepAlive, WriteTimeout: httpapi.DefaultWriteTimeout,
			MaxStreams: httpapi.DefaultMaxStreams, MaxStreamsPerAddr: httpapi.DefaultMaxStreamsPerAddr,
			KeyRate: httpapi.DefaultKeyRate, KeyBurst: httpapi.DefaultKeyBurst,
		},
		relay: o.relay,
	}
	if !reflect.DeepEqual(*o, want) {
		t.Errorf("options %+v, want %+v", *o, want)
	}
}

// TestServeTableCoversConfig checks that every int and time.Duration field
// of relay.Config has a row in the settings table, so a limit added to the
// core cannot be forgotten here.
func TestServeTableCoversConfig(t *testing.T) {
	names := map[string]bool{}
	for _, s := range settings {
		names[s.name] = true
	}
	typ := reflect.TypeFor[relay.Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type != reflect.TypeFor[int]() && f.Type != reflect.TypeFor[time.Duration]() {
			continue
		}
		if !names[flagName(f.Name)] {
			t.Errorf("relay.Config.%s has no --%s", f.Name, flagName(f.Name))
		}
	}
}

// flagName is the flag of a Config field: MaxHeldPerSender → max-held-per-sender.
func flagName(field string) string {
	var b strings.Builder
	for i, r := range field {
		if 'A' <= r && r <= 'Z' {
			if i > 0 {
				b.WriteByte('-')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fieldName is the inverse of flagName: max-held-per-sender → MaxHeldPerSender.
func fieldName(flag string) string {
	var b strings.Builder
	for _, part := range strings.Split(flag, "-") {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// doubled returns a flag value twice the default, which passes every
// cross-check (it keeps ack-timeout-min ≤ ack-timeout-max and so on when
// only one setting changes).
func doubled(t *testing.T, def string) string {
	t.Helper()
	if n, err := strconv.Atoi(def); err == nil {
		return strconv.Itoa(2 * n)
	}
	d, err := time.ParseDuration(def)
	if err != nil {
		t.Fatalf("default %q is neither an int nor a duration", def)
	}
	return (2 * d).String()
}

// samples are values for the settings whose default cannot simply be
// doubled; each differs from the default.
var samples = map[string]string{
	"addr":            "127.0.0.1:9999",
	"tls-cert":        "/etc/keypost/cert.pem",
	"tls-key":         "/etc/keypost/key.pem",
	"h2c":             "true",
	"no-hmac":         "true",
	"log-level":       "debug",
	"log-format":      "json",
	"cors-origins":    "https://a.example,https://b.example",
	"drain-delay":     "5s",
	"trusted-proxies": "127.0.0.1,10.0.0.0/8,::1",
}

// companions are settings that are only valid together: the test sets the
// companion too (by flag) and expects it.
var companions = map[string][2]string{
	"tls-cert": {"tls-key", "/etc/keypost/key.pem"},
	"tls-key":  {"tls-cert", "/etc/keypost/cert.pem"},
}

// sample is a valid value for setting s other than its default.
func sample(t *testing.T, s setting) string {
	if v, ok := samples[s.name]; ok {
		return v
	}
	return doubled(t, s.bind(new(serveOptions)).String())
}

// TestServeEverySetting sets each setting of the table by flag, by
// environment variable and by config file, and checks that it lands in
// its field and nowhere else: for relay's and httpapi's limits, the field
// of the same name.
func TestServeEverySetting(t *testing.T) {
	defaults, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		val := sample(t, s)
		check := func(t *testing.T, o *serveOptions) {
			t.Helper()
			want := *defaults
			// The row's own Value sets the field of want...
			v := s.bind(&want)
			if err := v.Set(val); err != nil {
				t.Fatal(err)
			}
			if c, ok := companions[s.name]; ok {
				for _, cs := range settings {
					if cs.name == c[0] {
						_ = cs.bind(&want).Set(c[1])
					}
				}
			}
			// ...which for the packages' limits and timers must be the
			// field named like the flag.
			if f := namedField(&want, s.name); f.IsValid() && reflect.DeepEqual(f.Interface(), namedField(defaults, s.name).Interface()) {
				t.Fatalf("--%s does not set %s", s.name, fieldName(s.name))
			}
			if !reflect.DeepEqual(*o, want) {
				t.Fatalf("--%s %s gave\n%+v\nwant\n%+v", s.name, val, *o, want)
			}
		}
		var extra []string
		if c, ok := companions[s.name]; ok {
			extra = []string{"--" + c[0], c[1]}
		}
		t.Run(s.name+"/flag", func(t *testing.T) {
			o, err := parseServe(t, append(extra, "--"+s.name+"="+val)...)
			if err != nil {
				t.Fatal(err)
			}
			check(t, o)
		})
		t.Run(s.name+"/env", func(t *testing.T) {
			t.Setenv(envName(s.name), val)
			o, err := parseServe(t, extra...)
			if err != nil {
				t.Fatal(err)
			}
			check(t, o)
		})
		t.Run(s.name+"/file", func(t *testing.T) {
			o, err := parseServe(t, append(extra, "--config", writeConfig(t, s.name+": "+strconv.Quote(val)+"\n"))...)
			if err != nil {
				t.Fatal(err)
			}
			o.config = ""
			check(t, o)
		})
	}
}

// namedField is the field of o.relay or o.http named like the flag, if any.
func namedField(o *serveOptions, flag string) reflect.Value {
	if f := reflect.ValueOf(&o.relay).Elem().FieldByName(fieldName(flag)); f.IsValid() {
		return f
	}
	return reflect.ValueOf(&o.http).Elem().FieldByName(fieldName(flag))
}

func TestServeEnvPrecedence(t *testing.T) {
	t.Setenv("KEYPOST_RETENTION", "90s")
	t.Setenv("KEYPOST_ADDR", "127.0.0.1:9999")
	t.Setenv("KEYPOST_CORS_ORIGINS", "https://a.example, http://b.example:8080")
	t.Setenv("KEYPOST_LOG_LEVEL", "DEBUG")
	t.Setenv("KEYPOST_LOG_FORMAT", "") // empty: unset
	t.Setenv("KEYPOST_MAX_HELD_TOTAL", "12345")

	o, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	if o.relay.Retention != 90*time.Second || o.addr != "127.0.0.1:9999" || o.logLevel != "debug" ||
		o.logFormat != "text" || o.relay.MaxHeldTotal != 12345 ||
		!reflect.DeepEqual([]string(o.origins), []string{"https://a.example", "http://b.example:8080"}) {
		t.Fatalf("from the environment: %+v", *o)
	}

	// A flag beats its variable; the others still apply.
	o, err = parseServe(t, "--retention", "2m", "--addr=127.0.0.1:0", "--cors-origins", "*")
	if err != nil {
		t.Fatal(err)
	}
	if o.relay.Retention != 2*time.Minute || o.addr != "127.0.0.1:0" || o.relay.MaxHeldTotal != 12345 ||
		!reflect.DeepEqual([]string(o.origins), []string{"*"}) {
		t.Fatalf("flags over the environment: %+v", *o)
	}
}

func TestServeInvalid(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		mentions []string // each must appear in the error
	}{
		{"env duration", map[string]string{"KEYPOST_RETENTION": "banana"}, nil, []string{"KEYPOST_RETENTION", "--retention", "banana"}},
		{"env int", map[string]string{"KEYPOST_MAX_HELD_TOTAL": "1GB"}, nil, []string{"KEYPOST_MAX_HELD_TOTAL", "whole number"}},
		{"env zero", map[string]string{"KEYPOST_CHALLENGES": "0"}, nil, []string{"KEYPOST_CHALLENGES", "positive"}},
		{"env bad even if flag is fine elsewhere", map[string]string{"KEYPOST_DEAD_PINGS": "-1"}, []string{"--retention", "1m"}, []string{"KEYPOST_DEAD_PINGS"}},
		{"flag zero duration", nil, []string{"--retention", "0s"}, []string{"--retention", "positive"}},
		{"flag negative int", nil, []string{"--max-held-total", "-1"}, []string{"--max-held-total", "positive"}},
		{"flag not a number", nil, []string{"--challenges", "three"}, []string{"--challenges"}},
		{"addr without port", nil, []string{"--addr", "localhost"}, []string{"--addr"}},
		{"env addr", map[string]string{"KEYPOST_ADDR": "8080"}, nil, []string{"KEYPOST_ADDR"}},
		{"log level", nil, []string{"--log-level", "loud"}, []string{"--log-level", "debug, info, warn, error"}},
		{"log format", map[string]string{"KEYPOST_LOG_FORMAT": "xml"}, nil, []string{"KEYPOST_LOG_FORMAT"}},
		{"origin without scheme", nil, []string{"--cors-origins", "example.com"}, []string{"--cors-origins", "example.com"}},
		{"origin with path", nil, []string{"--cors-origins", "https://a.example/"}, []string{"--cors-origins"}},
		{"empty origins", nil, []string{"--cors-origins", ","}, []string{"--cors-origins"}},
		{"ack timeouts", nil, []string{"--ack-timeout-min", "2m"}, []string{"--ack-timeout-max", "--ack-timeout-min"}},
		{"ping pad", nil, []string{"--max-ping-pad", "100000"}, []string{"--max-ping-pad", "--max-message-bytes"}},
		{"message over body", map[string]string{"KEYPOST_MAX_BODY_BYTES": "1000"}, nil, []string{"--max-message-bytes", "--max-body-bytes"}},
		{"cert without key", nil, []string{"--tls-cert", "c.pem"}, []string{"--tls-cert needs --tls-key"}},
		{"key without cert", map[string]string{"KEYPOST_TLS_KEY": "k.pem"}, nil, []string{"--tls-key needs --tls-cert"}},
		{"h2c with TLS", nil, []string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--h2c"}, []string{"--h2c"}},
		{"h2c not a bool", map[string]string{"KEYPOST_H2C": "yes"}, nil, []string{"KEYPOST_H2C", "true or false"}},
		{"negative drain delay", nil, []string{"--drain-delay", "-1s"}, []string{"--drain-delay", "negative"}},
		{"bad proxy", nil, []string{"--trusted-proxies", "10.0.0.0/8,proxy.local"}, []string{"--trusted-proxies", "proxy.local"}},
		{"zero key rate", nil, []string{"--key-rate", "0"}, []string{"--key-rate", "positive"}},
		{"zero streams per addr", map[string]string{"KEYPOST_MAX_STREAMS_PER_ADDR": "0"}, nil, []string{"KEYPOST_MAX_STREAMS_PER_ADDR", "positive"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := parseServe(t, tc.args...)
			wantUsageError(t, err, tc.mentions...)
		})
	}
}

func TestServeHelpShowsDefaults(t *testing.T) {
	var stdout, stderr strings.Builder
	if err := runServe(t.Context(), []string{"--help"}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	help := stdout.String()
	for _, s := range settings {
		def := s.bind(new(serveOptions)).String()
		re := `--` + s.name + ` .*\(default ` + regexp.QuoteMeta(def) + `\)`
		if def == "" || def == "false" { // none, or off: pflag shows no default
			re = `--` + s.name + ` `
		}
		if !regexp.MustCompile(re).MatchString(help) {
			t.Errorf("--help does not show --%s with its default %s", s.name, def)
		}
	}
	for _, want := range []string{"--config", "KEYPOST_CONFIG", "--print-config", "precedence"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not mention %s", want)
		}
	}
}

// startServe runs serve in the background on a free port and returns its
// address, its stderr, and a function that cancels its context and returns
// what serve returned.
func startServe(t *testing.T, args ...string) (addr string, stderr *syncBuffer, stop func() error) {
	t.Helper()
	s := startServeCmd(t, newServeCmd(serve), args...)
	return s.addr, s.stderr, s.stop
}

// served is a serve command running in the background.
type served struct {
	t      *testing.T
	addr   string
	stderr *syncBuffer
	cancel context.CancelFunc // as SIGTERM
	done   chan error         // what serve returned
	err    error
	ended  bool
}

// startServeCmd runs cmd (a serve command) with args on a free port until
// the test ends.
func startServeCmd(t *testing.T, cmd *cobra.Command, args ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{t: t, stderr: newSyncBuffer(), cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- run(ctx, cmd, append([]string{"--addr", "127.0.0.1:0"}, args...), io.Discard, s.stderr)
	}()
	select {
	case s.addr = <-s.stderr.addr:
	case err := <-s.done:
		cancel()
		t.Fatalf("serve returned before listening: %v\n%s", err, s.stderr)
	case <-time.After(hangGuard):
		cancel()
		t.Fatalf("serve did not print its address\n%s", s.stderr)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// wait waits for serve to return, once its context is cancelled.
func (s *served) wait() error {
	s.t.Helper()
	if s.ended {
		return s.err
	}
	select {
	case s.err = <-s.done:
		s.ended = true
		return s.err
	case <-time.After(hangGuard):
		s.t.Fatalf("serve did not return after its context was cancelled\n%s", s.stderr)
		return nil
	}
}

// stop cancels serve's context (as SIGTERM does) and returns what serve
// returned.
func (s *served) stop() error {
	s.t.Helper()
	s.cancel()
	return s.wait()
}

// newClient returns an HTTP client whose connections are closed when the
// test ends, so goleak sees none of its goroutines.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestServeShutdown(t *testing.T) {
	addr, stderr, stop := startServe(t)
	base := "http://" + addr
	c := newClient(t)

	resp, err := c.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %s", resp.Status)
	}

	resp, err = c.Get(base + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /v1/events: %s, %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "retry:") {
		t.Fatalf("first line %q (%v), want retry:", first, err)
	}
	session := readEvent(t, br, "session")
	var ev struct{ Session string }
	if err := json.Unmarshal([]byte(session), &ev); err != nil || ev.Session == "" {
		t.Fatalf("session event data %q: %v", session, err)
	}

	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after its context was cancelled, want nil", err)
	}
	closing := readEvent(t, br, "closing")
	var cl struct{ Code string }
	if err := json.Unmarshal([]byte(closing), &cl); err != nil || cl.Code != "shutdown" {
		t.Fatalf("closing event data %q (%v), want code shutdown", closing, err)
	}
	if rest, err := io.ReadAll(br); err != nil {
		t.Fatalf("stream did not end cleanly: %v (after %q)", err, rest)
	}

	logs := stderr.String()
	for _, want := range []string{"msg=listening addr=" + addr, "msg=\"shutting down\"", "msg=stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs do not contain %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, ev.Session) {
		t.Errorf("info logs contain the session id:\n%s", logs)
	}
}

// readEvent reads SSE lines from br until an event of the given name is
// complete and returns its data; other events (re-sent session events,
// pings) are skipped.
func readEvent(t *testing.T, br *bufio.Reader, name string) string {
	t.Helper()
	var event, data string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before event %q: %v", name, err)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if event == name {
				return data
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		}
	}
}

func TestServeJSONLogs(t *testing.T) {
	addr, stderr, stop := startServe(t, "--log-format", "json", "--log-level", "warn")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// At warn, the info lines are gone; the listening line for scripts stays.
	if logs := stderr.String(); logs != "keypost listening on http://"+addr+"\n" {
		t.Fatalf("stderr at warn:\n%s", logs)
	}

	addr, stderr, stop = startServe(t, "--log-format", "json")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	var entry struct{ Level, Msg, Addr string }
	line, _, _ := strings.Cut(stderr.String(), "\n")
	if err := json.Unmarshal([]byte(line), &entry); err != nil || entry.Msg != "listening" || entry.Addr != addr || entry.Level != "INFO" {
		t.Fatalf("first log line %q (%v), want JSON with msg listening", line, err)
	}
}

// wantUsageError fails unless err is a usage error whose text mentions
// each of mentions.
func wantUsageError(t *testing.T, err error, mentions ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	if _, ok := errors.AsType[*usageError](err); !ok {
		t.Errorf("%v is not a usage error", err)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("error %q does not mention %q", err, m)
		}
	}
}
