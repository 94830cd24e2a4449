// Package impair is a UDP relay that makes a bad network between two peers on one machine:
// it drops, delays with jitter (so datagrams arrive out of order), duplicates and
// rate-limits what it forwards. The kernels we test on have no netem, so uTP's behaviour
// on lossy, jittery, slow paths is exercised through this relay instead.
//
// A peer sends to the relay's address as if it were the other peer; the relay forwards
// from a socket of its own per client address, so the far peer answers the relay, which
// sends the answers back. Each direction is a Link with its own impairments and queue.
// Every random decision comes from a generator seeded by Config.Seed, so a run's sequence
// of drops, duplicates and delays is reproducible.
package impair

import (
	"container/heap"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config describes the impairments of one direction.
type Config struct {
	Loss      float64       // probability that a datagram is dropped
	Duplicate float64       // probability that a datagram is sent twice
	Delay     time.Duration // added to every datagram
	// Jitter spreads each datagram's delay uniformly over Delay±Jitter; datagrams closer
	// together than the spread overtake each other.
	Jitter time.Duration
	// Rate limits the link in bytes per second (0: unlimited). Datagrams queue behind each
	// other as on a slow link; the queue holds at most QueueBytes, and what does not fit
	// is dropped (a drop-tail router).
	Rate       int64
	QueueBytes int // default 256 KiB
	Seed       uint64
}

// Stats counts what a link did.
type Stats struct {
	In         int64 // datagrams offered
	Out        int64 // datagrams delivered (duplicates included)
	Lost       int64 // dropped by Loss
	QueueDrops int64 // dropped because the rate-limited queue was full
	Duplicated int64
	BytesOut   int64
}

// Link is one direction of impaired path. Send queues a datagram; Link delivers it through
// the function given to Send after the delay it picks.
type Link struct {
	cfg Config

	mu        sync.Mutex
	rng       *rand.Rand
	q         pktHeap
	seq       uint64    // tie-break: equal release times keep their order
	busyUntil time.Time // when the rate limiter has sent everything queued so far
	wake      chan struct{}
	closed    bool

	in, out, lost, qdrops, dups, bytesOut atomic.Int64
	done                                  chan struct{}
}

type pkt struct {
	at      time.Time
	seq     uint64
	b       []byte
	deliver func([]byte)
}

type pktHeap []*pkt

func (h pktHeap) Len() int { return len(h) }
func (h pktHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h pktHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *pktHeap) Push(x any)   { *h = append(*h, x.(*pkt)) }
func (h *pktHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

// NewLink starts a link; stream distinguishes the generators of links sharing a seed.
func NewLink(cfg Config, stream uint64) *Link {
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 256 << 10
	}
	l := &Link{
		cfg:  cfg,
		rng:  rand.New(rand.NewPCG(cfg.Seed, stream*0x9e3779b97f4a7c15+1)),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	go l.run()
	return l
}

// Send offers a datagram to the link; b is copied. deliver is called later from the
// link's goroutine, at most twice (a duplicate), never if the datagram is dropped.
func (l *Link) Send(b []byte, deliver func([]byte)) {
	l.send(b, deliver, false)
}

// SendWait is Send for a stream: instead of dropping when the queue is full it waits for
// room, which is how a TCP flow meets a bottleneck (it sees delay, and its own flow
// control slows it). Loss and duplication do not apply.
func (l *Link) SendWait(b []byte, deliver func([]byte)) {
	l.send(b, deliver, true)
}

func (l *Link) send(b []byte, deliver func([]byte), wait bool) {
	l.in.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	copies := 1
	if !wait {
		// Draw both numbers whatever the outcome, so one decision does not shift the
		// next datagram's.
		lossDraw, dupDraw := l.rng.Float64(), l.rng.Float64()
		if lossDraw < l.cfg.Loss {
			l.lost.Add(1)
			return
		}
		if dupDraw < l.cfg.Duplicate {
			copies = 2
			l.dups.Add(1)
		}
	}
	for range copies {
		if l.closed {
			return
		}
		now := time.Now()
		depart := now
		if l.cfg.Rate > 0 {
			// A FIFO drained at Rate holds (busyUntil-now)*Rate bytes.
			backlog := func() int {
				return int(float64(l.busyUntil.Sub(now)) / float64(time.Second) * float64(l.cfg.Rate))
			}
			for wait && backlog() > 0 && backlog()+len(b) > l.cfg.QueueBytes && !l.closed {
				d := time.Duration(float64(backlog()+len(b)-l.cfg.QueueBytes) / float64(l.cfg.Rate) * float64(time.Second))
				l.mu.Unlock()
				time.Sleep(max(d, 100*time.Microsecond))
				l.mu.Lock()
				now = time.Now()
			}
			if l.closed {
				return
			}
			if !wait && backlog()+len(b) > l.cfg.QueueBytes {
				l.qdrops.Add(1)
				continue
			}
			start := l.busyUntil
			if start.Before(now) {
				start = now
			}
			l.busyUntil = start.Add(time.Duration(float64(len(b)) / float64(l.cfg.Rate) * float64(time.Second)))
			depart = l.busyUntil
		}
		at := depart.Add(l.cfg.Delay)
		if l.cfg.Jitter > 0 {
			at = at.Add(time.Duration((l.rng.Float64()*2 - 1) * float64(l.cfg.Jitter)))
		}
		if at.Before(depart) {
			at = depart
		}
		l.seq++
		heap.Push(&l.q, &pkt{at: at, seq: l.seq, b: append([]byte(nil), b...), deliver: deliver})
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *Link) run() {
	defer close(l.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []*pkt
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return
		}
		now := time.Now()
		ready = ready[:0]
		for len(l.q) > 0 && !l.q[0].at.After(now) {
			ready = append(ready, heap.Pop(&l.q).(*pkt))
		}
		var next time.Duration = -1
		if len(l.q) > 0 {
			next = l.q[0].at.Sub(now)
		}
		l.mu.Unlock()
		for _, p := range ready {
			l.out.Add(1)
			l.bytesOut.Add(int64(len(p.b)))
			p.deliver(p.b)
		}
		if len(ready) > 0 {
			continue
		}
		if next >= 0 {
			timer.Reset(next)
			select {
			case <-timer.C:
			case <-l.wake:
				if !timer.Stop() {
					<-timer.C
				}
			}
		} else {
			<-l.wake
		}
	}
}

// Close stops the link; datagrams still queued are dropped. Closing twice is harmless.
func (l *Link) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	<-l.done
}

// Stats returns the link's counters.
func (l *Link) Stats() Stats {
	return Stats{In: l.in.Load(), Out: l.out.Load(), Lost: l.lost.Load(), QueueDrops: l.qdrops.Load(),
		Duplicated: l.dups.Load(), BytesOut: l.bytesOut.Load()}
}

// Relay forwards UDP between clients and one target through two links.
type Relay struct {
	ln     *net.UDPConn
	target netip.AddrPort
	bindIP netip.Addr
	// Up carries client→target datagrams, Down target→client.
	Up, Down *Link

	mu     sync.Mutex
	flows  map[netip.AddrPort]*net.UDPConn
	closed bool
	wg     sync.WaitGroup
}

// NewRelay listens on listen (IP:port) and forwards to target. up and down configure the
// two directions (their generators differ even with one Seed). Upstream sockets bind to
// listen's IP.
func NewRelay(listen, target string, up, down Config) (*Relay, error) {
	u, d := NewLink(up, 1), NewLink(down, 2)
	r, err := NewRelayOnLinks(listen, target, u, d)
	if err != nil {
		u.Close()
		d.Close()
	}
	return r, err
}

// NewRelayOnLinks is NewRelay over links the caller made, which other relays or TCP proxies
// may share: traffic through one link competes for its rate and queue. Close closes them.
func NewRelayOnLinks(listen, target string, up, down *Link) (*Relay, error) {
	la, err := netip.ParseAddrPort(listen)
	if err != nil {
		return nil, err
	}
	ta, err := netip.ParseAddrPort(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(la))
	if err != nil {
		return nil, err
	}
	_ = ln.SetReadBuffer(4 << 20)
	_ = ln.SetWriteBuffer(4 << 20)
	r := &Relay{ln: ln, target: ta, bindIP: la.Addr(), Up: up, Down: down,
		flows: make(map[netip.AddrPort]*net.UDPConn)}
	r.wg.Add(1)
	go r.readClients()
	return r, nil
}

// Addr is where clients send.
func (r *Relay) Addr() net.Addr { return r.ln.LocalAddr() }

func (r *Relay) readClients() {
	defer r.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := r.ln.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		up, err := r.flow(from)
		if err != nil {
			continue
		}
		r.Up.Send(buf[:n], func(b []byte) { up.Write(b) })
	}
}

// flow returns the upstream socket for a client, opening it on first use.
func (r *Relay) flow(client netip.AddrPort) (*net.UDPConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, net.ErrClosed
	}
	if c := r.flows[client]; c != nil {
		return c, nil
	}
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.bindIP, 0)), net.UDPAddrFromAddrPort(r.target))
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	r.flows[client] = c
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				// ECONNREFUSED from an ICMP port unreachable: the target is not up
				// yet or has gone; keep the flow.
				continue
			}
			r.Down.Send(buf[:n], func(b []byte) { r.ln.WriteToUDPAddrPort(b, client) })
		}
	}()
	return c, nil
}

// Close stops the relay.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	flows := r.flows
	r.flows = nil
	r.mu.Unlock()
	err := r.ln.Close()
	for _, c := range flows {
		c.Close()
	}
	r.Up.Close()
	r.Down.Close()
	r.wg.Wait()
	return err
}

// TCPProxy forwards TCP connections to a target, sending the client→target bytes through a
// link (rate and queue, not loss: TCP below us would repair it) and the answers straight
// back. A TCP flow and a uTP relay on one link compete as on a shared bottleneck.
type TCPProxy struct {
	ln     net.Listener
	target string
	fwd    *Link
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

// NewTCPProxy listens on listen and forwards to target through fwd.
func NewTCPProxy(listen, target string, fwd *Link) (*TCPProxy, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &TCPProxy{ln: ln, target: target, fwd: fwd}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is where clients connect.
func (p *TCPProxy) Addr() net.Addr { return p.ln.Addr() }

func (p *TCPProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *TCPProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c) || !p.track(up) {
			return
		}
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			buf := make([]byte, 1400)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					// Segments queue in order on the link and are written in order
					// by its goroutine.
					p.fwd.SendWait(buf[:n], func(b []byte) { up.Write(b) })
				}
				if err != nil {
					return
				}
			}
		}()
		go func() {
			defer p.wg.Done()
			buf := make([]byte, 32<<10)
			for {
				n, err := up.Read(buf)
				if n > 0 {
					c.Write(buf[:n])
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// Close stops the proxy and its connections (not the link).
func (p *TCPProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
	return err
}
