package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keypost/keypost/client"
	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// received is what a receiver's OnTransfer saw.
type received struct {
	t   client.Transfer
	sum [32]byte
	n   int64
	err error
}

// onTransfer returns an OnTransfer that hashes each completed transfer's
// file and reports it on the channel.
func onTransfer(ch chan<- received) func(*client.Transfer, error) {
	return func(t *client.Transfer, err error) {
		r := received{t: *t, err: err}
		if err == nil {
			f, ferr := os.Open(t.Path)
			if ferr != nil {
				r.err = ferr
			} else {
				h := sha256.New()
				r.n, r.err = io.Copy(h, f)
				f.Close()
				copy(r.sum[:], h.Sum(nil))
			}
		}
		ch <- r
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{1}).Read(b)
	return b
}

func awaitTransfer(t *testing.T, ch <-chan received) received {
	t.Helper()
	return awaitTransferWithin(t, ch, wait)
}

func awaitTransferWithin(t *testing.T, ch <-chan received, d time.Duration) received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("no transfer within %v", d)
	}
	return received{}
}

// bigWait bounds TestTransfer20MiB: a stall, not slowness, should fail it.
const bigWait = 3 * time.Minute

// dirEmpty fails unless the transfer directory holds nothing: partial data
// is never left behind. A failed transfer's data is discarded before
// OnTransfer hears of it, so dirEmpty may follow its report at once; a
// completed one's file lives until OnTransfer returns, so for that use
// closedDirEmpty.
func dirEmpty(t *testing.T, dir string) {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 0 {
		t.Fatalf("%d files left in the transfer directory", len(es))
	}
}

// closedDirEmpty closes the receiver c, then checks that its transfer
// directory dir is empty. A completed transfer's file is removed when
// OnTransfer returns, which the test cannot see from inside OnTransfer
// (it reports to the test before returning); Close waits for the
// goroutine that calls OnTransfer, so once it returns every removal has
// run.
func closedDirEmpty(t *testing.T, c *client.Client, dir string) {
	t.Helper()
	c.Close()
	dirEmpty(t, dir)
}

// 20 MiB crosses in chunks of the relay's default 64 KiB and arrives whole,
// with the same SHA-256, handed over once; progress ends at the size.
//
// It is more than the relay holds for one recipient, sender or stream
// (4, 8 and 16 MiB at its defaults), so it stays whole under the race
// detector too, which CI uses: there it takes about 20 s on a busy 2-core
// machine, hence its own bound, wide enough to catch a stall only.
func TestTransfer20MiB(t *testing.T) {
	srv := newServer(t, relay.Config{})
	got := make(chan received, 4)
	dir := t.TempDir()
	ro := fast()
	ro.AckDelay, ro.OnTransfer, ro.TransferDir = time.Millisecond, onTransfer(got), dir
	so := fast()
	so.AckDelay = time.Millisecond
	a, b := connect(t, srv, so), connect(t, srv, ro)
	data := randomBytes(20 << 20)
	var last atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), bigWait)
	defer cancel()
	err := a.SendStream(ctx, b.Key(), "big.bin", bytes.NewReader(data), int64(len(data)), func(n int64) { last.Store(n) })
	if err != nil {
		t.Fatal(err)
	}
	r := awaitTransferWithin(t, got, bigWait)
	if r.err != nil || r.sum != sha256.Sum256(data) || r.n != int64(len(data)) || r.t.Name != "big.bin" || r.t.Size != int64(len(data)) || r.t.From != a.Key() {
		t.Fatalf("received %+v, %d bytes, err %v", r.t, r.n, r.err)
	}
	if last.Load() != int64(len(data)) {
		t.Fatalf("progress ended at %d", last.Load())
	}
	closedDirEmpty(t, b, dir) // after Close, no report can be still to come
	select {
	case r := <-got:
		t.Fatalf("a second transfer was reported: %+v %v", r.t, r.err)
	default:
	}
}

// The relay's connection to the receiver is cut in the middle of a
// transfer: the receiver reconnects, the chunks it held are redelivered,
// the sender retries those refused while it was offline, and the transfer
// completes with the same SHA-256: nothing lost, nothing doubled.
func TestTransferSurvivesReceiverCut(t *testing.T) {
	srv := newServer(t, relay.Config{MaxMessageBytes: 8 << 10})
	k := newCutter(t)
	got := make(chan received, 4)
	sb := newStates()
	ro := fast()
	ro.HTTPClient, ro.OnState, ro.OnTransfer, ro.TransferDir = k.client(), sb.on, onTransfer(got), t.TempDir()
	ro.AckDelay = time.Millisecond
	a, b := connect(t, srv, fast()), connect(t, srv, ro)
	data := randomBytes(2 << 20)
	var once sync.Once
	err := a.SendStream(ctxT(t), b.Key(), "cut.bin", bytes.NewReader(data), int64(len(data)), func(n int64) {
		if n >= int64(len(data))/3 {
			once.Do(k.cut)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	r := awaitTransfer(t, got)
	if r.err != nil || r.sum != sha256.Sum256(data) || r.n != int64(len(data)) {
		t.Fatalf("received %+v, %d bytes, err %v", r.t, r.n, r.err)
	}
	if n := sb.count(client.Ready); n < 2 {
		t.Fatalf("the receiver was ready %d times; the cut did not happen mid-transfer", n)
	}
	closedDirEmpty(t, b, ro.TransferDir)
}

// A sender whose reader fails aborts the transfer: it returns the reader's
// error, and the receiver discards the partial data and reports
// ErrTransferAborted at once.
func TestTransferAbortedBySender(t *testing.T) {
	srv := newServer(t, relay.Config{MaxMessageBytes: 4 << 10})
	got := make(chan received, 4)
	ro := fast()
	ro.OnTransfer, ro.TransferDir = onTransfer(got), t.TempDir()
	a, b := connect(t, srv, fast()), connect(t, srv, ro)
	boom := errors.New("disk on fire")
	r := io.MultiReader(bytes.NewReader(randomBytes(20<<10)), iotestErr{boom})
	err := a.SendStream(ctxT(t), b.Key(), "partial", r, 100<<10, nil)
	if !errors.Is(err, boom) {
		t.Fatalf("SendStream: %v", err)
	}
	rec := awaitTransfer(t, got)
	if !errors.Is(rec.err, client.ErrTransferAborted) || rec.t.Name != "partial" || rec.t.Path != "" {
		t.Fatalf("receiver: %+v %v", rec.t, rec.err)
	}
	dirEmpty(t, ro.TransferDir)
}

type iotestErr struct{ err error }

func (r iotestErr) Read([]byte) (int, error) { return 0, r.err }

// A transfer whose sender goes silent is discarded by the receiver after
// TransferTimeout, with ErrTransferTimeout; the sender, once its context
// ends, reports that.
func TestTransferTimeoutOnReceiver(t *testing.T) {
	srv := newServer(t, relay.Config{MaxMessageBytes: 4 << 10})
	got := make(chan received, 4)
	ro := fast()
	ro.OnTransfer, ro.TransferDir, ro.TransferTimeout = onTransfer(got), t.TempDir(), 200*time.Millisecond
	a, b := connect(t, srv, fast()), connect(t, srv, ro)
	pr, pw := io.Pipe()
	go pw.Write(randomBytes(10 << 10)) // two chunks or so, then silence
	errc := make(chan error, 1)
	ctx, cancel := contextWithCancel(t)
	go func() { errc <- a.SendStream(ctx, b.Key(), "stalled", pr, 1<<20, nil) }()

	rec := awaitTransfer(t, got)
	if !errors.Is(rec.err, client.ErrTransferTimeout) || rec.t.Name != "stalled" {
		t.Fatalf("receiver: %+v %v", rec.t, rec.err)
	}
	dirEmpty(t, ro.TransferDir)
	cancel()
	pw.CloseWithError(errors.New("gone"))
	if err := <-errc; err == nil {
		t.Fatal("SendStream succeeded")
	}
}

// A receiver that goes away for longer than the relay's retention makes
// the sender fail: its chunks expire (§7), or are refused while it is
// offline and then unknown.
func TestTransferFailsOnSenderWhenReceiverGone(t *testing.T) {
	srv := newServer(t, relay.Config{MaxMessageBytes: 4 << 10, Retention: 300 * time.Millisecond})
	got := make(chan received, 4)
	ro := fast()
	ro.OnTransfer, ro.TransferDir = onTransfer(got), t.TempDir()
	a, b := connect(t, srv, fast()), connect(t, srv, ro)
	data := randomBytes(1 << 20)
	var once sync.Once
	err := a.SendStream(ctxT(t), b.Key(), "orphan", bytes.NewReader(data), int64(len(data)), func(n int64) {
		if n > 64<<10 {
			once.Do(func() { b.Close() })
		}
	})
	if !errors.Is(err, client.ErrUndelivered) && !errors.Is(err, client.ErrRecipientOffline) && !errors.Is(err, client.ErrRecipientUnknown) {
		t.Fatalf("SendStream: %v", err)
	}
	select {
	case r := <-got:
		t.Fatalf("the closed receiver reported %+v %v", r.t, r.err)
	default:
	}
	dirEmpty(t, ro.TransferDir)
}

// Sizes at the edges of the chunking (empty, one byte, exactly one chunk,
// one byte more) arrive whole.
func TestTransferEdgeSizes(t *testing.T) {
	const maxMsg = 2 << 10
	srv := newServer(t, relay.Config{MaxMessageBytes: maxMsg})
	got := make(chan received, 4)
	ro := fast()
	ro.OnTransfer, ro.TransferDir = onTransfer(got), t.TempDir()
	a, b := connect(t, srv, fast()), connect(t, srv, ro)
	// The chunk size depends on the transfer's size only through its
	// number of digits: 3000 has as many as the sizes around one chunk.
	per, err := client.ChunkBytes(maxMsg, protocol.NewID().String(), "edge", 3000)
	if err != nil || per < 1000 || 3*per > 9999 {
		t.Fatalf("chunk size %d, %v", per, err)
	}
	for _, n := range []int{0, 1, per, per + 1, 3 * per} {
		data := randomBytes(n)
		if err := a.SendStream(ctxT(t), b.Key(), "edge", bytes.NewReader(data), int64(n), nil); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		r := awaitTransfer(t, got)
		if r.err != nil || r.n != int64(n) || r.sum != sha256.Sum256(data) {
			t.Fatalf("%d bytes: received %+v, %d bytes, %v", n, r.t, r.n, r.err)
		}
	}
	closedDirEmpty(t, b, ro.TransferDir)
}
