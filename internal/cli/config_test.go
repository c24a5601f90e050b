package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a config file for a test and returns its name.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keypost.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const sampleConfig = `# a config file as an operator writes it
addr: 127.0.0.1:9000
retention: 90s
max-held-total: 2147483648
cors-origins:
  - https://a.example
  - https://b.example
log-level: warn
h2c: true
key-rate: 10
tls-cert:          # empty: unset
drain-delay: 5s
`

func TestServeConfigFile(t *testing.T) {
	o, err := parseServe(t, "--config", writeConfig(t, sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:9000" || o.relay.Retention != 90*time.Second || o.relay.MaxHeldTotal != 2147483648 ||
		!reflect.DeepEqual([]string(o.origins), []string{"https://a.example", "https://b.example"}) ||
		o.logLevel != "warn" || !o.h2c || o.http.KeyRate != 10 || o.tlsCert != "" || o.drainDelay != 5*time.Second {
		t.Fatalf("from the file: %+v", *o)
	}
	// The rest keeps its defaults.
	if o.relay.AuthTimeout != 20*time.Second || o.http.KeyBurst != 100 {
		t.Fatalf("defaults: %+v", *o)
	}
}

// One precedence order: flag > environment > config file > default.
func TestServeConfigPrecedence(t *testing.T) {
	path := writeConfig(t, "retention: 90s\nping-interval: 40s\ndead-pings: 7\n")
	t.Setenv("KEYPOST_CONFIG", path) // the file may be named by the environment too
	t.Setenv("KEYPOST_RETENTION", "2m")
	t.Setenv("KEYPOST_PING_INTERVAL", "50s")
	o, err := parseServe(t, "--retention", "3m")
	if err != nil {
		t.Fatal(err)
	}
	if o.relay.Retention != 3*time.Minute { // flag over environment and file
		t.Errorf("retention %v, want the flag's 3m", o.relay.Retention)
	}
	if o.relay.PingInterval != 50*time.Second { // environment over file
		t.Errorf("ping interval %v, want the environment's 50s", o.relay.PingInterval)
	}
	if o.relay.DeadPings != 7 { // file over default
		t.Errorf("dead pings %d, want the file's 7", o.relay.DeadPings)
	}
	if o.relay.MaxAttempts != 5 { // default
		t.Errorf("max attempts %d, want the default 5", o.relay.MaxAttempts)
	}
	// --config beats KEYPOST_CONFIG.
	o, err = parseServe(t, "--config", writeConfig(t, "dead-pings: 9\n"))
	if err != nil {
		t.Fatal(err)
	}
	if o.relay.DeadPings != 9 || o.relay.PingInterval != 50*time.Second {
		t.Errorf("--config over KEYPOST_CONFIG: dead pings %d, ping interval %v", o.relay.DeadPings, o.relay.PingInterval)
	}
}

// Invalid config files are refused at start, naming the setting, the file
// and the line.
func TestServeConfigInvalid(t *testing.T) {
	for _, tc := range []struct {
		name     string
		text     string
		mentions []string
	}{
		{"bad value", "addr: 127.0.0.1:0\nretention: banana\n", []string{"retention", "banana", "keypost.yaml:2", "--retention"}},
		{"zero", "challenges: 0\n", []string{"challenges", "positive", "keypost.yaml:1"}},
		{"unknown key", "retension: 90s\n", []string{"unknown setting", "retension", "keypost.yaml:1"}},
		{"meta flag", "config: other.yaml\n", []string{"unknown setting", "config"}},
		{"twice", "retention: 90s\nretention: 2m\n", []string{"retention", "twice", "keypost.yaml:2"}},
		{"nested", "retention:\n  seconds: 90\n", []string{"retention"}},
		{"not a mapping", "- retention\n", []string{"mapping"}},
		{"not YAML", "retention: [90s\n", []string{"keypost.yaml"}},
		{"cross-check", "ack-timeout-min: 2m\n", []string{"--ack-timeout-max", "--ack-timeout-min"}},
		{"bad origin", "cors-origins: [example.com]\n", []string{"cors-origins", "example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseServe(t, "--config", writeConfig(t, tc.text))
			wantUsageError(t, err, tc.mentions...)
		})
	}
	_, err := parseServe(t, "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("missing file: %v", err)
	}
}

// --print-config prints the effective configuration with each value's
// source, as a config file that gives the same configuration back.
func TestServePrintConfig(t *testing.T) {
	path := writeConfig(t, "retention: 90s\ncors-origins: [https://a.example]\n")
	t.Setenv("KEYPOST_DEAD_PINGS", "7")
	var stdout, stderr strings.Builder
	err := runServe(t.Context(), []string{"--config", path, "--print-config", "--max-attempts", "9"}, &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, want := range []string{
		"retention: 1m30s # file\n",
		"cors-origins: https://a.example # file\n",
		"dead-pings: 7 # env KEYPOST_DEAD_PINGS\n",
		"max-attempts: 9 # flag\n",
		"addr: 127.0.0.1:8080 # default\n",
		"Precedence: flag > KEYPOST_* environment variable > config file > default",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--print-config does not show %q:\n%s", want, out)
		}
	}
	for _, s := range settings {
		if !strings.Contains(out, "\n"+s.name+":") {
			t.Errorf("--print-config does not show %s", s.name)
		}
	}
	if strings.Contains(out, "print-config") || strings.Contains(out, "\nconfig:") {
		t.Errorf("--print-config shows its meta flags:\n%s", out)
	}

	want, err := parseServe(t, "--config", path, "--max-attempts", "9")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEYPOST_DEAD_PINGS", "")
	got, err := parseServe(t, "--config", writeConfig(t, out))
	if err != nil {
		t.Fatalf("the printed configuration does not load: %v\n%s", err, out)
	}
	got.config, want.config = "", ""
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("printed and loaded back:\n%+v\nwant\n%+v", *got, *want)
	}
}
