package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/relay"
)

// setting is one row of the serve command's table of settings: a flag, its
// help text, and a pflag.Value bound to the field it sets, which holds the
// default when the flag is registered. Each row is also an environment
// variable (envName) and a key of the config file (readConfigFile).
type setting struct {
	name  string
	usage string
	bind  func(*serveOptions) pflag.Value
}

// durationSetting is a setting for a time.Duration field.
func durationSetting(name string, def time.Duration, field func(*serveOptions) *time.Duration, usage string) setting {
	return setting{name, usage, func(o *serveOptions) pflag.Value {
		p := field(o)
		*p = def
		return (*durationValue)(p)
	}}
}

// delaySetting is a setting for a time.Duration field that may be zero
// (no delay), unlike the limits and timers of durationSetting.
func delaySetting(name string, def time.Duration, field func(*serveOptions) *time.Duration, usage string) setting {
	return setting{name, usage, func(o *serveOptions) pflag.Value {
		p := field(o)
		*p = def
		return (*delayValue)(p)
	}}
}

// intSetting is a setting for an int field.
func intSetting(name string, def int, field func(*serveOptions) *int, usage string) setting {
	return setting{name, usage, func(o *serveOptions) pflag.Value {
		p := field(o)
		*p = def
		return (*intValue)(p)
	}}
}

// pathSetting is a setting for a file name; empty means none.
func pathSetting(name string, field func(*serveOptions) *string, usage string) setting {
	return setting{name, usage, func(o *serveOptions) pflag.Value {
		p := field(o)
		*p = ""
		return (*pathValue)(p)
	}}
}

// boolSetting is a setting for an on/off field, off by default.
func boolSetting(name string, field func(*serveOptions) *bool, usage string) setting {
	return setting{name, usage, func(o *serveOptions) pflag.Value {
		p := field(o)
		*p = false
		return (*boolValue)(p)
	}}
}

// settings maps every setting of serve, among them every limit and timer
// of relay.Config and httpapi.Config, to a flag (and so to an environment
// variable, see envName, and a config file key), in the order --help lists
// them. The defaults are the packages' own Default… constants; a test
// checks that this table covers every such field of relay.Config and agrees
// with relay's defaults.
var settings = []setting{
	// Listening.
	{"addr", "address to listen on; port 0 picks a free port", func(o *serveOptions) pflag.Value {
		o.addr = defaultAddr
		return &o.addr
	}},
	pathSetting("tls-cert", func(o *serveOptions) *string { return &o.tlsCert },
		"certificate file (PEM, chain after the leaf) to serve HTTPS and HTTP/2 with; reloaded when it changes and on SIGHUP; needs --tls-key"),
	pathSetting("tls-key", func(o *serveOptions) *string { return &o.tlsKey },
		"private key file (PEM) of --tls-cert"),
	boolSetting("h2c", func(o *serveOptions) *bool { return &o.h2c },
		"also serve HTTP/2 without TLS (h2c, prior knowledge), for a proxy that terminates TLS and speaks HTTP/2 to keypost"),

	// Logging.
	{"log-level", "least severe log level written: debug, info, warn or error", func(o *serveOptions) pflag.Value {
		o.logLevel = "info"
		return choiceValue{&o.logLevel, []string{"debug", "info", "warn", "error"}, "level"}
	}},
	{"log-format", "log line format: text (key=value) or json", func(o *serveOptions) pflag.Value {
		o.logFormat = "text"
		return choiceValue{&o.logFormat, []string{"text", "json"}, "format"}
	}},

	// Stopping (SIGINT, SIGTERM).
	delaySetting("drain-delay", defaultDrainDelay, func(o *serveOptions) *time.Duration { return &o.drainDelay },
		"on SIGINT/SIGTERM, answer /readyz with 503 for this long before closing the streams, so load balancers stop sending new clients"),
	durationSetting("shutdown-timeout", defaultShutdownTimeout, func(o *serveOptions) *time.Duration { return &o.shutdownTimeout },
		"on SIGINT/SIGTERM, once the streams are closed, wait this long for requests to finish before cutting connections"),

	// The HTTP transport and its limits against abuse.
	{"cors-origins", "origins browsers may call from, comma-separated (scheme://host[:port]), or * for any", func(o *serveOptions) pflag.Value {
		o.origins = originsValue{"*"}
		return &o.origins
	}},
	durationSetting("keep-alive", httpapi.DefaultKeepAlive, func(o *serveOptions) *time.Duration { return &o.http.KeepAlive },
		"send an SSE comment on a stream silent this long, so proxies keep it open"),
	durationSetting("write-timeout", httpapi.DefaultWriteTimeout, func(o *serveOptions) *time.Duration { return &o.http.WriteTimeout },
		"drop a stream whose client takes longer than this to take one write"),
	intSetting("max-streams", httpapi.DefaultMaxStreams, func(o *serveOptions) *int { return &o.http.MaxStreams },
		"streams (sessions) served at once, in total; more are refused (503 too_many_streams)"),
	intSetting("max-streams-per-addr", httpapi.DefaultMaxStreamsPerAddr, func(o *serveOptions) *int { return &o.http.MaxStreamsPerAddr },
		"streams served at once per client IP address; more are refused (429 too_many_streams)"),
	{"trusted-proxies", "reverse proxies (IP addresses or prefixes, comma-separated) whose X-Forwarded-For names the client for the per-address limits; none by default",
		func(o *serveOptions) pflag.Value {
			o.http.TrustedProxies = nil
			return (*prefixesValue)(&o.http.TrustedProxies)
		}},
	boolSetting("no-hmac", func(o *serveOptions) *bool { return &o.http.DisableHMAC },
		"refuse the opt-in session profile: /v1/auth hands out no hmac-sha256 secret, so every request must be signed with Ed25519 (protocol §4.6)"),
	intSetting("key-rate", httpapi.DefaultKeyRate, func(o *serveOptions) *int { return &o.http.KeyRate },
		"send requests (POST /v1/send) per second per key, on average; more are refused (429 rate_limited, Retry-After)"),
	intSetting("key-burst", httpapi.DefaultKeyBurst, func(o *serveOptions) *int { return &o.http.KeyBurst },
		"send requests one key may make at once before --key-rate applies"),

	// Timers of a session's life (protocol §2, §4, §7).
	durationSetting("session-resend", relay.DefaultSessionResend, func(o *serveOptions) *time.Duration { return &o.relay.SessionResend },
		"re-send the session event this often until the stream is authorized (§2.1)"),
	durationSetting("auth-timeout", relay.DefaultAuthTimeout, func(o *serveOptions) *time.Duration { return &o.relay.AuthTimeout },
		"close a stream not authorized this long after it opened (§2.2)"),
	durationSetting("register-timeout", relay.DefaultRegisterTimeout, func(o *serveOptions) *time.Duration { return &o.relay.RegisterTimeout },
		"close a session not ready this long after its auth (§4)"),
	intSetting("challenges", relay.DefaultChallenges, func(o *serveOptions) *int { return &o.relay.Challenges },
		"registration checks sent one after another (§4)"),
	durationSetting("retention", relay.DefaultRetention, func(o *serveOptions) *time.Duration { return &o.relay.Retention },
		"how long an offline key keeps its messages and receipts (§7)"),

	// Messages and requests (§8, §9.4, §10).
	intSetting("max-pending-per-pair", relay.DefaultMaxPendingPerPair, func(o *serveOptions) *int { return &o.relay.MaxPendingPerPair },
		"unacknowledged messages per sender→recipient pair (§8)"),
	intSetting("max-message-bytes", relay.DefaultMaxMessageBytes, func(o *serveOptions) *int { return &o.relay.MaxMessageBytes },
		"largest message data, in UTF-8 bytes (§9.4)"),
	intSetting("max-body-bytes", relay.DefaultMaxBodyBytes, func(o *serveOptions) *int { return &o.relay.MaxBodyBytes },
		"largest request body, in bytes"),
	intSetting("max-recipients", relay.DefaultMaxRecipients, func(o *serveOptions) *int { return &o.relay.MaxRecipients },
		"entries in one send request (§10)"),
	durationSetting("dedup-window", relay.DefaultDedupWindow, func(o *serveOptions) *time.Duration { return &o.relay.DedupWindow },
		"how long settled message ids are remembered to drop duplicates"),
	intSetting("max-dedup-per-sender", relay.DefaultMaxDedupPerSender, func(o *serveOptions) *int { return &o.relay.MaxDedupPerSender },
		"settled message ids remembered per sender"),

	// Liveness and delivery (§9).
	durationSetting("ping-interval", relay.DefaultPingInterval, func(o *serveOptions) *time.Duration { return &o.relay.PingInterval },
		"ping a session heard nothing from for this long (§9)"),
	intSetting("dead-pings", relay.DefaultDeadPings, func(o *serveOptions) *int { return &o.relay.DeadPings },
		"unanswered pings in a row before a session is dead (§9.3)"),
	durationSetting("ack-timeout-min", relay.DefaultAckTimeoutMin, func(o *serveOptions) *time.Duration { return &o.relay.AckTimeoutMin },
		"floor of the ack timeout (§9.3)"),
	durationSetting("ack-timeout-max", relay.DefaultAckTimeoutMax, func(o *serveOptions) *time.Duration { return &o.relay.AckTimeoutMax },
		"ceiling of the ack timeout (§9.3)"),
	durationSetting("max-ack-delay", relay.DefaultMaxAckDelay, func(o *serveOptions) *time.Duration { return &o.relay.MaxAckDelay },
		"how long clients may wait before acking (§9.3)"),
	intSetting("max-attempts", relay.DefaultMaxAttempts, func(o *serveOptions) *int { return &o.relay.MaxAttempts },
		"writes of one message before it is undeliverable (§9.3)"),
	durationSetting("sample-max-age", relay.DefaultSampleMaxAge, func(o *serveOptions) *time.Duration { return &o.relay.SampleMaxAge },
		"age after which a link measurement is stale (§9.1)"),
	intSetting("max-ping-pad", relay.DefaultMaxPingPad, func(o *serveOptions) *int { return &o.relay.MaxPingPad },
		"largest ping pad, in bytes (§9.1)"),
	intSetting("initial-bandwidth", relay.DefaultInitialBandwidth, func(o *serveOptions) *int { return &o.relay.InitialBandwidth },
		"bytes/s assumed for a link until it is measured"),

	// Memory bounds: each one's overflow is refused or closes a stream.
	intSetting("max-held-per-recipient", relay.DefaultMaxHeldPerRecipient, func(o *serveOptions) *int { return &o.relay.MaxHeldPerRecipient },
		"bytes held for one recipient, from all senders"),
	intSetting("max-held-per-sender", relay.DefaultMaxHeldPerSender, func(o *serveOptions) *int { return &o.relay.MaxHeldPerSender },
		"bytes held from one sender, for all recipients"),
	intSetting("max-held-total", relay.DefaultMaxHeldTotal, func(o *serveOptions) *int { return &o.relay.MaxHeldTotal },
		"bytes held in the whole relay"),
	intSetting("max-unacked-receipts", relay.DefaultMaxUnackedReceipts, func(o *serveOptions) *int { return &o.relay.MaxUnackedReceipts },
		"unacknowledged receipts per key before its sends are refused (429)"),
	intSetting("max-unauth-streams", relay.DefaultMaxUnauthStreams, func(o *serveOptions) *int { return &o.relay.MaxUnauthStreams },
		"streams not yet authorized, in total"),
	intSetting("max-unauth-per-addr", relay.DefaultMaxUnauthPerAddr, func(o *serveOptions) *int { return &o.relay.MaxUnauthPerAddr },
		"streams not yet authorized, per client IP address"),
	intSetting("max-outbox-bytes", relay.DefaultMaxOutboxBytes, func(o *serveOptions) *int { return &o.relay.MaxOutboxBytes },
		"unwritten bytes of one stream before it is closed as a slow reader"),
}
