// Command gopeer is a keypost peer in Go, for the web tests: it talks to
// browsers through the Go SDK (package client).
//
// It connects to --url with a new key and prints "key <KEY>" on stdout
// once its session is ready. Then:
//   - every message it receives is printed as `got <from> <id> <data as a
//     JSON string>` and echoed back to its sender as "echo: <data>";
//   - a stdin line `send <to> <text>` sends text, then prints
//     `sent <id> <final status>` (delivered, expired, …) or `error <why>`.
//
// It exits when stdin closes, on SIGINT or SIGTERM, or after --timeout.
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/protocol"
)

func main() {
	url := flag.String("url", "", "relay URL, e.g. http://127.0.0.1:8080")
	timeout := flag.Duration("timeout", 2*time.Minute, "exit after this long whatever happens")
	flag.Parse()
	if err := run(*url, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "gopeer:", err)
		os.Exit(1)
	}
}

func run(url string, timeout time.Duration) error {
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		return fmt.Errorf("--url must be http://127.0.0.1:PORT, not %q", url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
	c, err := client.Connect(cctx, url, priv, client.Options{})
	ccancel()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()

	var mu sync.Mutex // one line at a time on stdout
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", args...)
	}
	say("key %s", c.Key())

	// send sends and reports the message's final status.
	send := func(to protocol.Key, data string) {
		s, err := c.Send(ctx, to, data)
		if err != nil {
			say("error send: %v", err)
			return
		}
		status, err := s.Wait(ctx)
		if err != nil {
			say("error wait: %v", err)
			return
		}
		say("sent %s %s", s.ID, status)
	}

	go func() {
		for m := range c.Messages() {
			q, _ := json.Marshal(m.Data)
			say("got %s %s %s", m.From, m.ID, q)
			go send(m.From, "echo: "+m.Data)
		}
	}()

	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Done():
			return fmt.Errorf("client stopped: %w", c.Err())
		case line, ok := <-lines:
			if !ok {
				return nil // stdin closed: the test is done with us
			}
			cmd, rest, _ := strings.Cut(line, " ")
			if cmd != "send" {
				say("error unknown command %q", cmd)
				continue
			}
			toStr, text, _ := strings.Cut(rest, " ")
			to, err := protocol.ParseKey(toStr)
			if err != nil {
				say("error key: %v", err)
				continue
			}
			go send(to, text)
		}
	}
}
