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
		http:            httpapi.Config{KeepAlive: httpapi.DefaultKeepAlive, WriteTimeout: httpapi.DefaultWriteTimeout},
		relay:           o.relay,
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

// TestServeEverySetting sets each setting of the table by flag and by
// environment variable, and checks that it lands in the field of the same
// name and nowhere else.
func TestServeEverySetting(t *testing.T) {
	defaults, err := parseServe(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		def := s.bind(new(serveOptions)).String()
		val := doubled(t, def)
		check := func(t *testing.T, o *serveOptions) {
			t.Helper()
			want := *defaults
			var field reflect.Value
			switch s.name {
			case "keep-alive", "write-timeout":
				field = reflect.ValueOf(&want.http).Elem().FieldByName(fieldName(s.name))
			case "shutdown-timeout":
				field = reflect.ValueOf(&want.shutdownTimeout).Elem()
			default:
				field = reflect.ValueOf(&want.relay).Elem().FieldByName(fieldName(s.name))
			}
			if !field.IsValid() {
				t.Fatalf("no field for --%s", s.name)
			}
			bindValue(t, field, val)
			if !reflect.DeepEqual(*o, want) {
				t.Fatalf("--%s %s gave\n%+v\nwant\n%+v", s.name, val, *o, want)
			}
		}
		t.Run(s.name+"/flag", func(t *testing.T) {
			o, err := parseServe(t, "--"+s.name, val)
			if err != nil {
				t.Fatal(err)
			}
			check(t, o)
		})
		t.Run(s.name+"/env", func(t *testing.T) {
			t.Setenv(envName(s.name), val)
			o, err := parseServe(t)
			if err != nil {
				t.Fatal(err)
			}
			check(t, o)
		})
	}
}

// bindValue sets an int or time.Duration field from its flag text.
func bindValue(t *testing.T, field reflect.Value, text string) {
	t.Helper()
	switch p := field.Addr().Interface().(type) {
	case *int:
		n, _ := strconv.Atoi(text)
		*p = n
	case *time.Duration:
		*p, _ = time.ParseDuration(text)
	default:
		t.Fatalf("field of type %s", field.Type())
	}
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := parseServe(t, tc.args...)
			if err == nil {
				t.Fatal("accepted")
			}
			if _, ok := errors.AsType[*usageError](err); !ok {
				t.Errorf("%v is not a usage error", err)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
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
		if !regexp.MustCompile(`--` + s.name + ` .*\(default ` + regexp.QuoteMeta(def) + `\)`).MatchString(help) {
			t.Errorf("--help does not show --%s with its default %s", s.name, def)
		}
	}
}

// startServe runs serve in the background on a free port and returns its
// address, its stderr, and a function that cancels its context and returns
// what serve returned.
func startServe(t *testing.T, args ...string) (addr string, stderr *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr = newSyncBuffer()
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), io.Discard, stderr)
	}()
	select {
	case addr = <-stderr.addr:
	case err := <-done:
		cancel()
		t.Fatalf("serve returned before listening: %v\n%s", err, stderr)
	case <-time.After(hangGuard):
		cancel()
		t.Fatalf("serve did not print its address\n%s", stderr)
	}
	stopped := false
	stop = func() error {
		t.Helper()
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(hangGuard):
			t.Fatalf("serve did not return after its context was cancelled\n%s", stderr)
			return nil
		}
	}
	t.Cleanup(func() { stop() })
	return addr, stderr, stop
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
