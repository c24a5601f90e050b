package httpapi_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// newTimedServer serves a relay with the production http.Server settings,
// read timeouts shortened.
func newTimedServer(t *testing.T, cfg relay.Config) (string, *relay.Relay) {
	r := relay.New(cfg)
	srv := httpapi.NewHTTPServer(httpapi.New(r, httpapi.Config{}))
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	srv.ReadTimeout = 300 * time.Millisecond
	ts := httptest.NewUnstartedServer(srv.Handler)
	ts.Config = srv
	ts.Start()
	t.Cleanup(func() {
		r.Close()
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts.Listener.Addr().String(), r
}

// A client that sends its headers slowly is cut off (slowloris).
func TestSlowHeadersAreCut(t *testing.T) {
	addr, _ := newTimedServer(t, relay.Config{})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /v1/events HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang guard only
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("the server did not close a connection with unfinished headers: %v", err)
	}
}

// A client that sends its body slowly is cut off and gets no 200.
func TestSlowBodyIsCut(t *testing.T) {
	addr, _ := newTimedServer(t, relay.Config{})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "POST " + protocol.PathSend + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mess"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("the server did not close a connection with an unfinished body: %v", err)
	}
	if strings.HasPrefix(string(out), "HTTP/1.1 200") {
		t.Fatalf("a partial body was accepted: %q", out)
	}
}

// The read timeout bounds request bodies, not streams: a stream outlives
// it and keeps receiving events.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	addr, _ := newTimedServer(t, relay.Config{SessionResend: 400 * time.Millisecond, AuthTimeout: 5 * time.Second})
	resp, err := http.Get("http://" + addr + protocol.PathEvents)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	sessions := 0
	deadline := time.Now().Add(10 * time.Second)
	for sessions < 4 && time.Now().Before(deadline) { // 4 events: 1.2 s, four read timeouts
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended after %d session events: %v", sessions, err)
		}
		if line == "event: session\n" {
			sessions++
		}
	}
	if sessions < 4 {
		t.Fatalf("%d session events", sessions)
	}
}
