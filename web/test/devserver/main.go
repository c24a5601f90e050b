// Command devserver runs a relay with the web page mounted, for the web
// tests and for development: the same wiring as `keypost serve`, without
// the CLI. It prints "keypost listening on http://ADDR" to stderr once it
// listens, and shuts down (closing every stream with `shutdown`) on SIGINT
// or SIGTERM.
//
//	go run ./web/test/devserver --addr 127.0.0.1:8080
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/web"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devserver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on; port 0 picks a free port")
	verbose := flag.Bool("v", false, "log every stream and request at debug level")
	keyRate := flag.Int("key-rate", 0, "signed requests per second per key (0: the default)")
	keyBurst := flag.Int("key-burst", 0, "burst of signed requests per key (0: the default)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	r := relay.New(relay.Config{})
	api := httpapi.New(r, httpapi.Config{Logger: log, KeyRate: *keyRate, KeyBurst: *keyBurst})
	web.Mount(api)
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}

	fmt.Fprintf(os.Stderr, "keypost listening on http://%s\n", ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		r.Close()
		return err
	case <-ctx.Done():
	}
	r.Close() // every stream gets closing {"code":"shutdown"}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
