package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/relay"
)

// Defaults of the serve command that are not in relay or httpapi.
const (
	defaultAddr            = "127.0.0.1:8080" // local only until the operator decides otherwise
	defaultShutdownTimeout = 10 * time.Second
)

// serveOptions is the serve command's configuration, filled from flags,
// the environment and defaults.
type serveOptions struct {
	addr            addrValue
	logLevel        string
	logFormat       string
	origins         originsValue
	shutdownTimeout time.Duration
	http            httpapi.Config // KeepAlive and WriteTimeout; the rest is set by serve
	relay           relay.Config
}

const serveLong = `Run the relay: the keypost protocol over HTTP on --addr, with
server-sent events on GET /v1/events and signed POSTs, and GET /healthz.

Once listening it prints "keypost listening on http://HOST:PORT" to stderr
with the address actually bound, so --addr 127.0.0.1:0 picks a free port and
scripts can read which one. Logs go to stderr too.

Every flag can also be set by an environment variable: KEYPOST_ and the
flag's name in upper case with dashes as underscores, for example
KEYPOST_ADDR=:8080 or KEYPOST_MAX_HELD_TOTAL=2147483648. A flag on the
command line beats the variable, which beats the default; an empty variable
counts as unset. An invalid value, from either, stops serve before it
starts, with a message naming the setting (exit status 2).

Durations are written like 500ms, 90s or 1h30m; sizes are in bytes. Every
limit and timer must be positive.

On SIGINT or SIGTERM the relay closes every stream with
closing {"code":"shutdown"}, waits up to --shutdown-timeout for requests in
flight, and exits 0.`

// newServeCmd returns the serve command; action is what it does once its
// options are complete and checked (serve, or a test's probe).
func newServeCmd(action func(ctx context.Context, o *serveOptions, stderr io.Writer) error) *cobra.Command {
	o := &serveOptions{addr: defaultAddr, logLevel: "info", logFormat: "text", origins: originsValue{"*"}}
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the relay",
		Long:  serveLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			if err := o.check(); err != nil {
				return err
			}
			return action(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false // the order of the code: general flags, then the settings table by topic
	fs.Var(&o.addr, "addr", "address to listen on; port 0 picks a free port")
	fs.Var(choiceValue{&o.logLevel, []string{"debug", "info", "warn", "error"}, "level"}, "log-level",
		"least severe log level written: debug, info, warn or error")
	fs.Var(choiceValue{&o.logFormat, []string{"text", "json"}, "format"}, "log-format",
		"log line format: text (key=value) or json")
	fs.Var(&o.origins, "cors-origins", "origins browsers may call from, comma-separated (scheme://host[:port]), or * for any")
	for _, s := range settings {
		fs.Var(s.bind(o), s.name, s.usage)
	}
	return cmd
}

// runServe runs the serve command with args until ctx is cancelled.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, newServeCmd(serve), args, stdout, stderr)
}

// check refuses combinations of settings that relay would otherwise quietly
// adjust or that could never work. Each value alone was checked by its flag.
func (o *serveOptions) check() error {
	c := &o.relay
	if c.AckTimeoutMax < c.AckTimeoutMin {
		return usagef("--ack-timeout-max (%v) is less than --ack-timeout-min (%v)", c.AckTimeoutMax, c.AckTimeoutMin)
	}
	if c.MaxPingPad > c.MaxMessageBytes {
		return usagef("--max-ping-pad (%d) is more than --max-message-bytes (%d)", c.MaxPingPad, c.MaxMessageBytes)
	}
	if c.MaxMessageBytes > c.MaxBodyBytes {
		return usagef("--max-message-bytes (%d) is more than --max-body-bytes (%d): such a message could never be sent",
			c.MaxMessageBytes, c.MaxBodyBytes)
	}
	return nil
}

// serve runs the relay on o.addr until ctx is cancelled, then shuts down:
// relay first, so that every stream is told why it ends and its handler
// returns, then the HTTP server, which waits for the remaining requests
// for at most o.shutdownTimeout.
func serve(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	log := newLogger(stderr, o.logLevel, o.logFormat)
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", string(o.addr))
	if err != nil {
		return err // "listen tcp 127.0.0.1:8080: bind: address already in use"
	}
	r := relay.New(o.relay)
	hc := o.http
	hc.AllowedOrigins = o.origins
	hc.Logger = log
	// Requests get a context of their own, not ctx: if a signal cancelled
	// them, SSE handlers would return before the relay could send them
	// closing {"code":"shutdown"}.
	srv := httpapi.NewHTTPServer(httpapi.New(r, hc))
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	addr := ln.Addr().String()
	log.Info("listening", "addr", addr, "version", version())
	fmt.Fprintf(stderr, "keypost listening on http://%s\n", addr)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served: // the listener failed; nothing to drain gracefully
		r.Close()
		srv.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", o.shutdownTimeout)
	r.Close()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-served // Serve returns as soon as Shutdown closes the listener
	if err != nil {
		srv.Close()
		return fmt.Errorf("shutdown: requests still running after %v: %w", o.shutdownTimeout, err)
	}
	log.Info("stopped")
	return nil
}

// newLogger returns the structured logger of serve, writing to w.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // checked by the flag: debug, info, warn or error
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
