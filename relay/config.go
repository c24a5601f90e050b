package relay

import (
	"time"

	"github.com/keypost/keypost/protocol"
)

// Defaults of Config (the design's defaults table). A zero Config field
// means the default.
const (
	DefaultSessionResend       = 3 * time.Second  // §2.1
	DefaultAuthTimeout         = 20 * time.Second // §2.2
	DefaultRegisterTimeout     = 20 * time.Second // §4
	DefaultChallenges          = 3                // §4
	DefaultMaxPendingPerPair   = 3                // §8
	DefaultRetention           = 60 * time.Second // §7
	DefaultMaxMessageBytes     = 64 << 10         // §9.4
	DefaultMaxBodyBytes        = 4 << 20
	DefaultMaxRecipients       = 1000 // §10
	DefaultDedupWindow         = 30 * time.Second
	DefaultPingInterval        = 25 * time.Second // §9
	DefaultDeadPings           = 3                // §9.3
	DefaultAckTimeoutMin       = 1 * time.Second  // §9.3
	DefaultAckTimeoutMax       = 60 * time.Second // §9.3
	DefaultMaxAckDelay         = 200 * time.Millisecond
	DefaultMaxAttempts         = 5                // §9.3
	DefaultSampleMaxAge        = 30 * time.Second // §9.1
	DefaultMaxPingPad          = 16 << 10         // §9.1
	DefaultMaxHeldPerRecipient = 4 << 20
	DefaultMaxHeldPerSender    = 8 << 20
	DefaultMaxHeldTotal        = 1 << 30
	DefaultMaxUnackedReceipts  = 4096
	DefaultMaxDedupPerSender   = 16384
	DefaultMaxUnauthStreams    = 10000
	DefaultMaxUnauthPerAddr    = 100
	DefaultMaxOutboxBytes      = 16 << 20
	DefaultInitialBandwidth    = 1 << 20 // bytes/s assumed until measured
	DefaultRetryMS             = 2000    // SSE `retry:` sent at stream start
	messageOverhead            = 160     // bytes a held message costs beyond its data
	smallSampleBytes           = 2048    // samples up to this size measure latency, not bandwidth
)

// Config holds every limit and timer of the relay.
type Config struct {
	SessionResend     time.Duration // §2.1 re-send the session event this often until /v1/auth
	AuthTimeout       time.Duration // §2.2 close a stream not authorized this long after it opened
	RegisterTimeout   time.Duration // §4 close a session not ready this long after its auth
	Challenges        int           // §4 registration checks, sent one after another (§4.1)
	MaxPendingPerPair int           // §8 unacknowledged messages per sender→recipient
	Retention         time.Duration // §7 how long an offline entity keeps its messages
	MaxMessageBytes   int           // §9.4 max UTF-8 bytes of one message's data
	MaxBodyBytes      int           // max request body (enforced by the transport, announced here)
	MaxRecipients     int           // §10 entries per send request
	DedupWindow       time.Duration // settled message ids remembered this long
	PingInterval      time.Duration // §9 ping a session heard nothing from for this long
	DeadPings         int           // §9.3 pings unanswered in a row before a session is dead
	AckTimeoutMin     time.Duration // §9.3 floor of the ack timeout
	AckTimeoutMax     time.Duration // §9.3 ceiling of the ack timeout
	MaxAckDelay       time.Duration // §9.3 how long clients may wait before acking
	MaxAttempts       int           // §9.3 writes of one message before it is undeliverable
	SampleMaxAge      time.Duration // §9.1 a size sample older than this is stale
	MaxPingPad        int           // §9.1 largest ping pad

	MaxHeldPerRecipient int // held bytes for one recipient, all senders
	MaxHeldPerSender    int // held bytes from one sender, all recipients
	MaxHeldTotal        int // held bytes in the whole relay
	MaxUnackedReceipts  int // unacknowledged receipts per entity before send answers 429
	MaxDedupPerSender   int // settled ids remembered per sender
	MaxUnauthStreams    int // streams not yet authorized, in total
	MaxUnauthPerAddr    int // streams not yet authorized, per client address
	MaxOutboxBytes      int // unwritten bytes of one stream before it is closed (slow_reader)
	InitialBandwidth    int // bytes/s assumed for a link until a large sample measures it

	// Observer receives events for metrics and logs; nil means none.
	Observer Observer
}

func orDefault[T int | time.Duration](v, d T) T {
	if v <= 0 {
		return d
	}
	return v
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	c.SessionResend = orDefault(c.SessionResend, DefaultSessionResend)
	c.AuthTimeout = orDefault(c.AuthTimeout, DefaultAuthTimeout)
	c.RegisterTimeout = orDefault(c.RegisterTimeout, DefaultRegisterTimeout)
	c.Challenges = orDefault(c.Challenges, DefaultChallenges)
	c.MaxPendingPerPair = orDefault(c.MaxPendingPerPair, DefaultMaxPendingPerPair)
	c.Retention = orDefault(c.Retention, DefaultRetention)
	c.MaxMessageBytes = orDefault(c.MaxMessageBytes, DefaultMaxMessageBytes)
	c.MaxBodyBytes = orDefault(c.MaxBodyBytes, DefaultMaxBodyBytes)
	c.MaxRecipients = orDefault(c.MaxRecipients, DefaultMaxRecipients)
	c.DedupWindow = orDefault(c.DedupWindow, DefaultDedupWindow)
	c.PingInterval = orDefault(c.PingInterval, DefaultPingInterval)
	c.DeadPings = orDefault(c.DeadPings, DefaultDeadPings)
	c.AckTimeoutMin = orDefault(c.AckTimeoutMin, DefaultAckTimeoutMin)
	c.AckTimeoutMax = orDefault(c.AckTimeoutMax, DefaultAckTimeoutMax)
	c.MaxAckDelay = orDefault(c.MaxAckDelay, DefaultMaxAckDelay)
	c.MaxAttempts = orDefault(c.MaxAttempts, DefaultMaxAttempts)
	c.SampleMaxAge = orDefault(c.SampleMaxAge, DefaultSampleMaxAge)
	c.MaxPingPad = orDefault(c.MaxPingPad, DefaultMaxPingPad)
	c.MaxHeldPerRecipient = orDefault(c.MaxHeldPerRecipient, DefaultMaxHeldPerRecipient)
	c.MaxHeldPerSender = orDefault(c.MaxHeldPerSender, DefaultMaxHeldPerSender)
	c.MaxHeldTotal = orDefault(c.MaxHeldTotal, DefaultMaxHeldTotal)
	c.MaxUnackedReceipts = orDefault(c.MaxUnackedReceipts, DefaultMaxUnackedReceipts)
	c.MaxDedupPerSender = orDefault(c.MaxDedupPerSender, DefaultMaxDedupPerSender)
	c.MaxUnauthStreams = orDefault(c.MaxUnauthStreams, DefaultMaxUnauthStreams)
	c.MaxUnauthPerAddr = orDefault(c.MaxUnauthPerAddr, DefaultMaxUnauthPerAddr)
	c.MaxOutboxBytes = orDefault(c.MaxOutboxBytes, DefaultMaxOutboxBytes)
	c.InitialBandwidth = orDefault(c.InitialBandwidth, DefaultInitialBandwidth)
	if c.AckTimeoutMax < c.AckTimeoutMin {
		c.AckTimeoutMax = c.AckTimeoutMin
	}
	if c.MaxPingPad > c.MaxMessageBytes {
		c.MaxPingPad = c.MaxMessageBytes
	}
	if c.Observer == nil {
		c.Observer = NopObserver{}
	}
	return c
}

// Limits is what the session event announces.
func (c Config) Limits() protocol.Limits {
	c = c.withDefaults()
	return protocol.Limits{
		MaxMessageBytes:   c.MaxMessageBytes,
		MaxBodyBytes:      c.MaxBodyBytes,
		MaxPendingPerPair: c.MaxPendingPerPair,
		MaxRecipients:     c.MaxRecipients,
		RetentionMS:       c.Retention.Milliseconds(),
		AuthTimeoutMS:     c.AuthTimeout.Milliseconds(),
		RegisterTimeoutMS: c.RegisterTimeout.Milliseconds(),
		PingIntervalMS:    c.PingInterval.Milliseconds(),
	}
}
