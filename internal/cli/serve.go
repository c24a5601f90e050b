package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/metrics"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/web"
)

// Defaults of the serve command that are not in relay or httpapi.
const (
	defaultAddr            = "127.0.0.1:8080" // local only until the operator decides otherwise
	defaultShutdownTimeout = 10 * time.Second
	defaultDrainDelay      = 0 // closing the streams at once suits a single node; behind a load balancer, give it a few seconds
)

// serveOptions is the serve command's configuration, filled from flags,
// the environment, the config file and defaults.
type serveOptions struct {
	addr            addrValue
	tlsCert         string
	tlsKey          string
	h2c             bool
	logLevel        string
	logFormat       string
	origins         originsValue
	drainDelay      time.Duration
	shutdownTimeout time.Duration
	http            httpapi.Config // limits and timers; the rest is set by serve
	relay           relay.Config

	config      string // --config: the config file, if any
	printConfig bool   // --print-config: print the effective configuration instead of serving

	// beforeClose, when set (by tests), runs once the server is draining,
	// just before the relay closes its streams.
	beforeClose func()
}

const serveLong = `Run the relay: the keypost protocol over HTTP on --addr, with
server-sent events on GET /v1/events and signed POSTs, GET /healthz
(alive), GET /readyz (accepting new streams), GET /metrics (Prometheus),
and the demo page with the browser SDK at / and /keypost.js.

With --tls-cert and --tls-key it serves HTTPS, and HTTP/2 to clients that
offer it; the certificate is reloaded when its files change and on SIGHUP.
Behind a proxy that terminates TLS, --h2c adds HTTP/2 without TLS.

Once listening it prints "keypost listening on http://HOST:PORT" (https://
with TLS) to stderr with the address actually bound, so --addr 127.0.0.1:0
picks a free port and scripts can read which one. Logs go to stderr too.

Settings come from four places. In order of precedence:
  1. a flag on the command line;
  2. its environment variable: KEYPOST_ and the flag's name in upper case
     with dashes as underscores, for example KEYPOST_ADDR=:8080 or
     KEYPOST_MAX_HELD_TOTAL=2147483648 (an empty variable counts as unset);
  3. the config file named by --config (or KEYPOST_CONFIG): YAML whose keys
     are the flags' names without the dashes, values written as on the
     command line, for example "retention: 90s" or "cors-origins:
     [https://a.example, https://b.example]";
  4. the default shown below.
--print-config prints the effective configuration, with the source of each
value, in the config file's format, and exits. An invalid value, from any
source, or an unknown key in the config file stops serve before it starts,
with a message naming the setting (exit status 2).

Durations are written like 500ms, 90s or 1h30m; sizes are in bytes. Every
limit and timer must be positive (--drain-delay may be 0s).

On SIGINT or SIGTERM the relay drains: /readyz answers 503 at once (for
--drain-delay, while everything else goes on), then every stream is closed
with closing {"code":"shutdown"} so its client reconnects elsewhere, new
streams are refused, requests in flight get up to --shutdown-timeout to
finish, and serve exits 0. A second signal stops it at once.`

// metaFlags are serve's flags that are not settings: they are not read
// from the environment (but for KEYPOST_CONFIG) or the config file.
var metaFlags = []string{"config", "print-config"}

// newServeCmd returns the serve command; action is what it does once its
// options are complete and checked (serve, or a test's probe).
func newServeCmd(action func(ctx context.Context, o *serveOptions, stderr io.Writer) error) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run the relay",
		Long:  serveLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			if !fs.Changed("config") {
				o.config = os.Getenv(configEnv)
			}
			var file map[string]fileSetting
			if o.config != "" {
				var err error
				isSetting := func(name string) bool {
					return fs.Lookup(name) != nil && name != "help" && !contains(metaFlags, name)
				}
				if file, err = readConfigFile(o.config, isSetting); err != nil {
					return err
				}
			}
			sources, err := applySources(fs, o.config, file, metaFlags...)
			if err != nil {
				return err
			}
			if err := o.check(); err != nil {
				return err
			}
			if o.printConfig {
				return printConfig(cmd.OutOrStdout(), fs, sources)
			}
			return action(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false // the order of the code: the settings table by topic, then the meta flags
	for _, s := range settings {
		v := s.bind(o)
		fs.Var(v, s.name, s.usage)
		if b, ok := v.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			fs.Lookup(s.name).NoOptDefVal = "true" // --h2c alone means --h2c=true
		}
	}
	fs.StringVar(&o.config, "config", "", "read settings from this YAML file (also KEYPOST_CONFIG); flags and KEYPOST_* variables override it")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the effective configuration (as a config file, with each value's source) and exit")
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
	switch {
	case o.tlsCert != "" && o.tlsKey == "":
		return usagef("--tls-cert needs --tls-key")
	case o.tlsKey != "" && o.tlsCert == "":
		return usagef("--tls-key needs --tls-cert")
	case o.h2c && o.tlsCert != "":
		return usagef("--h2c is HTTP/2 without TLS; with --tls-cert, HTTP/2 is served over TLS already")
	}
	return nil
}

// serve runs the relay on o.addr until ctx is cancelled, then drains:
// /readyz answers 503 (for o.drainDelay), the relay closes every stream
// with closing {"code":"shutdown"} so that its handler returns, and the HTTP
// server waits for the remaining requests for at most o.shutdownTimeout.
func serve(ctx context.Context, o *serveOptions, stderr io.Writer) error {
	log := newLogger(stderr, o.logLevel, o.logFormat)
	var certs *certReloader
	if o.tlsCert != "" {
		var err error
		if certs, err = newCertReloader(o.tlsCert, o.tlsKey, log); err != nil {
			return err
		}
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", string(o.addr))
	if err != nil {
		return err // "listen tcp 127.0.0.1:8080: bind: address already in use"
	}
	m := metrics.New(version())
	rc := o.relay
	rc.Observer = m
	r := relay.New(rc)
	m.WatchRelay(r)
	hc := o.http
	hc.AllowedOrigins = o.origins
	hc.Logger = log
	hc.Observer = m
	api := httpapi.New(r, hc)
	m.WatchReady(api.Ready)
	api.Handle("/metrics", m.Handler())
	web.Mount(api) // the demo page and the browser SDK, at / and /keypost.js
	// Requests get a context of their own, not ctx: if a signal cancelled
	// them, SSE handlers would return before the relay could send them
	// closing {"code":"shutdown"}.
	srv := httpapi.NewHTTPServer(api)
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	scheme := "http"
	if certs != nil {
		scheme = "https"
		srv.Protocols.SetHTTP2(true)
		srv.TLSConfig = certs.tlsConfig()
		stop := notifyHUP(certs)
		defer stop()
	}
	if o.h2c {
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	addr := ln.Addr().String()
	log.Info("listening", "addr", addr, "tls", certs != nil, "h2c", o.h2c, "version", version())
	fmt.Fprintf(stderr, "keypost listening on %s://%s\n", scheme, addr)

	served := make(chan error, 1)
	go func() {
		if certs != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-served: // the listener failed; nothing to drain gracefully
		r.Close()
		srv.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("draining", "delay", o.drainDelay)
	api.Drain()
	if o.drainDelay > 0 {
		time.Sleep(o.drainDelay) // a second signal ends the process (cmd/keypost)
	}
	if o.beforeClose != nil {
		o.beforeClose()
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

// notifyHUP reloads the TLS certificate on every SIGHUP until stop is
// called.
func notifyHUP(certs *certReloader) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-hup:
				certs.Reload("SIGHUP")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-exited
	}
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
