package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keypost/keypost/protocol"
)

// abortWait bounds the courtesy abort chunk a failing SendStream sends.
const abortWait = 10 * time.Second

// SendStream sends exactly size bytes read from r to one recipient as a
// transfer called name (§9.4: the client cuts its data itself). The bytes
// are cut into chunks that fit max_message_bytes once base64-encoded and
// wrapped in their envelope (see the package doc), sent in order under the
// per-recipient window, and SendStream returns once every chunk's receipt
// said delivered. progress, if not nil, is called with the bytes accepted by
// the relay so far.
//
// A receiver that reconnects mid-transfer does not break it: chunks it
// holds are redelivered, and new ones are offered again while it is
// offline, for up to the relay's retention. A chunk that expires or is
// undeliverable fails the transfer (ErrUndelivered), and so does a
// recipient that stays away (ErrRecipientOffline); the receiver then
// discards what it has. If r fails or ends early, the receiver is told to
// discard it at once (an abort chunk).
func (c *Client) SendStream(ctx context.Context, to protocol.Key, name string, r io.Reader, size int64, progress func(sent int64)) error {
	if size < 0 {
		return fmt.Errorf("keypost: transfer size %d is negative", size)
	}
	if len(name) > maxNameBytes || !utf8.ValidString(name) {
		return errNameTooLong
	}
	_, lim, err := c.waitReady(ctx)
	if err != nil {
		return err
	}
	id := protocol.NewID().String()
	per, err := chunkBytes(lim.MaxMessageBytes, id, name, size)
	if err != nil {
		return err
	}
	total := max(1, (size+int64(per)-1)/int64(per))
	pol := sendPolicy{
		chunks:      true,
		offlineWait: time.Duration(lim.RetentionMS) * time.Millisecond,
	}
	fail := func(err error) error { return fmt.Errorf("keypost: transfer %s (%s): %w", id, name, err) }

	// Chunks go a window at a time: one request carries as many as the
	// window lets through, since every request counts against the key's
	// request rate at the relay.
	group := int64(max(1, lim.MaxPendingPerPair))
	h := sha256.New()
	buf := make([]byte, per)
	var inflight []*Sent
	var sent int64
	for i := int64(0); i < total; {
		var outs []Outgoing
		var n64 int64 // bytes in this group
		for end := min(total, i+group); i < end; i++ {
			n := min(int64(per), size-i*int64(per))
			if got, err := io.ReadFull(r, buf[:n]); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					err = fmt.Errorf("the reader ended after %d of %d bytes", i*int64(per)+int64(got), size)
				}
				if sent > 0 || len(inflight) > 0 { // the receiver has a part to discard
					c.abortTransfer(ctx, to, &envelope{V: envelopeVersion, ID: id, Total: total, Name: name, Size: size}, err)
				}
				return fail(err)
			}
			h.Write(buf[:n])
			e := envelope{V: envelopeVersion, ID: id, Index: i, Total: total, Name: name, Size: size}
			if i == total-1 {
				e.SHA256 = hex.EncodeToString(h.Sum(nil))
			}
			outs = append(outs, Outgoing{To: to, Data: e.encode(buf[:n])})
			n64 += n
		}
		sents, err := c.send(ctx, outs, pol)
		for j := 0; err == nil && j < len(sents); j++ {
			if err = sents[j].Err(); err != nil {
				err = fmt.Errorf("chunk %d: %w", i-int64(len(sents)-j), err)
			}
		}
		if err != nil {
			return fail(err)
		}
		inflight = append(inflight, sents...)
		sent += n64
		if progress != nil {
			progress(sent)
		}
		if inflight, err = settledChunks(inflight); err != nil {
			return fail(err)
		}
	}
	for _, st := range inflight {
		status, err := st.Wait(ctx)
		if err == nil && status != protocol.StatusDelivered {
			err = fmt.Errorf("%w: a chunk was %s", ErrUndelivered, status)
		}
		if err != nil {
			return fail(err)
		}
	}
	return nil
}

// settledChunks drops delivered chunks from inflight and fails on one whose
// receipt was not delivered: the receiver can never complete the transfer.
func settledChunks(inflight []*Sent) ([]*Sent, error) {
	left := inflight[:0]
	for _, st := range inflight {
		switch status := st.Status(); status {
		case "":
			left = append(left, st)
		case protocol.StatusDelivered:
		default:
			return nil, fmt.Errorf("%w: a chunk was %s", ErrUndelivered, status)
		}
	}
	return left, nil
}

// abortTransfer tells the receiver to discard a transfer now rather than
// at its timeout. Best effort, and brief.
func (c *Client) abortTransfer(ctx context.Context, to protocol.Key, e *envelope, why error) {
	ctx, cancel := context.WithTimeout(ctx, abortWait)
	defer cancel()
	reason := strings.ToValidUTF8(why.Error(), "?")
	for len(reason) > maxAbortBytes || !utf8.ValidString(reason) {
		reason = reason[:len(reason)-1] // cut back to a whole rune
	}
	if reason == "" {
		reason = "aborted"
	}
	e.Abort = reason
	_, _ = c.send(ctx, []Outgoing{{To: to, Data: e.encode(nil)}}, sendPolicy{chunks: true})
}
