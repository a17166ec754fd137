package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DialN opens n connections on path, at most 32 handshakes at a time. On an
// error it closes the ones already open.
func DialN(addr, path string, n int) ([]*Conn, error) {
	conns := make([]*Conn, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conns[i], errs[i] = Dial(addr, path)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		CloseAll(conns)
		return nil, err
	}
	return conns, nil
}

// CloseAll closes every non-nil connection.
func CloseAll(conns []*Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

// spreadSlots is how many broadcasts a Push run can tell apart: sequence
// numbers are kept modulo this, so a run must see fewer broadcasts.
const spreadSlots = 1 << 18

// slot records when the clients received one broadcast.
type slot struct {
	first, last atomic.Int64 // ns since the run's epoch; 0: none yet
	ts          atomic.Int64 // the message's "ts", Unix ms; 0: not seen yet
	count       atomic.Int32
	onTime      atomic.Int32 // copies received within the lag bound of ts
}

// Push receives broadcasts on a set of connections and records, for every
// sequence number, when the first and the last client got it, and how many
// clients got it within a lag bound of the time in its "ts" field.
type Push struct {
	epoch  time.Time
	wall   int64         // epoch as Unix ns
	bound  time.Duration // lag bound of the on-time counts
	slots  []slot
	counts []atomic.Int64  // frames received per connection
	newest []atomic.Uint64 // highest sequence number per connection
	maxSeq atomic.Uint64
	conns  []*Conn
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error // first read error other than the end of the run
	done   atomic.Bool
}

// StartPush starts a reader on each connection. A frame counts as on time
// when it arrives at most lagBound after the time in its "ts" field
// (Unix milliseconds, as the push messages carry the time their broadcast
// was due).
func StartPush(conns []*Conn, lagBound time.Duration) *Push {
	p := &Push{epoch: time.Now(), bound: lagBound, slots: make([]slot, spreadSlots), counts: make([]atomic.Int64, len(conns)), newest: make([]atomic.Uint64, len(conns)), conns: conns}
	p.wall = p.epoch.UnixNano()
	for i, c := range conns {
		p.wg.Go(func() { p.read(i, c) })
	}
	return p
}

func (p *Push) read(i int, c *Conn) {
	buf := make([]byte, 1024)
	for {
		op, payload, err := c.ReadFrame(buf)
		if err != nil {
			p.fail(err)
			return
		}
		now := int64(time.Since(p.epoch))
		if op == OpClose {
			p.fail(fmt.Errorf("server closed connection %d", i))
			return
		}
		if op != OpText {
			continue
		}
		seq, ok := pushSeq(payload)
		if !ok {
			p.fail(fmt.Errorf("%w: no seq in %q", ErrFrame, payload))
			return
		}
		p.counts[i].Add(1)
		for m := p.maxSeq.Load(); seq > m && !p.maxSeq.CompareAndSwap(m, seq); m = p.maxSeq.Load() {
		}
		s := &p.slots[seq%spreadSlots]
		ts := s.ts.Load()
		if ts == 0 {
			v, ok := pushTS(payload)
			if !ok {
				p.fail(fmt.Errorf("%w: no ts in %q", ErrFrame, payload))
				return
			}
			s.ts.CompareAndSwap(0, v)
			ts = v
		}
		if p.wall+now-ts*int64(time.Millisecond) <= int64(p.bound) {
			s.onTime.Add(1)
		}
		s.count.Add(1)
		if seq > p.newest[i].Load() { // this reader is its only writer
			p.newest[i].Store(seq)
		}
		for f := s.first.Load(); (f == 0 || now < f) && !s.first.CompareAndSwap(f, now); f = s.first.Load() {
		}
		for l := s.last.Load(); now > l && !s.last.CompareAndSwap(l, now); l = s.last.Load() {
		}
	}
}

func (p *Push) fail(err error) {
	if p.done.Load() {
		return
	}
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

// Received is the number of push frames received so far by all clients.
func (p *Push) Received() int64 {
	var n int64
	for i := range p.counts {
		n += p.counts[i].Load()
	}
	return n
}

// MaxSeq is the highest sequence number received so far.
func (p *Push) MaxSeq() uint64 { return p.maxSeq.Load() }

// Unbounded is the lag of a broadcast that some client never received.
const Unbounded = time.Duration(math.MaxInt64)

// Spread summarises the broadcasts numbered from..to-1.
type Spread struct {
	Broadcasts int     // sequence numbers in the range
	Sent       int     // of them, received by at least one client
	Complete   int     // of them, received by every client
	Delivered  float64 // frames received / (broadcasts × clients)
	// OnTime is the frames received within the lag bound of their "ts",
	// divided by broadcasts × clients.
	OnTime   float64
	P50, P99 time.Duration // first-to-last receive time of complete broadcasts
	// LagP50 and LagP99 are percentiles of the lag of the sent broadcasts:
	// the receive time of the last copy minus "ts", Unbounded for one that
	// did not reach every client. CompleteLagP99 is over the complete ones
	// only. ts has millisecond resolution (truncated), so each lag is up to
	// 1 ms more than the true one.
	LagP50, LagP99, CompleteLagP99 time.Duration
}

// Spread reports the fan-out spread and lag of broadcasts from..to-1. The
// range must hold fewer than 262,144 sequence numbers.
func (p *Push) Spread(from, to uint64) Spread {
	var sp Spread
	var spreads, lags, complete []time.Duration
	var got, onTime int64
	clients := len(p.conns)
	for seq := from; seq < to; seq++ {
		s := &p.slots[seq%spreadSlots]
		sp.Broadcasts++
		n := int(s.count.Load())
		got += int64(n)
		onTime += int64(s.onTime.Load())
		if n == 0 {
			continue
		}
		sp.Sent++
		if n < clients {
			lags = append(lags, Unbounded)
			continue
		}
		sp.Complete++
		spreads = append(spreads, time.Duration(s.last.Load()-s.first.Load()))
		lag := time.Duration(p.wall + s.last.Load() - s.ts.Load()*int64(time.Millisecond))
		lags = append(lags, lag)
		complete = append(complete, lag)
	}
	if sp.Broadcasts > 0 && clients > 0 {
		sp.Delivered = float64(got) / float64(sp.Broadcasts*clients)
		sp.OnTime = float64(onTime) / float64(sp.Broadcasts*clients)
	}
	sp.P50, sp.P99 = Percentile(spreads, 50), Percentile(spreads, 99)
	sp.LagP50, sp.LagP99 = Percentile(lags, 50), Percentile(lags, 99)
	sp.CompleteLagP99 = Percentile(complete, 99)
	return sp
}

// Fresh returns the share of clients whose newest broadcast received so
// far has a "ts" no more than maxAge before now (a client that received
// nothing is not fresh): whether the clients are keeping up with the
// latest reading at this moment.
func (p *Push) Fresh(maxAge time.Duration) float64 {
	if len(p.conns) == 0 {
		return 0
	}
	oldest := time.Now().UnixNano() - int64(maxAge)
	fresh := 0
	for i := range p.newest {
		seq := p.newest[i].Load()
		if seq == 0 {
			continue
		}
		if ts := p.slots[seq%spreadSlots].ts.Load(); ts*int64(time.Millisecond) >= oldest {
			fresh++
		}
	}
	return float64(fresh) / float64(len(p.conns))
}

// Stop closes the connections, waits for the readers and returns the first
// error a reader met before Stop.
func (p *Push) Stop() error {
	p.done.Store(true)
	CloseAll(p.conns)
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Percentile returns the q-th percentile (nearest rank) of d, 0 if empty.
// It sorts d.
func Percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(q/100*float64(len(d))+0.5) - 1
	return d[max(0, min(i, len(d)-1))]
}

// Echo drives pipelined echo traffic: each connection keeps up to Window
// messages of Size bytes in flight and checks every echo.
type Echo struct {
	conns  []*Conn
	counts []atomic.Int64
	wg     sync.WaitGroup
	stop   chan struct{}
	mu     sync.Mutex
	err    error
	done   atomic.Bool
}

// StartEcho starts a writer and a reader on each connection.
func StartEcho(conns []*Conn, window, size int) *Echo {
	e := &Echo{conns: conns, counts: make([]atomic.Int64, len(conns)), stop: make(chan struct{})}
	msg := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
	frame := AppendFrame(nil, 2, msg)
	for i, c := range conns {
		credits := make(chan struct{}, window)
		for range window {
			credits <- struct{}{}
		}
		e.wg.Go(func() { e.write(c, credits, frame, window) })
		e.wg.Go(func() { e.read(i, c, credits, msg) })
	}
	return e
}

func (e *Echo) write(c *Conn, credits chan struct{}, frame []byte, window int) {
	out := make([]byte, 0, window*len(frame))
	for {
		select {
		case <-e.stop:
			return
		case <-credits:
		}
		out = append(out[:0], frame...)
	more:
		for range window - 1 {
			select {
			case <-credits:
				out = append(out, frame...)
			default:
				break more
			}
		}
		if _, err := c.nc.Write(out); err != nil {
			e.fail(err)
			return
		}
	}
}

func (e *Echo) read(i int, c *Conn, credits chan struct{}, msg []byte) {
	buf := make([]byte, 2*len(msg)+64)
	for {
		op, p, err := c.ReadFrame(buf)
		if err != nil {
			e.fail(err)
			return
		}
		if op != 2 || !bytes.Equal(p, msg) {
			e.fail(fmt.Errorf("%w: echo of opcode %d, %d bytes differs", ErrFrame, op, len(p)))
			return
		}
		e.counts[i].Add(1)
		credits <- struct{}{}
	}
}

func (e *Echo) fail(err error) {
	if e.done.Load() {
		return
	}
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
}

// Received is the number of echoes received so far.
func (e *Echo) Received() int64 {
	var n int64
	for i := range e.counts {
		n += e.counts[i].Load()
	}
	return n
}

// Stop ends the traffic, closes the connections and returns the first error
// met before Stop.
func (e *Echo) Stop() error {
	e.done.Store(true)
	close(e.stop)
	CloseAll(e.conns)
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}
