package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/keypost/keypost/client"
)

const listenLong = `Receive what is sent to your key and print one JSON object per line on
stdout for each message:

  {"from":KEY,"id":ID,"size":N,"data":TEXT}                            a text message
  {"from":KEY,"id":ID,"name":NAME,"size":N,"sha256":HEX,"path":PATH}   a file

size is in bytes (of the text in UTF-8, or of the file). A file (sent with
keypost send --file) is put together as its chunks arrive, in a temporary
keypost-*.part file in the output directory, and printed only once it is
complete and its SHA-256 checked; id is then the transfer's id. The output
directory is --out DIR (created with mode 0700 if missing) or, without
--out, a new directory under $TMPDIR, named on stderr at start and kept
after listen ends if a file was stored in it.

NAME is the sender's name for the file, untrusted. The file is stored under
a safe name inside the output directory, never outside it:
  - only the last element of a path is used: "../x" and "a/x" are stored as
    x, "/etc/passwd" as passwd; a name with none (.., ., empty) becomes
    transfer-ID;
  - control characters (NUL included) become _, and so does a leading dot
    (no hidden files);
  - an existing file is never replaced: notes.txt becomes notes-1.txt,
    notes-2.txt, …
Files are created with mode 0600. A file larger than 1 GiB is refused; a
failed transfer is reported on stderr.

State changes go to stderr: "state: ready", "state: reconnecting in 1s
(why)", "state: closed". After a drop (a relay restart, a network failure)
listen reconnects by itself, and it waits for the relay as long as it takes.

The relay gives a key to one session at a time, the newest: a keypost send,
listen or chat started later with the same key file takes it, and this
listen stops with key_conflict.

Exit status:
  0  stopped by SIGINT or SIGTERM
  1  runtime failure: unreadable key file, the relay closed the session for
     good (key_conflict: another session took the key; the reason is
     printed), stdout cannot be written
  2  usage error`

type listenFlags struct {
	relayFlags
	out string
}

func newListenCmd() *cobra.Command {
	f := &listenFlags{}
	cmd := &cobra.Command{
		Use:   "listen [--out DIR]",
		Short: "Print what is sent to your key, one JSON line per message",
		Long:  listenLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVarP(&f.out, "out", "o", "", "store received files in `DIR` (default: a new directory under $TMPDIR)")
	f.relayFlags.add(fs)
	return cmd
}

// runListen runs the listen command with args until ctx is cancelled or
// the client stops.
func runListen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return run(ctx, newListenCmd(), args, stdout, stderr)
}

// The lines listen prints.
type (
	textLine struct {
		From string `json:"from"`
		ID   string `json:"id"`
		Size int    `json:"size"`
		Data string `json:"data"`
	}
	fileLine struct {
		From   string `json:"from"`
		ID     string `json:"id"`
		Name   string `json:"name"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
		Path   string `json:"path"`
	}
)

func (f *listenFlags) run(cmd *cobra.Command) error {
	ctx, stdout, stderr := cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	priv, err := f.load(cmd.Flags())
	if err != nil {
		return err
	}
	dir := f.out
	if dir == "" {
		if dir, err = os.MkdirTemp("", "keypost-listen-"); err != nil {
			return err
		}
		defer os.Remove(dir) // only if nothing was stored in it
		fmt.Fprintf(stderr, "files go to %s (choose with --out DIR)\n", dir)
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}

	out := &jsonLines{w: stdout}
	failed := make(chan error, 1)
	emit := func(v any) {
		if err := out.print(v); err != nil {
			select {
			case failed <- fmt.Errorf("writing to stdout: %w", err):
			default:
			}
		}
	}
	opts := client.Options{
		SessionHMAC: f.hmac,
		TransferDir: dir,
		OnState: func(s client.State) {
			fmt.Fprintf(stderr, "state: %s\n", stateText(s))
		},
		OnMessage: func(m client.Message) {
			emit(textLine{From: m.From.String(), ID: m.ID, Size: len(m.Data), Data: m.Data})
		},
		OnTransfer: func(t *client.Transfer, err error) {
			if err != nil {
				fmt.Fprintf(stderr, "keypost: transfer %q from %s failed: %v\n", t.Name, t.From, tidy(err))
				return
			}
			path, sum, err := store(dir, t)
			if err != nil {
				fmt.Fprintf(stderr, "keypost: transfer %q from %s not stored: %v\n", t.Name, t.From, err)
				return
			}
			emit(fileLine{From: t.From.String(), ID: t.ID, Name: t.Name, Size: t.Size, SHA256: sum, Path: path})
		},
	}
	fmt.Fprintf(stderr, "listening as %s on %s\n", publicKey(priv), f.server)
	c, err := client.Connect(ctx, f.server, priv, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("cannot connect to %s: %w", f.server, stoppedError(err))
	}
	defer c.Close()
	select {
	case <-ctx.Done():
		return nil
	case <-c.Done():
		return stoppedError(c.Err())
	case err := <-failed:
		return err
	}
}

// stateText describes a client's state change in a line.
func stateText(s client.State) string {
	switch {
	case s.Phase == client.Reconnecting:
		return fmt.Sprintf("reconnecting in %v (%v)", s.Retry.Round(time.Millisecond), tidy(s.Err))
	case s.Phase == client.Closed && s.Err != nil && !errors.Is(s.Err, client.ErrClosed):
		return fmt.Sprintf("closed (%v)", tidy(s.Err))
	}
	return s.Phase.String()
}

// jsonLines prints one JSON object per line, from any goroutine.
type jsonLines struct {
	mu sync.Mutex
	w  io.Writer
}

func (j *jsonLines) print(v any) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	enc := json.NewEncoder(j.w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// maxStoredName bounds a stored file's name, leaving room for a suffix
// under the usual limit of 255 bytes.
const maxStoredName = 200

// store moves a completed transfer's temporary file into dir, under a safe
// name made from the sender's name (safeName) that names no existing file,
// and returns its path and SHA-256. It never writes outside dir and never
// replaces a file.
func store(dir string, t *client.Transfer) (path, sum string, err error) {
	base := safeName(t.Name, t.ID)
	for i := 0; ; i++ {
		if i == 1000 {
			return "", "", fmt.Errorf("%d files named like %s in %s already", i, base, dir)
		}
		path = filepath.Join(dir, withSuffix(base, i))
		err = place(t.Path, path)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", "", err
		}
		sum, err = fileSHA256(path)
		return path, sum, err
	}
}

// safeName makes a file name from an untrusted one: a single path element
// that is not . or .., without control characters, not hidden, at most
// maxStoredName bytes; when nothing usable is left, "transfer-" and id.
func safeName(name, id string) string {
	// The last element, whatever separator the sender's system uses: that
	// also takes care of absolute paths and of "..".
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError {
			return '_'
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." {
		id = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '-' {
				return r
			}
			return -1
		}, id)
		return "transfer-" + id
	}
	if name[0] == '.' {
		name = "_" + name[1:]
	}
	if len(name) > maxStoredName {
		ext := filepath.Ext(name)
		if len(ext) > 16 {
			ext = ""
		}
		name = strings.ToValidUTF8(name[:maxStoredName-len(ext)], "") + ext
	}
	return name
}

// withSuffix returns name for i = 0, then name-1, name-2… before its
// extension (notes-1.txt).
func withSuffix(name string, i int) string {
	if i == 0 {
		return name
	}
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if stem == "" {
		stem, ext = name, ""
	}
	return fmt.Sprintf("%s-%d%s", stem, i, ext)
}

// place puts the file src at dst, which must not exist (fs.ErrExist if it
// does, even as a dangling symbolic link): a hard link, src then removed,
// or a copy where links cannot be made.
func place(src, dst string) error {
	err := os.Link(src, dst)
	if err == nil {
		_ = os.Remove(src)
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(dst)
		return err
	}
	_ = os.Remove(src)
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
