package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keypost/keypost/protocol"
	"github.com/keypost/keypost/relay"
)

// drainTimeout bounds the wait, after the last send, for the messages
// still in flight to be acknowledged.
const drainTimeout = 10 * time.Second

// lateAfter is how far behind its due time a paced message may start
// before it counts as late.
const lateAfter = 2 * time.Millisecond

// pair is one sender→recipient pair and its window of 3 (§8).
type pair struct {
	idx      uint32
	from, to *session

	// Sender side, guarded by from.mu.
	nextSeq  uint64   // the next sequence number to send (from 1)
	inflight int      // sent and not settled
	out      []outMsg // sent and not settled, in order

	// Recipient side, guarded by to.mu: sequence numbers seen.
	recvNext uint64 // lowest not yet seen (from 1)
	recvMask uint64 // bit i: recvNext+1+i seen
}

type outMsg struct {
	seq      uint64
	accepted bool
}

// see records the delivery of seq and reports whether it was seen before.
func (p *pair) see(seq uint64) (dup bool) {
	switch {
	case seq < p.recvNext:
		return true
	case seq == p.recvNext:
		p.recvNext++
		for p.recvMask&1 != 0 {
			p.recvMask >>= 1
			p.recvNext++
		}
		p.recvMask >>= 1
		return false
	}
	d := seq - p.recvNext - 1
	if d >= 64 { // a gap left by a rejected message: slide past it
		shift := d - 63
		p.recvNext += shift
		if shift >= 64 {
			p.recvMask = 0
		} else {
			p.recvMask >>= shift
		}
		d = 63
	}
	if p.recvMask&(1<<d) != 0 {
		return true
	}
	p.recvMask |= 1 << d
	return false
}

func (p *pair) seen(seq uint64) bool {
	if seq < p.recvNext {
		return true
	}
	d := seq - p.recvNext - 1
	return seq > p.recvNext && d < 64 && p.recvMask&(1<<d) != 0
}

// settle removes seq from the window; false if it was not there.
func (p *pair) settle(seq uint64) bool {
	for i, o := range p.out {
		if o.seq == seq {
			p.out = append(p.out[:i], p.out[i+1:]...)
			p.inflight--
			return true
		}
	}
	return false
}

// loadRun is the state of throughput, latency and fanout.
type loadRun struct {
	r      *runner
	pairs  []*pair
	stop   chan struct{} // closed when sending stops
	stopMu sync.Mutex

	measureFrom int64 // ns since the run's start
	measureTo   atomic.Int64

	sent, accepted, acceptedIn, rejected      atomic.Int64
	delivered, deliveredIn, dups, dupReceipts atomic.Int64
	redelivered                               atomic.Int64 // seen again with attempt > 1: a resend after an ack came too late
	expired, undeliverable, late, posts, acks atomic.Int64
}

// load runs throughput, latency or fanout.
func (r *runner) load(ctx context.Context) error {
	o := r.o
	lr := &loadRun{r: r, stop: make(chan struct{})}
	var nSend, nRecv int
	switch {
	case o.Scenario == "fanout":
		if o.Recipients > relay.DefaultMaxRecipients {
			return fmt.Errorf("fanout: at most %d recipients per send", relay.DefaultMaxRecipients)
		}
		nSend, nRecv = o.Senders, o.Recipients
	case o.Batch > 1:
		if o.Batch > relay.DefaultMaxRecipients {
			return fmt.Errorf("%s: at most %d messages per send", o.Scenario, relay.DefaultMaxRecipients)
		}
		nSend, nRecv = (o.Pairs+o.Batch-1)/o.Batch, o.Batch
	default:
		nSend, nRecv = o.Pairs, o.Recipients
		if nRecv <= 0 || nRecv > o.Pairs {
			nRecv = max(1, o.Pairs/8)
		}
	}
	var background []*session
	if o.Background > 0 {
		// Idle sessions first (they answer pings), so that the load runs
		// on a relay that holds them all. They are over HTTP/2 (r.bg),
		// which alone gets past the per-process limit on open files; the
		// load keeps its own transport.
		background, _, _ = r.connectAll(ctx, o.Background, nil, r.bg)
		defer closeAll(background)
		// Under that many handshakes a few may time out; the result
		// reports how many were held to the end.
		if len(background) < o.Background*99/100 {
			return fmt.Errorf("only %d of %d background sessions became ready: %v", len(background), o.Background, deref(r.errSample.Load()))
		}
		r.errors.Store(0) // the load's own errors are what the result reports
		r.errSample.Store(nil)
	}
	ss, _, _ := r.connectAll(ctx, nSend+nRecv, lr, r.nc)
	r.res.Handshake = nil
	defer closeAll(ss)
	if len(ss) < nSend+nRecv {
		return fmt.Errorf("only %d of %d sessions became ready: %v", len(ss), nSend+nRecv, deref(r.errSample.Load()))
	}
	senders, recipients := ss[:nSend], ss[nSend:]
	for i, s := range senders {
		targets := recipients
		if o.Scenario != "fanout" && o.Batch == 1 {
			targets = recipients[i%nRecv : i%nRecv+1]
		}
		for _, to := range targets {
			p := &pair{idx: uint32(len(lr.pairs)), from: s, to: to, nextSeq: 1, recvNext: 1}
			lr.pairs = append(lr.pairs, p)
			s.out = append(s.out, p)
		}
	}
	r.res.Sessions = len(ss)
	r.res.Load = &Load{Pairs: len(lr.pairs), Batch: o.Batch, Recipients: nRecv, Size: o.Size}
	if o.Scenario == "fanout" {
		r.res.Load.Batch = nRecv
	}

	// Every session acks what it gets, one batched POST at a time.
	ackDone := make(chan struct{})
	var ackers sync.WaitGroup
	for _, s := range ss {
		ackers.Go(func() { s.acker(ctx, ackDone, &lr.acks) })
	}

	t0 := r.now()
	lr.measureFrom = t0 + int64(o.Warmup)
	lr.measureTo.Store(lr.measureFrom + int64(o.Duration))
	prog := r.progress(lr.progressLine())
	var cpuFrom, cpuTo time.Duration
	cpuDone := make(chan struct{})
	go func() { // CPU time over the measured time
		defer close(cpuDone)
		select {
		case <-time.After(time.Duration(lr.measureFrom - r.now())):
		case <-lr.stop:
			return
		}
		cpuFrom = processCPU()
		select {
		case <-time.After(time.Duration(lr.measureTo.Load() - r.now())):
		case <-lr.stop:
		}
		cpuTo = processCPU()
	}()
	var senderWG sync.WaitGroup
	switch o.Scenario {
	case "latency":
		r.res.Load.OfferedPerS = o.Rate
		jobs := make([]chan int64, len(senders))
		for i, s := range senders {
			jobs[i] = make(chan int64, 256)
			senderWG.Go(func() { lr.paced(ctx, s, jobs[i]) })
		}
		senderWG.Go(func() { lr.pace(jobs, t0) })
	default:
		for _, s := range senders {
			senderWG.Go(func() { lr.closedLoop(ctx, s) })
		}
	}
	// Stop sending at the end of the measured time or at ctx's end; the
	// senders stop by themselves at o.N messages.
	timer := time.NewTimer(time.Duration(lr.measureTo.Load() - r.now()))
	select {
	case <-timer.C:
	case <-ctx.Done():
	case <-lr.stop:
	}
	timer.Stop()
	lr.stopSending()
	senderWG.Wait()
	<-cpuDone

	// Drain: wait for what is in flight to settle, then the last acks.
	deadline := time.Now().Add(drainTimeout)
	for time.Now().Before(deadline) && lr.inflight() > 0 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	close(ackDone)
	ackers.Wait()
	prog()
	lr.finish(recipients)
	if n := lr.deliveredIn.Load(); n > 0 && cpuTo > cpuFrom {
		r.res.Load.CPUUSPerDelivery = round3(float64(cpuTo-cpuFrom) / float64(time.Microsecond) / float64(n))
	}
	for _, s := range background {
		if !s.ended.Load() {
			r.res.Load.Background++
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (lr *loadRun) stopSending() {
	lr.stopMu.Lock()
	defer lr.stopMu.Unlock()
	select {
	case <-lr.stop:
	default:
		if now := lr.r.now(); now < lr.measureTo.Load() {
			lr.measureTo.Store(now) // stopped early (by -n): measure what ran
		}
		close(lr.stop)
	}
}

func (lr *loadRun) stopped() bool {
	select {
	case <-lr.stop:
		return true
	default:
		return false
	}
}

func (lr *loadRun) inflight() int {
	n := 0
	for _, p := range lr.pairs {
		p.from.mu.Lock()
		n += p.inflight
		p.from.mu.Unlock()
	}
	return n
}

func (lr *loadRun) progressLine() func() string {
	var last int64
	lastT := time.Now()
	return func() string {
		d := lr.delivered.Load()
		now := time.Now()
		rate := float64(d-last) / now.Sub(lastT).Seconds()
		last, lastT = d, now
		return fmt.Sprintf("%d delivered, %.0f/s now, %d in flight", d, rate, lr.inflight())
	}
}

// entry is one message of a send POST being built.
type entry struct {
	p   *pair
	seq uint64
}

// take assigns the next sequence numbers of s's pairs with free window
// slots, up to max entries (all pairs at once, or none, when all is set:
// fanout). s.mu must be held.
func (lr *loadRun) take(s *session, es []entry, max int, all bool, rr *int) []entry {
	if all {
		for _, p := range s.out {
			if p.inflight >= window {
				return es
			}
		}
	}
	for progress := true; progress && len(es) < max; {
		progress = false
		for k := 0; k < len(s.out) && len(es) < max; k++ {
			p := s.out[(*rr+k)%len(s.out)]
			if p.inflight >= window {
				continue
			}
			es = append(es, entry{p, p.nextSeq})
			p.out = append(p.out, outMsg{seq: p.nextSeq})
			p.nextSeq++
			p.inflight++
			progress = true
		}
	}
	*rr++
	return es
}

// closedLoop keeps s's windows full: throughput (up to o.Batch messages
// per POST) and fanout (one message to every recipient per POST).
func (lr *loadRun) closedLoop(ctx context.Context, s *session) {
	o := lr.r.o
	fanout := o.Scenario == "fanout"
	max := o.Batch
	if fanout {
		max = len(s.out)
	}
	var es []entry
	var body []byte
	rr := 0
	for !lr.stopped() && ctx.Err() == nil {
		s.mu.Lock()
		es = lr.take(s, es[:0], max, fanout, &rr)
		s.mu.Unlock()
		if len(es) == 0 {
			select {
			case <-s.sendWake:
			case <-lr.stop:
			case <-ctx.Done():
			}
			continue
		}
		body = lr.sendPost(ctx, s, es, lr.r.now(), body)
	}
}

// pace offers o.Rate messages a second, spread over the pairs in turn.
// Each job is the time the message is due; a sender that starts it more
// than lateAfter behind counts it as late (latency is timed from the
// POST's start, so that the pacer's own timer granularity is not in it).
func (lr *loadRun) pace(jobs []chan int64, t0 int64) {
	defer func() {
		for _, j := range jobs {
			close(j)
		}
	}()
	rate := lr.r.o.Rate / float64(lr.r.o.Batch) // POSTs of Batch messages
	var issued int64
	for !lr.stopped() {
		elapsed := float64(lr.r.now()-t0) / 1e9
		for due := int64(rate * elapsed); issued < due; issued++ {
			at := t0 + int64(float64(issued+1)/rate*1e9) // message i is due once i+1 are
			select {
			case jobs[issued%int64(len(jobs))] <- at:
			default:
				lr.late.Add(1) // that sender is far behind: the message is not offered
			}
		}
		time.Sleep(250 * time.Microsecond)
	}
}

// paced sends each job's message from s (one pair) when it is due.
func (lr *loadRun) paced(ctx context.Context, s *session, jobs <-chan int64) {
	var body []byte
	batch := lr.r.o.Batch
	es := make([]entry, 0, batch)
	for at := range jobs {
		if lr.stopped() || ctx.Err() != nil {
			continue // drain
		}
		rr := 0
		for {
			s.mu.Lock()
			es = lr.take(s, es[:0], batch, false, &rr)
			s.mu.Unlock()
			if len(es) > 0 || lr.stopped() {
				break
			}
			select {
			case <-s.sendWake:
			case <-lr.stop:
			}
		}
		if len(es) > 0 {
			now := lr.r.now()
			if now-at > int64(lateAfter) {
				lr.late.Add(1)
			}
			body = lr.sendPost(ctx, s, es, now, body)
		}
	}
}

// sendPost sends es from s in one POST with data stamped t, and applies
// the results.
func (lr *loadRun) sendPost(ctx context.Context, s *session, es []entry, t int64, body []byte) []byte {
	o := lr.r.o
	b := append(body[:0], `{"messages":[`...)
	for i, e := range es {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"to":"`...)
		b = append(b, e.p.to.keyStr...)
		b = append(b, `","data":"`...)
		b = appendData(b, t, o.Size)
		b = append(b, `","id":"`...)
		b = appendMsgID(b, e.p.idx, e.seq)
		b = append(b, `"}`...)
	}
	b = append(b, `]}`...)
	lr.sent.Add(int64(len(es)))
	lr.posts.Add(1)
	if o.N > 0 && lr.sent.Load() >= int64(o.N) {
		lr.stopSending()
	}
	resp, err := s.post(ctx, protocol.PathSend, b)
	statuses := make([]bool, len(es))
	if err != nil {
		lr.r.fail(err)
	} else if err := parseResults(resp, statuses); err != nil {
		lr.r.fail(err)
	}
	in := t >= lr.measureFrom && t < lr.measureTo.Load()
	s.mu.Lock()
	// Backwards, so that a rejected last message gives its sequence
	// number back and the recipient sees no gap.
	for i := len(es) - 1; i >= 0; i-- {
		e := es[i]
		if statuses[i] {
			lr.accepted.Add(1)
			if in {
				lr.acceptedIn.Add(1)
			}
			for k := range e.p.out {
				if e.p.out[k].seq == e.seq {
					e.p.out[k].accepted = true
				}
			}
			continue
		}
		lr.rejected.Add(1)
		if e.p.settle(e.seq) && e.seq == e.p.nextSeq-1 {
			e.p.nextSeq--
		}
	}
	s.mu.Unlock()
	wake(s.sendWake)
	return b
}

// parseResults reads the status of each result of a send answer, in
// order, into accepted; a rejected entry's code is counted as an error.
func parseResults(resp []byte, accepted []bool) error {
	s := string(resp)
	var firstErr error
	for i := range accepted {
		j := strings.Index(s, `"status":"`)
		if j < 0 {
			return fmt.Errorf("send: %d results for %d messages: %.200s", i, len(accepted), resp)
		}
		s = s[j+len(`"status":"`):]
		accepted[i] = strings.HasPrefix(s, protocol.StatusAccepted+`"`)
		if !accepted[i] && firstErr == nil {
			end := strings.IndexByte(s, '}')
			if end < 0 {
				end = len(s)
			}
			code, _ := strField(`{"`+s[:end], "code")
			firstErr = errors.New("send rejected: " + code)
		}
	}
	return firstErr
}

// pairOf returns the pair and sequence number a message id names, or a nil
// pair if the id is not one of this run's or the pair fails mine (the
// event came on another session's stream).
func (lr *loadRun) pairOf(id string, mine func(*pair) bool) (*pair, uint64) {
	pi, seq, ok := parseMsgID(id)
	if !ok || int(pi) >= len(lr.pairs) || !mine(lr.pairs[pi]) {
		return nil, seq
	}
	return lr.pairs[pi], seq
}

// message is a message event on a recipient's stream: count it, time it,
// queue its ack.
func (lr *loadRun) message(s *session, data string) {
	id, from, d := field(data, "id"), field(data, "from"), field(data, "data")
	now := lr.r.now()
	p, seq := lr.pairOf(id, func(p *pair) bool { return p.to == s })
	t, tok := dataTime(d)
	s.mu.Lock()
	if p != nil {
		if p.see(seq) {
			// A resend after its ack timed out (attempt > 1) is the
			// protocol's at-least-once delivery, which a client
			// de-duplicates by (from, id); the same attempt twice is not.
			if n, _ := intField(data, "attempt"); n > 1 {
				lr.redelivered.Add(1)
			} else {
				lr.dups.Add(1)
			}
		} else if tok && t >= lr.measureFrom && t < lr.measureTo.Load() {
			if s.lat == nil {
				s.lat = new(hist)
			}
			s.lat.add(now - t)
		}
	}
	if len(s.acks) == 0 {
		s.acksSince = time.Now()
	}
	s.acks = append(s.acks, protocol.MessageRef{From: from, ID: id})
	s.mu.Unlock()
	if p == nil {
		lr.r.fail(fmt.Errorf("a message this run did not send: %.200s", data))
	}
	wake(s.ackWake)
}

// receipt is a receipt event on a sender's stream: settle the message,
// free its slot, queue the receipt's ack.
func (lr *loadRun) receipt(s *session, data string) {
	id, to, status := field(data, "id"), field(data, "to"), field(data, "status")
	now := lr.r.now()
	p, seq := lr.pairOf(id, func(p *pair) bool { return p.from == s })
	s.mu.Lock()
	settled := p != nil && p.settle(seq)
	if len(s.racks) == 0 {
		s.racksSince = time.Now()
	}
	s.racks = append(s.racks, protocol.ReceiptRef{To: to, ID: id})
	s.mu.Unlock()
	if !settled {
		lr.dupReceipts.Add(1)
	}
	switch status {
	case protocol.StatusDelivered:
		lr.delivered.Add(1)
		if now >= lr.measureFrom && now < lr.measureTo.Load() {
			lr.deliveredIn.Add(1)
		}
	case protocol.StatusExpired:
		lr.expired.Add(1)
	case protocol.StatusUndeliverable:
		lr.undeliverable.Add(1)
	}
	wake(s.sendWake)
	wake(s.ackWake)
}

// finish counts losses and fills the result.
func (lr *loadRun) finish(recipients []*session) {
	res := lr.r.res.Load
	for _, p := range lr.pairs {
		p.from.mu.Lock()
		out := append([]outMsg(nil), p.out...)
		p.from.mu.Unlock()
		p.to.mu.Lock()
		for _, o := range out {
			switch {
			case !o.accepted:
			case p.seen(o.seq):
				res.Unsettled++
			default:
				res.Lost++
			}
		}
		p.to.mu.Unlock()
	}
	var h hist
	for _, s := range recipients {
		s.mu.Lock()
		if s.lat != nil {
			h.merge(s.lat)
		}
		s.mu.Unlock()
	}
	measured := float64(lr.measureTo.Load()-lr.measureFrom) / 1e9
	lr.r.res.DurationS = round3(max(measured, 0))
	lr.r.res.Latency = latencyOf(&h)
	res.Sent, res.Accepted, res.Rejected = lr.sent.Load(), lr.accepted.Load(), lr.rejected.Load()
	res.Delivered, res.Duplicated, res.Redelivered = lr.delivered.Load(), lr.dups.Load(), lr.redelivered.Load()
	res.Expired, res.Undeliverable, res.Late = lr.expired.Load(), lr.undeliverable.Load(), lr.late.Load()
	res.Posts, res.AckPosts = lr.posts.Load(), lr.acks.Load()
	if measured > 0 {
		res.DeliveredPerS = round3(float64(lr.deliveredIn.Load()) / measured)
		res.SentPerS = round3(float64(lr.acceptedIn.Load()) / measured)
	}
	if n := lr.dupReceipts.Load(); n > 0 {
		lr.r.fail(fmt.Errorf("%d receipts for messages not in flight", n))
	}
}
