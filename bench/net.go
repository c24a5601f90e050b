package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/keypost/keypost/internal/sse"
	"github.com/keypost/keypost/protocol"
)

// ErrNotLoopback refuses a target outside the loopback network: load is
// only ever sent to this machine unless the caller explicitly allows more.
var ErrNotLoopback = errors.New("not a loopback address (127.0.0.0/8 or ::1)")

// CheckURL parses the relay's base URL and, unless allowRemote, refuses any
// host that is not a loopback IP literal or "localhost". Host names are not
// resolved: a name could point anywhere.
func CheckURL(raw string, allowRemote bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("--url %q: only http:// is supported (loopback needs no TLS)", raw)
	}
	if u.Port() == "" {
		return nil, fmt.Errorf("--url %q: give the port", raw)
	}
	if allowRemote {
		return u, nil
	}
	host := u.Hostname()
	if host == "localhost" {
		return u, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return nil, fmt.Errorf("--url %q: %w", raw, ErrNotLoopback)
	}
	return u, nil
}

// raiseFileLimit raises RLIMIT_NOFILE towards want (the soft limit up to
// the hard one; the hard one too when the process may) and returns the
// soft limit in force.
func raiseFileLimit(want uint64) uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur >= want {
		return lim.Cur
	}
	if lim.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			return want
		}
	}
	lim.Cur = min(want, lim.Max)
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// netClient reaches one relay: raw HTTP/1.1 streams and a pool of
// keep-alive connections for POSTs, or (h2c) net/http over HTTP/2 without
// TLS, where many streams share one connection.
type netClient struct {
	host string // Host header and dial address, host:port
	base string // http://host:port
	srcs []net.IP
	next atomic.Uint32
	h2   *http.Client // h2c only
	pool chan *postConn
}

func newNetClient(u *url.URL, sourceAddrs int, h2c bool) *netClient {
	c := &netClient{host: u.Host, base: "http://" + u.Host, pool: make(chan *postConn, 4096)}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && ip.Is4() && ip.IsLoopback() && sourceAddrs > 1 {
		// Each source address has its own ephemeral port range, so many
		// loopback sources pass the ~28k ports of one.
		for i := range sourceAddrs {
			c.srcs = append(c.srcs, net.IPv4(127, 0, byte(1+(i/250)), byte(1+i%250)))
		}
	}
	if h2c {
		p := new(http.Protocols)
		p.SetUnencryptedHTTP2(true)
		c.h2 = &http.Client{Transport: &http.Transport{
			Protocols:           p,
			DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return c.dial(ctx) },
			MaxIdleConnsPerHost: 1024,
			DisableCompression:  true,
			HTTP2:               &http.HTTP2Config{MaxReceiveBufferPerStream: 64 << 10},
		}}
	}
	return c
}

func (c *netClient) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if len(c.srcs) > 0 {
		d.LocalAddr = &net.TCPAddr{IP: c.srcs[int(c.next.Add(1))%len(c.srcs)]}
	}
	return d.DialContext(ctx, "tcp", c.host)
}

func (c *netClient) close() {
	for {
		select {
		case pc := <-c.pool:
			pc.conn.Close()
		default:
			if c.h2 != nil {
				c.h2.CloseIdleConnections()
			}
			return
		}
	}
}

// stream is one open event stream.
type stream struct {
	dec    *sse.Decoder
	closer io.Closer
}

func (s *stream) close() { s.closer.Close() }

// openStream opens GET /v1/events. A refusal is returned as an *httpError.
func (c *netClient) openStream(ctx context.Context) (*stream, error) {
	if c.h2 != nil {
		// The stream outlives ctx (which bounds only the opening): its
		// own context ends when it is closed.
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		req, err := http.NewRequestWithContext(sctx, http.MethodGet, c.base+protocol.PathEvents, nil)
		if err != nil {
			cancel()
			return nil, err
		}
		resp, err := c.h2.Do(req)
		if err != nil {
			cancel()
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			return nil, &httpError{resp.StatusCode, b}
		}
		return &stream{dec: sse.NewDecoder(resp.Body), closer: cancelCloser{cancel, resp.Body}}, nil
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if _, err := io.WriteString(conn, "GET "+protocol.PathEvents+" HTTP/1.1\r\nHost: "+c.host+"\r\nAccept: text/event-stream\r\n\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 512)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		conn.Close()
		return nil, &httpError{resp.StatusCode, b}
	}
	// resp.Body undoes the chunked encoding and returns each chunk as it
	// arrives.
	return &stream{dec: sse.NewDecoder(resp.Body), closer: conn}, nil
}

// cancelCloser closes a body and cancels its request.
type cancelCloser struct {
	cancel context.CancelFunc
	body   io.Closer
}

func (c cancelCloser) Close() error {
	c.cancel()
	return c.body.Close()
}

// httpError is a non-200 answer.
type httpError struct {
	status int
	body   []byte
}

func (e *httpError) Error() string {
	return fmt.Sprintf("HTTP %d: %.200s", e.status, e.body)
}

// postConn is one keep-alive HTTP/1.1 connection for POSTs, used by one
// goroutine at a time.
type postConn struct {
	conn net.Conn
	br   *bufio.Reader
	wbuf []byte
	used bool // has answered a request: a failure may be a stale keep-alive
}

// signer is what a POST is signed with.
type signer struct {
	priv    ed25519.PrivateKey
	key     protocol.Key
	secret  *[protocol.SessionSecretSize]byte // non-nil: hmac-sha256 (the session profile)
	session string
	nonce   *atomic.Uint64
}

// post signs body for path and sends it; it returns the status and the
// answer's body.
func (c *netClient) post(ctx context.Context, sg signer, path string, body []byte) (int, []byte, error) {
	h := make(http.Header, 6)
	h.Set("Content-Type", "application/json")
	var err error
	if sg.secret != nil && path != protocol.PathAuth {
		err = protocol.SignRequestHMAC(h, sg.key, sg.secret, http.MethodPost, path, sg.session, body, sg.nonce.Add(1), time.Now())
	} else {
		err = protocol.SignRequest(h, sg.priv, http.MethodPost, path, sg.session, body, sg.nonce.Add(1), time.Now())
	}
	if err != nil {
		return 0, nil, err
	}
	return c.postHeaders(ctx, path, h, body)
}

// postHeaders sends a POST with these headers (Content-Length aside).
func (c *netClient) postHeaders(ctx context.Context, path string, h http.Header, body []byte) (int, []byte, error) {
	if c.h2 != nil {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header = h
		req.ContentLength = int64(len(body))
		resp, err := c.h2.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	for attempt := 0; ; attempt++ {
		pc, err := c.getConn(ctx)
		if err != nil {
			return 0, nil, err
		}
		status, b, reuse, err := pc.roundTrip(c.host, path, h, body)
		if err == nil {
			if reuse {
				pc.used = true
				c.putConn(pc)
			} else {
				pc.conn.Close()
			}
			return status, b, nil
		}
		pc.conn.Close()
		// A keep-alive connection the server closed fails before any
		// answer: send again on a new one (same bytes, same nonce; the
		// server never read them).
		if !pc.used || attempt > 0 || !errors.Is(err, errNoAnswer) {
			return 0, nil, err
		}
	}
}

var errNoAnswer = errors.New("connection closed before an answer")

func (c *netClient) getConn(ctx context.Context) (*postConn, error) {
	select {
	case pc := <-c.pool:
		return pc, nil
	default:
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	return &postConn{conn: conn, br: bufio.NewReaderSize(conn, 4096)}, nil
}

func (c *netClient) putConn(pc *postConn) {
	select {
	case c.pool <- pc:
	default:
		pc.conn.Close()
	}
}

// roundTrip writes one request and reads its answer; reuse reports
// whether the connection may carry another request.
func (pc *postConn) roundTrip(host, path string, h http.Header, body []byte) (status int, answer []byte, reuse bool, err error) {
	b := pc.wbuf[:0]
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	for k, vs := range h {
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	if cap(b) <= 64<<10 {
		pc.wbuf = b
	}
	_ = pc.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := pc.conn.Write(b); err != nil {
		return 0, nil, false, fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	if _, err := pc.br.Peek(1); err != nil {
		return 0, nil, false, fmt.Errorf("%w: %v", errNoAnswer, err)
	}
	resp, err := http.ReadResponse(pc.br, nil)
	if err != nil {
		return 0, nil, false, err
	}
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, false, err
	}
	return resp.StatusCode, rb, !resp.Close, nil
}
