package client_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/relay"
	"github.com/keypost/keypost/relaytest"
)

// A two-party hello world: each party is a key; the public key is the
// address.
func Example() {
	url, stop := exampleRelay()
	defer stop()
	ctx := context.Background()

	_, alicePriv, _ := ed25519.GenerateKey(nil)
	_, bobPriv, _ := ed25519.GenerateKey(nil)
	alice, _ := client.Connect(ctx, url, alicePriv, client.Options{})
	defer alice.Close()
	bob, _ := client.Connect(ctx, url, bobPriv, client.Options{})
	defer bob.Close()

	alice.Send(ctx, bob.Key(), "hello, bob")
	m := <-bob.Messages()
	fmt.Println(m.Data, "from alice:", m.From == alice.Key())
	// Output: hello, bob from alice: true
}

// A request and its response: the server answers each message to the key
// that sent it, and the caller waits for the receipt of its request.
func Example_requestResponse() {
	url, stop := exampleRelay()
	defer stop()
	ctx := context.Background()

	_, serverPriv, _ := ed25519.GenerateKey(nil)
	_, callerPriv, _ := ed25519.GenerateKey(nil)
	server, _ := client.Connect(ctx, url, serverPriv, client.Options{})
	defer server.Close()
	caller, _ := client.Connect(ctx, url, callerPriv, client.Options{})
	defer caller.Close()

	go func() { // the server: upper-cases every request
		for req := range server.Messages() {
			server.Send(ctx, req.From, strings.ToUpper(req.Data))
		}
	}()

	sent, err := caller.Send(ctx, server.Key(), "ping")
	if err != nil {
		fmt.Println(err)
		return
	}
	reply := <-caller.Messages()
	status, _ := sent.Wait(ctx)
	fmt.Println("request", status+";", "reply:", reply.Data)
	// Output: request delivered; reply: PING
}

// A file transfer: SendStream cuts the data into chunks that fit the
// relay's message size; the receiver gets the whole, checked, in a
// temporary file (os.Rename it to keep it).
func Example_fileTransfer() {
	url, stop := exampleRelay()
	defer stop()
	ctx := context.Background()

	got := make(chan string, 1)
	_, recvPriv, _ := ed25519.GenerateKey(nil)
	receiver, _ := client.Connect(ctx, url, recvPriv, client.Options{
		OnTransfer: func(t *client.Transfer, err error) {
			if err != nil {
				got <- err.Error()
				return
			}
			b, _ := os.ReadFile(t.Path)
			got <- fmt.Sprintf("%s: %d bytes", t.Name, len(b))
		},
	})
	defer receiver.Close()
	_, sendPriv, _ := ed25519.GenerateKey(nil)
	sender, _ := client.Connect(ctx, url, sendPriv, client.Options{})
	defer sender.Close()

	data := bytes.Repeat([]byte("keypost "), 50000) // 400 kB: several chunks
	err := sender.SendStream(ctx, receiver.Key(), "notes.txt", bytes.NewReader(data), int64(len(data)), nil)
	fmt.Println("sent:", err == nil)
	fmt.Println("received", <-got)
	// Output:
	// sent: true
	// received notes.txt: 400000 bytes
}

// exampleRelay starts a relay on 127.0.0.1 for an example. Examples get no
// *testing.T, so relaytest's harness is given a minimal testing.TB whose
// cleanups run at stop.
func exampleRelay() (url string, stop func()) {
	tb := &exampleTB{}
	return relaytest.NewServer(tb, relay.Config{}).URL, tb.cleanup
}

type exampleTB struct {
	testing.TB // nil: only Helper and Cleanup are called
	cleanups   []func()
}

func (tb *exampleTB) Helper()          {}
func (tb *exampleTB) Cleanup(f func()) { tb.cleanups = append(tb.cleanups, f) }

func (tb *exampleTB) cleanup() {
	for i := len(tb.cleanups) - 1; i >= 0; i-- {
		tb.cleanups[i]()
	}
}
