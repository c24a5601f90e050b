package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/protocol"
)

const (
	defaultSendTimeout = 2 * time.Minute
	// maxStdinText bounds what send - reads before it knows the relay's
	// max_message_bytes: no relay lets a message exceed its request body
	// limit, 4 MiB by default.
	maxStdinText = 4 << 20
)

const sendLong = `Send a text message or a file to one or more keys.

  keypost send --to KEY [--to KEY…] TEXT       TEXT, one message to each KEY
  keypost send --to KEY -                      standard input, as one text message
  keypost send --to KEY --file PATH            a file of any size, as a transfer

A text message must be valid UTF-8 of at most the relay's max_message_bytes
(64 KiB by default); send anything larger, or binary, with --file. A file
is cut into chunks, sent under the name of its base name, put back
together by the receiver (keypost listen) and checked with SHA-256; on a
terminal a progress bar on stderr shows its rate and time left.

send opens its own session with --key. The relay gives a key to one
session at a time, the newest: a keypost listen or chat running with the
same key file stops when send connects, so send with another key than
the one listening.

By default send waits for each recipient's receipt (its client got the
message); --no-wait stops once the relay accepted each message (not with
--file: a transfer is over only when every chunk was delivered).
--timeout bounds the whole command (0: no limit); with --file it is the
longest wait without progress, so a large file is not cut short.

One line per recipient goes to stdout, in the order of --to:
  delivered to KEY
  delivered NAME (SIZE bytes, sha256 HEX) to KEY          (--file)
  accepted by relay for KEY (not waiting for delivery)     (--no-wait)
  rejected by relay: CODE (why)                            e.g. recipient_unknown, recipient_offline
  not delivered to KEY: why                                expired, undeliverable, no receipt in time
  failed to send to KEY: why                               no answer from the relay in time
With --json, one JSON object per line instead:
  {"to":KEY,"id":ID,"status":"accepted","receipt":"delivered"}
  {"to":KEY,"id":ID,"status":"rejected","code":"recipient_offline","error":…}
  {"to":KEY,"id":ID,"status":"accepted","error":"no receipt: timed out after 2m0s (--timeout)"}
  {"to":KEY,"name":NAME,"size":N,"sha256":HEX,"status":"accepted","receipt":"delivered"}   (--file)
status is the relay's answer (accepted, rejected) or failed when none came;
code is the relay's reason for a rejection; receipt is the final receipt
(delivered, expired, undeliverable) when it came; error says, in words, why
a message was not delivered.

Exit status:
  0  every recipient got it (with --no-wait: the relay accepted every message)
  1  nothing was sent: unreadable key file or --file, relay unreachable,
     text too large or not UTF-8, …
  2  usage error (missing --to or key file, a --to that is not a key, …)
  3  some recipient did not get it: the relay rejected the message
     (recipient_unknown: nobody holds the key; recipient_offline: its client
     is reconnecting), its receipt said expired or undeliverable, or no
     receipt came before --timeout. The lines on stdout say which.`

type sendFlags struct {
	relayFlags
	to      []string
	file    string
	json    bool
	noWait  bool
	timeout time.Duration
}

func newSendCmd() *cobra.Command {
	f := &sendFlags{}
	cmd := &cobra.Command{
		Use:   "send --to KEY [--to KEY…] (TEXT | - | --file PATH)",
		Short: "Send a message or a file to one or more keys",
		Long:  sendLong,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("send takes one TEXT argument, not %d: quote it (keypost send --to KEY \"hello, bob\")", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, args)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringArrayVarP(&f.to, "to", "t", nil, "a recipient's `KEY` (its public key); repeat for several")
	fs.StringVarP(&f.file, "file", "f", "", "send the file at `PATH` as a transfer instead of text")
	fs.BoolVar(&f.json, "json", false, "print one JSON object per recipient instead of a line of text")
	fs.BoolVar(&f.noWait, "no-wait", false, "stop once the relay accepted each message, without waiting for receipts")
	fs.DurationVar(&f.timeout, "timeout", defaultSendTimeout, "give up after this long (with --file: without progress); 0 for no limit")
	f.relayFlags.add(fs)
	return cmd
}

// runSend runs the send command with args; stdin is what "-" reads.
func runSend(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := newSendCmd()
	cmd.SetIn(stdin)
	return run(ctx, cmd, args, stdout, stderr)
}

// exitUndelivered is the exit status of send when a message was rejected
// or not delivered (undeliveredError); see rootLong.
const exitUndelivered = 3

// undeliveredError is send's outcome when some recipient did not get the
// message: Main exits 3 for it.
type undeliveredError struct{ failed, total int }

func (e *undeliveredError) Error() string {
	return fmt.Sprintf("not delivered to %d of %d recipients", e.failed, e.total)
}

// sendResult is one recipient's outcome, as printed with --json.
type sendResult struct {
	To      string `json:"to"`
	ID      string `json:"id,omitempty"`     // text: the message id
	Name    string `json:"name,omitempty"`   // file: the transfer's name
	Size    *int64 `json:"size,omitempty"`   // file: its size in bytes
	SHA256  string `json:"sha256,omitempty"` // file: the SHA-256 of what was read and sent
	Status  string `json:"status"`           // accepted, rejected, failed
	Code    string `json:"code,omitempty"`   // rejected: the relay's code
	Receipt string `json:"receipt,omitempty"`
	Error   string `json:"error,omitempty"`

	ok  bool         // delivered, or accepted under --no-wait
	key protocol.Key // To
}

// errTimedOut is the cause of send's context ending at --timeout.
type errTimedOut struct {
	d     time.Duration
	stall bool
}

func (e errTimedOut) Error() string {
	if e.stall {
		return fmt.Sprintf("no progress for %v (--timeout)", e.d)
	}
	return fmt.Sprintf("timed out after %v (--timeout)", e.d)
}

func (f *sendFlags) run(cmd *cobra.Command, args []string) error {
	ctx, stdin, stdout, stderr := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	priv, err := f.load(cmd.Flags())
	if err != nil {
		return err
	}
	if len(f.to) == 0 {
		return usagef("no recipient: pass --to KEY (repeat it for several)")
	}
	var to []protocol.Key
	seen := map[protocol.Key]bool{}
	for _, s := range f.to {
		k, err := parseKeyArg("--to", s)
		if err != nil {
			return err
		}
		if !seen[k] {
			seen[k] = true
			to = append(to, k)
		}
	}
	switch {
	case len(args) == 1 && f.file != "":
		return usagef("give TEXT, - or --file PATH, not two of them")
	case len(args) == 0 && f.file == "":
		return usagef("nothing to send: give TEXT, - (standard input) or --file PATH")
	case f.noWait && f.file != "":
		return usagef("--no-wait does not go with --file: a transfer is complete only once every chunk was delivered")
	case f.timeout < 0:
		return usagef("--timeout %v: want a positive duration, or 0 for no limit", f.timeout)
	}

	var text string
	var file *os.File
	var size int64
	switch {
	case f.file != "":
		if file, size, err = openRegular(f.file); err != nil {
			return err
		}
		defer file.Close()
	case args[0] == "-":
		b, err := io.ReadAll(io.LimitReader(stdin, maxStdinText+1))
		if err != nil {
			return fmt.Errorf("reading standard input: %w", err)
		}
		if len(b) > maxStdinText {
			return fmt.Errorf("standard input has more than %d bytes, too much for one message: send it as a file with --file PATH", maxStdinText)
		}
		text = string(b)
	default:
		text = args[0]
	}

	ctx, kick, stop := withTimeout(ctx, f.timeout, f.file != "")
	defer stop()
	var mu sync.Mutex
	var lastErr error // why the last attempt to connect failed
	c, err := client.Connect(ctx, f.server, priv, client.Options{
		SessionHMAC: f.hmac,
		OnState: func(s client.State) {
			if s.Phase == client.Reconnecting {
				mu.Lock()
				lastErr = s.Err
				mu.Unlock()
			}
		},
	})
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil && lastErr != nil {
			return fmt.Errorf("cannot connect to %s: %s; last error: %v", f.server, why(ctx, err), tidy(lastErr))
		}
		return fmt.Errorf("cannot connect to %s: %w", f.server, stoppedError(err))
	}
	defer c.Close()
	kick()

	out := &resultPrinter{w: stdout, json: f.json}
	var results []*sendResult
	if file != nil {
		results, err = f.sendFile(ctx, c, to, file, size, kick, stderr, out)
	} else {
		results, err = f.sendText(ctx, c, to, text, out)
	}
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		if !r.ok {
			failed++
		}
	}
	if failed > 0 {
		return &undeliveredError{failed, len(results)}
	}
	return nil
}

// openRegular opens a file to send and returns its size.
func openRegular(path string) (*os.File, int64, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		file.Close()
		return nil, 0, fmt.Errorf("--file %s is not a regular file", path)
	}
	return file, st.Size(), nil
}

// withTimeout bounds ctx by d (none when d is 0). With stall set, kick
// restarts the clock, so that d bounds the time without progress.
func withTimeout(ctx context.Context, d time.Duration, stall bool) (_ context.Context, kick, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	if d == 0 {
		return ctx, func() {}, func() { cancel(nil) }
	}
	t := time.AfterFunc(d, func() { cancel(errTimedOut{d, stall}) })
	kick = func() {}
	if stall {
		kick = func() { t.Reset(d) }
	}
	return ctx, kick, func() { t.Stop(); cancel(nil) }
}

// why says why a call that failed with err gave up: --timeout, an
// interruption, or err itself.
func why(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		switch cause := context.Cause(ctx); {
		case errors.As(cause, new(errTimedOut)):
			return cause.Error()
		case errors.Is(cause, context.Canceled):
			return "interrupted"
		}
	}
	if err == nil {
		return "unknown error"
	}
	return tidy(err).Error()
}

func (f *sendFlags) sendText(ctx context.Context, c *client.Client, to []protocol.Key, text string, out *resultPrinter) ([]*sendResult, error) {
	lim := c.Limits()
	switch {
	case len(text) > lim.MaxMessageBytes:
		return nil, fmt.Errorf("the text is %d bytes, more than the relay's max_message_bytes (%d): send it as a file with --file PATH", len(text), lim.MaxMessageBytes)
	case !utf8.ValidString(text):
		return nil, errors.New("the text is not valid UTF-8: send binary data as a file with --file PATH")
	}
	msgs := make([]client.Outgoing, len(to))
	for i, k := range to {
		msgs[i] = client.Outgoing{To: k, Data: text}
	}
	sents, err := c.SendMany(ctx, msgs...)
	if sents == nil {
		if err == nil {
			err = errors.New("nothing was sent")
		}
		return nil, fmt.Errorf("%s", why(ctx, err))
	}
	results := make([]*sendResult, len(sents))
	for i, st := range sents {
		r := &sendResult{To: to[i].String(), key: to[i], ID: st.ID}
		results[i] = r
		var status string
		var werr error
		select {
		case <-st.Done():
			status, werr = st.Status(), st.Err()
		default: // accepted (SendMany settled the others), waiting for its receipt
			status = protocol.StatusAccepted
			if !f.noWait {
				var final string
				if final, werr = st.Wait(ctx); werr == nil {
					status = final
				}
			}
		}
		r.settle(ctx, status, werr)
		if err := out.print(r); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// settle fills r from a message's final status (or "accepted" when not
// waiting for it) and the error that ended the wait.
func (r *sendResult) settle(ctx context.Context, status string, err error) {
	if se, ok := errors.AsType[*client.SendError](err); ok {
		r.Status, r.Code = protocol.StatusRejected, string(se.Code)
		r.Error = rejectionHint(se.Code, r.key)
		return
	}
	switch status {
	case "": // given up before the relay answered
		r.Status, r.Error = "failed", why(ctx, err)
		return
	case protocol.StatusAccepted: // --no-wait, or waiting ended early
		r.Status = protocol.StatusAccepted
		if err != nil {
			r.Error = "no receipt: " + why(ctx, err)
			return
		}
		r.ok = true
		return
	}
	r.Status, r.Receipt = protocol.StatusAccepted, status
	switch status {
	case protocol.StatusDelivered:
		r.ok = true
	case protocol.StatusExpired:
		r.Error = "expired: the recipient stayed offline longer than the relay's retention"
	case protocol.StatusUndeliverable:
		r.Error = "undeliverable: the relay gave up resending it"
	default:
		r.Error = "receipt " + status
	}
}

func (f *sendFlags) sendFile(ctx context.Context, c *client.Client, to []protocol.Key, file *os.File, size int64,
	kick func(), stderr io.Writer, out *resultPrinter) ([]*sendResult, error) {
	name := strings.ToValidUTF8(filepath.Base(f.file), "_")
	if len(name) > 255 {
		ext := filepath.Ext(name)
		if len(ext) > 32 {
			ext = ""
		}
		name = strings.ToValidUTF8(name[:255-len(ext)], "") + ext
	}
	lim := c.Limits()
	// Chunks carry base64, so a chunk holds at most ¾ of a message.
	multiChunk := size > int64(lim.MaxMessageBytes)*3/4-1024
	tty := false
	if fd, ok := stderr.(*os.File); ok && isTerminal(fd) {
		tty = true
	}
	var results []*sendResult
	for _, k := range to {
		if _, err := file.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		h := sha256.New()
		var bar *progressbar.ProgressBar
		if tty && multiChunk {
			bar = newProgressBar(stderr, size, fmt.Sprintf("%s → %s…", name, k.String()[:8]))
		}
		err := c.SendStream(ctx, k, name, io.TeeReader(file, h), size, func(sent int64) {
			kick()
			if bar != nil {
				_ = bar.Set64(sent)
			}
		})
		if bar != nil {
			if err == nil {
				_ = bar.Finish()
			} else {
				fmt.Fprintln(stderr)
			}
		}
		sz := size
		r := &sendResult{To: k.String(), key: k, Name: name, Size: &sz}
		results = append(results, r)
		switch {
		case err == nil:
			r.Status, r.Receipt, r.ok = protocol.StatusAccepted, protocol.StatusDelivered, true
			r.SHA256 = hex.EncodeToString(h.Sum(nil))
		case errors.Is(err, client.ErrUndelivered):
			r.Status, r.Error = protocol.StatusAccepted, tidy(err).Error()
		default:
			if _, ok := errors.AsType[*client.SendError](err); ok {
				r.settle(ctx, "", err)
			} else if ctx.Err() == nil && !errors.Is(err, client.ErrClosed) && c.Err() == nil {
				// Not the relay's doing: the file could not be read.
				return nil, tidy(err)
			} else {
				r.Status, r.Error = "failed", why(ctx, err)
				if c.Err() != nil {
					r.Error = stoppedError(c.Err()).Error()
				}
			}
		}
		if err := out.print(r); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// newProgressBar draws a transfer's progress on stderr (a terminal): bytes
// sent, rate and time left.
func newProgressBar(w io.Writer, size int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
}

// resultPrinter prints send's results as text lines or JSON objects.
type resultPrinter struct {
	w    io.Writer
	json bool
}

func (p *resultPrinter) print(r *sendResult) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	}
	var line string
	switch {
	case r.ok && r.Receipt == protocol.StatusDelivered && r.Name != "":
		line = fmt.Sprintf("delivered %q (%d bytes, sha256 %s) to %s", r.Name, *r.Size, r.SHA256, r.To)
	case r.ok && r.Receipt == protocol.StatusDelivered:
		line = "delivered to " + r.To
	case r.ok:
		line = "accepted by relay for " + r.To + " (not waiting for delivery)"
	case r.Status == protocol.StatusRejected:
		line = fmt.Sprintf("rejected by relay: %s (%s)", r.Code, r.Error)
	case r.Status == protocol.StatusAccepted:
		line = fmt.Sprintf("not delivered to %s: %s", r.To, r.Error)
	default:
		line = fmt.Sprintf("failed to send to %s: %s", r.To, r.Error)
	}
	_, err := fmt.Fprintln(p.w, line)
	return err
}
