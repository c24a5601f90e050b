package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/protocol"
)

const (
	// chatLinger is how long chat waits, at the end of its input, for the
	// receipts of the lines it sent.
	chatLinger = 10 * time.Second
	// maxChatLine bounds one line of input; the relay's max_message_bytes
	// (64 KiB by default) bounds what is sent.
	maxChatLine = 4 << 20
)

const chatLong = `Chat with one key: each line typed on standard input is sent to KEY as
one message, and what KEY sends is printed as it comes, on stdout:

  < text                 a message from KEY
  > text ✓               your line: the relay accepted it
    ✓✓ delivered         its receipt: KEY's client got it
    ✗ expired            or undeliverable: it was not delivered
  > text ✗ rejected by relay: CODE (why)
                         not sent: recipient_unknown (nobody holds KEY now),
                         recipient_offline (KEY is reconnecting), …
  [OTHER] text           a message from another key, OTHER
  < file NAME (N bytes): PATH
                         a file sent with keypost send --file, stored in a
                         new directory under $TMPDIR (names made safe as
                         keypost listen does)

When several lines are awaiting their receipts, a receipt line names its
line: ✓✓ delivered (text). Received text is printed with control
characters escaped (\x1b), so a sender cannot play tricks on the terminal;
a message of several lines is printed with the following ones indented.
Empty lines are not sent.

chat reconnects by itself after a drop (a relay restart, a network
failure): stderr shows (reconnecting…) and then (connected); lines typed
meanwhile are sent once it is back. The relay gives a key to one session
at a time, the newest: a keypost send, listen or chat started later with
the same key file takes it, and this chat stops with key_conflict.

At the end of standard input (Ctrl-D, or the end of a pipe), chat waits up
to 10 s for the receipts of the lines it sent, then exits.

Exit status:
  0  end of standard input, or stopped by SIGINT or SIGTERM
  1  runtime failure: unreadable key file, the relay closed the session for
     good (key_conflict: another session took the key; the reason is
     printed), standard input unreadable
  2  usage error`

type chatFlags struct {
	relayFlags
}

func newChatCmd() *cobra.Command {
	f := &chatFlags{}
	cmd := &cobra.Command{
		Use:   "chat KEY",
		Short: "Chat with a key: send lines of stdin, print what it sends",
		Long:  chatLong,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("chat takes one KEY (the address to chat with), not %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, args[0])
		},
	}
	f.relayFlags.add(cmd.Flags())
	return cmd
}

// runChat runs the chat command with args, reading lines from stdin.
func runChat(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := newChatCmd()
	cmd.SetIn(stdin)
	return run(ctx, cmd, args, stdout, stderr)
}

// chatOut prints whole lines from any goroutine.
type chatOut struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *chatOut) line(format string, a ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, format+"\n", a...)
}

// lazyDir is a directory under $TMPDIR made when first needed.
type lazyDir struct {
	mu  sync.Mutex
	dir string
}

func (d *lazyDir) get() (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dir == "" {
		dir, err := os.MkdirTemp("", "keypost-chat-")
		if err != nil {
			return "", err
		}
		d.dir = dir
	}
	return d.dir, nil
}

func (f *chatFlags) run(cmd *cobra.Command, peerArg string) error {
	ctx, stdin, stdout, stderr := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	priv, err := f.load(cmd.Flags())
	if err != nil {
		return err
	}
	peer, err := parseKeyArg("KEY", peerArg)
	if err != nil {
		return err
	}
	me := publicKey(priv)
	out := &chatOut{w: stdout}
	from := func(k protocol.Key) string {
		if k == peer {
			return "<"
		}
		return "[" + k.String() + "]"
	}
	files := &lazyDir{}
	everReady, down := false, false // touched by OnState only, which runs on one goroutine
	opts := client.Options{
		SessionHMAC: f.hmac,
		OnState: func(s client.State) {
			switch s.Phase {
			case client.Ready:
				if !everReady {
					fmt.Fprintf(stderr, "(connected as %s; chatting with %s; end with Ctrl-D)\n", me, peer)
				} else if down {
					fmt.Fprintln(stderr, "(connected)")
				}
				everReady, down = true, false
			case client.Reconnecting:
				if !down {
					if everReady {
						fmt.Fprintln(stderr, "(reconnecting…)")
					} else {
						fmt.Fprintf(stderr, "(waiting for the relay at %s: %v)\n", f.server, tidy(s.Err))
					}
				}
				down = true
			}
		},
		OnMessage: func(m client.Message) {
			out.line("%s %s", from(m.From), printable(m.Data, "  "))
		},
		OnTransfer: func(t *client.Transfer, err error) {
			if err == nil {
				var dir string
				if dir, err = files.get(); err == nil {
					var path string
					if path, _, err = store(dir, t); err == nil {
						out.line("%s file %s (%d bytes): %s", from(t.From), printable(fmt.Sprintf("%q", t.Name), ""), t.Size, path)
						return
					}
				}
			}
			out.line("%s file %s failed: %v", from(t.From), printable(fmt.Sprintf("%q", t.Name), ""), tidy(err))
		},
	}
	c, err := client.Connect(ctx, f.server, priv, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("cannot connect to %s: %w", f.server, stoppedError(err))
	}
	defer c.Close()

	// Lines are read aside, so that a blocked read does not hold up the
	// end (SIGINT, a final closing).
	lines := make(chan string)
	readErr := make(chan error, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 0, 64<<10), maxChatLine)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-quit:
				return
			}
		}
		readErr <- sc.Err()
		close(lines)
	}()

	s := &chatSender{c: c, peer: peer, out: out}
	s.waitCtx, s.cancelWaits = context.WithCancel(context.Background())
	defer s.stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Done():
			return stoppedError(c.Err())
		case line, ok := <-lines:
			if !ok {
				if err := <-readErr; err != nil {
					return fmt.Errorf("reading standard input: %w", err)
				}
				return s.linger(ctx)
			}
			s.send(ctx, line)
		}
	}
}

// chatSender sends the lines of a chat and reports their receipts.
type chatSender struct {
	c    *client.Client
	peer protocol.Key
	out  *chatOut

	waitCtx     context.Context // ends the receipt waits
	cancelWaits context.CancelFunc
	wg          sync.WaitGroup // receipt waits

	mu     sync.Mutex
	latest int // number of the last line sent
}

// send sends one line and starts waiting for its receipt. It returns
// once the relay accepted or refused the line.
func (s *chatSender) send(ctx context.Context, line string) {
	line = strings.TrimSuffix(line, "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	text := printable(line, "  ")
	if !utf8.ValidString(line) {
		s.out.line("> %s ✗ not sent: not valid UTF-8", text)
		return
	}
	sent, err := s.c.Send(ctx, s.peer, line)
	if err != nil {
		if ctx.Err() != nil || s.c.Err() != nil {
			return // the chat is ending: the main loop says why
		}
		if se, ok := errors.AsType[*client.SendError](err); ok {
			s.out.line("> %s ✗ rejected by relay: %s (%s)", text, se.Code, rejectionHint(se.Code, s.peer))
		} else {
			s.out.line("> %s ✗ not sent: %v", text, tidy(err))
		}
		return
	}
	s.out.line("> %s ✓", text)
	s.mu.Lock()
	s.latest++
	n := s.latest
	s.mu.Unlock()
	s.wg.Go(func() {
		status, err := sent.Wait(s.waitCtx)
		if err != nil {
			return // the chat ended first
		}
		s.mu.Lock()
		which := ""
		if s.latest != n {
			which = " (" + excerpt(text) + ")"
		}
		s.mu.Unlock()
		switch status {
		case protocol.StatusDelivered:
			s.out.line("  ✓✓ delivered%s", which)
		case protocol.StatusExpired:
			s.out.line("  ✗ expired%s: %s stayed offline longer than the relay's retention", which, s.peer)
		default:
			s.out.line("  ✗ %s%s", status, which)
		}
	})
}

// linger waits, at the end of the input, for the receipts of the lines
// sent, for chatLinger at most.
func (s *chatSender) linger(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(chatLinger)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	case <-ctx.Done():
	case <-s.c.Done():
		return stoppedError(s.c.Err())
	}
	return nil
}

// stop ends the receipt waits.
func (s *chatSender) stop() {
	s.cancelWaits()
	s.wg.Wait()
}

// excerpt shortens a line to name it in a receipt line.
func excerpt(s string) string {
	s = strings.SplitN(s, "\n", 2)[0]
	if utf8.RuneCountInString(s) <= 24 {
		return s
	}
	return string([]rune(s)[:23]) + "…"
}
