package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keypost/keypost/httpapi"
	"github.com/keypost/keypost/relay"
)

// Where the relay under test runs.
const (
	ServerInProcess = "inproc" // in this process, without metrics
	ServerChild     = "child"  // a child `keypost serve`, so the OS can measure its memory
	ServerURL       = "url"    // given by --url
)

// unlimited replaces the relay's per-address stream caps and per-key rate
// for a benchmark, where every session comes from one address and a few
// keys send as fast as they can.
const unlimited = 1 << 30

// target is the relay under test.
type target struct {
	url   string
	kind  string
	pid   int // the relay's process, for its memory; 0 if unknown
	close func()
}

// startInProcess serves a relay on 127.0.0.1 in this process. Its
// goroutines carry the pprof label side=relay (the generator's
// side=generator), so a CPU profile of the whole process can be split.
func startInProcess(h2c bool) (*target, error) {
	r := relay.New(relay.Config{MaxUnauthPerAddr: unlimited, MaxUnauthStreams: unlimited})
	api := httpapi.New(r, httpapi.Config{
		MaxStreams: unlimited, MaxStreamsPerAddr: unlimited,
		KeyRate: unlimited, KeyBurst: unlimited,
	})
	srv := httpapi.NewHTTPServer(api)
	srv.ErrorLog = nil
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	if h2c {
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go pprof.Do(context.Background(), pprof.Labels("side", "relay"), func(context.Context) {
		defer close(done)
		_ = srv.Serve(ln)
	})
	return &target{
		url:  "http://" + ln.Addr().String(),
		kind: ServerInProcess,
		pid:  os.Getpid(),
		close: func() {
			r.Close()
			_ = srv.Close()
			<-done
		},
	}, nil
}

var listening = regexp.MustCompile(`keypost listening on (https?://\S+)`)

// startChild runs cmd (the keypost binary and "serve") with the limits of
// a benchmark on 127.0.0.1 and a free port, and waits until it listens.
func startChild(cmd []string, h2c bool) (*target, error) {
	if len(cmd) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd = []string{exe, "serve"}
	}
	n := strconv.Itoa(unlimited)
	args := append(cmd[1:len(cmd):len(cmd)], "--addr", "127.0.0.1:0", "--log-level", "error",
		"--max-streams", n, "--max-streams-per-addr", n, "--key-rate", n, "--key-burst", n,
		"--max-unauth-per-addr", n, "--max-unauth-streams", n)
	if h2c {
		args = append(args, "--h2c")
	}
	c := exec.Command(cmd[0], args...)
	c.Env = append(os.Environ(), "KEYPOST_CONFIG=")
	stderr, err := c.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	found := make(chan string, 1)
	var tail []string
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
				continue
			}
			if len(tail) < 20 {
				tail = append(tail, line)
			}
		}
		_ = c.Wait()
		close(exited)
	}()
	stop := func() {
		_ = c.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = c.Process.Kill()
			<-exited
		}
	}
	select {
	case u := <-found:
		return &target{url: u, kind: ServerChild, pid: c.Process.Pid, close: stop}, nil
	case <-exited:
		return nil, fmt.Errorf("the relay (%s) exited before listening: %s", strings.Join(cmd, " "), strings.Join(tail, "\n"))
	case <-time.After(30 * time.Second):
		stop()
		return nil, errors.New("the relay did not listen within 30 s")
	}
}

// processCPU is the CPU time this process used so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssKB is the resident set size of process pid as the OS counts it
// (VmRSS of /proc/PID/status), in KiB.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}
