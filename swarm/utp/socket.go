package utp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// connKey identifies a connection: the remote address and the connection id its packets
// carry to us (our receive id).
type connKey struct {
	addr netip.AddrPort
	id   uint16
}

type datagram struct {
	b    []byte
	addr net.Addr
}

// Stats counts what a socket has done. Every field only grows except Conns and HalfOpen.
type Stats struct {
	Conns           int   // connections now held, lingering ones included
	HalfOpen        int   // accepted connections that have sent nothing after their SYN
	PacketsIn       int64 // uTP packets received
	PacketsOut      int64 // uTP packets sent, retransmissions and ACKs included
	Retransmits     int64 // DATA/FIN/SYN packets sent again
	Timeouts        int64 // retransmission timeouts
	ResetsSent      int64 // RESETs sent
	SynsDropped     int64 // SYNs dropped for a full table, backlog or half-open cap
	Invalid         int64 // uTP-looking packets that failed to parse or to match
	DatagramsOut    int64 // non-uTP datagrams handed to ReadFrom
	DatagramsDrop   int64 // non-uTP datagrams dropped because ReadFrom fell behind
	SpuriousResends int64 // retransmissions the peer turned out not to need
	Unreachable     int64 // ICMP port unreachable errors received for our datagrams
}

type socket struct {
	pc  net.PacketConn
	udp *net.UDPConn // pc, when it is one: faster reads and writes
	// Linux offloads (offload_linux.go): rawConn is udp's descriptor, gro says reads may
	// return coalesced runs of datagrams, gso that sends may.
	rawConn syscall.RawConn
	gro     bool
	gso     atomic.Bool
	ipv6    bool // an AF_INET6 socket: IPv4 peers are reached through mapped addresses
	cfg     Config
	logger  *slog.Logger
	epoch   time.Time
	local   net.Addr

	mu       sync.RWMutex
	conns    map[connKey]*Conn
	firewall FirewallCallback

	halfOpen   atomic.Int32
	dgramBytes atomic.Int64 // bytes waiting in dgrams
	backlog    chan *Conn
	dgrams     chan datagram
	closed     chan struct{}
	closeMu    sync.Once
	rdl        deadline // for ReadFrom

	// testSeq, when set, picks initial sequence numbers (tests start near the wrap).
	testSeq atomic.Pointer[func() uint16]

	// Used by the read loop only.
	ackQueue []*Conn

	resetMu     sync.Mutex
	resetTokens float64
	resetAt     time.Time

	st struct {
		packetsIn, packetsOut, retransmits, timeouts, resetsSent, synsDropped, invalid,
		dgramsOut, dgramsDrop, spurious, unreachable atomic.Int64
	}
}

func newSocket(pc net.PacketConn, cfg Config, logger *slog.Logger) *socket {
	s := &socket{
		pc:      pc,
		cfg:     cfg,
		logger:  logger,
		epoch:   time.Now(),
		local:   pc.LocalAddr(),
		conns:   make(map[connKey]*Conn),
		backlog: make(chan *Conn, cfg.AcceptBacklog),
		dgrams:  make(chan datagram, cfg.DatagramQueue),
		closed:  make(chan struct{}),
		rdl:     makeDeadline(),
	}
	if u, ok := pc.(*net.UDPConn); ok {
		s.udp = u
		// Bigger kernel buffers absorb bursts while the read loop is descheduled; the
		// kernel caps them at its own limits, and failure here is harmless.
		_ = u.SetReadBuffer(4 << 20)
		_ = u.SetWriteBuffer(4 << 20)
		if la, ok := u.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() == nil {
			s.ipv6 = true
		}
		s.initOffload()
	}
	s.startReader()
	return s
}

func (s *socket) initialSeq() uint16 {
	if f := s.testSeq.Load(); f != nil {
		return (*f)()
	}
	return uint16(rand.Uint32())
}

// micros is our clock for uTP timestamps: microseconds since the socket opened, wrapping.
func (s *socket) micros(t time.Time) uint32 { return uint32(t.Sub(s.epoch).Microseconds()) }

func (s *socket) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// readLoop is the portable read loop: every datagram is processed as it comes, and pending
// ACKs go out after each one.
func (s *socket) readLoop() {
	buf := make([]byte, maxDatagram+1)
	for {
		n, addr, err := s.pc.ReadFrom(buf)
		if err != nil {
			if s.readFailed(err) {
				return
			}
			continue
		}
		s.handleDatagram(buf[:n], addrPortOf(addr), time.Now())
		s.drained()
	}
}

// readFailed reports whether the read loop must stop after err.
func (s *socket) readFailed(err error) bool {
	if s.isClosed() || errors.Is(err, net.ErrClosed) {
		s.shutdown(net.ErrClosed)
		return true
	}
	// ICMP errors surface on some systems as read errors on an unconnected socket; they
	// say nothing about other peers.
	s.logger.Debug("utp: read error", "err", err)
	time.Sleep(time.Millisecond)
	return false
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.UDPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	default:
		ap, _ := netip.ParseAddrPort(a.String())
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
}

// handleDatagram routes one datagram: uTP to its connection, anything else to ReadFrom.
func (s *socket) handleDatagram(b []byte, from netip.AddrPort, now time.Time) {
	if !looksLikeUTP(b) {
		s.passOn(b, from)
		return
	}
	p, err := parsePacket(b)
	if err != nil {
		// It looked like uTP but is not well formed: let the other reader judge it.
		s.st.invalid.Add(1)
		s.passOn(b, from)
		return
	}
	s.st.packetsIn.Add(1)
	switch p.typ {
	case stSyn:
		s.handleSyn(&p, from, now)
	case stReset:
		if c := s.lookupReset(from, p.connID); c != nil {
			c.handleReset()
		}
	default:
		s.mu.RLock()
		c := s.conns[connKey{from, p.connID}]
		s.mu.RUnlock()
		if c == nil {
			s.st.invalid.Add(1)
			s.sendReset(from, p.connID, p.seq)
			return
		}
		c.handlePacket(&p, now)
	}
}

func (s *socket) passOn(b []byte, from netip.AddrPort) {
	if s.dgramBytes.Load()+int64(len(b)) > int64(s.cfg.DatagramQueueBytes) {
		s.st.dgramsDrop.Add(1)
		return
	}
	d := datagram{b: append([]byte(nil), b...), addr: net.UDPAddrFromAddrPort(from)}
	select {
	case s.dgrams <- d:
		s.dgramBytes.Add(int64(len(b)))
		s.st.dgramsOut.Add(1)
	default:
		s.st.dgramsDrop.Add(1)
	}
}

// lookupReset finds the connection a RESET is for. Implementations disagree on the id a
// RESET carries (ours, or the one we send with), so try each as libutp does.
func (s *socket) lookupReset(from netip.AddrPort, id uint16) *Conn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if c := s.conns[connKey{from, id}]; c != nil {
		return c
	}
	for _, rid := range []uint16{id + 1, id - 1} {
		if c := s.conns[connKey{from, rid}]; c != nil && c.sendID == id {
			return c
		}
	}
	return nil
}

func (s *socket) handleSyn(p *packet, from netip.AddrPort, now time.Time) {
	key := connKey{from, p.connID + 1}
	s.mu.Lock()
	if c := s.conns[key]; c != nil {
		s.mu.Unlock()
		if c.sendID == p.connID && !c.outgoing {
			// The peer did not get our STATE: the connection handles the repeat.
			c.handlePacket(p, now)
		}
		return
	}
	if s.isClosed() || len(s.conns) >= s.cfg.MaxConns || int(s.halfOpen.Load()) >= s.cfg.MaxHalfOpen ||
		len(s.backlog) >= cap(s.backlog) || !from.IsValid() || from.Port() == 0 {
		s.mu.Unlock()
		s.st.synsDropped.Add(1)
		return
	}
	c := newConn(s, from, key.id, p.connID, false)
	c.initAccepted(p, now)
	s.conns[key] = c
	s.halfOpen.Add(1)
	fw := s.firewall
	s.mu.Unlock()
	if fw == nil {
		s.admit(c)
		return
	}
	// The callback may take the torrent library's locks; the read loop must never wait on
	// them, or a caller holding one while it waits for our ACKs would deadlock us both.
	// The connection counts as half-open meanwhile, which bounds these goroutines.
	go func() {
		if fw(c.RemoteAddr()) {
			c.reset()
			return
		}
		s.admit(c)
	}()
}

// admit answers the SYN of an accepted connection and queues it for Accept.
func (s *socket) admit(c *Conn) {
	c.mu.Lock()
	if c.state != stateConnected {
		c.mu.Unlock()
		return
	}
	select {
	case s.backlog <- c:
		c.admitted = true
		c.sendState(time.Now())
		c.armTimer()
		c.mu.Unlock()
	default:
		// Accept is not keeping up: refuse rather than hold more.
		s.st.synsDropped.Add(1)
		c.sendReset()
		c.destroy(errors.New("utp: accept backlog full"))
		c.mu.Unlock()
	}
}

// sendReset answers a packet for a connection we do not have, at a bounded rate.
func (s *socket) sendReset(to netip.AddrPort, id, ackSeq uint16) {
	s.resetMu.Lock()
	now := time.Now()
	rate := float64(s.cfg.ResetsPerSecond)
	s.resetTokens = min(rate, s.resetTokens+now.Sub(s.resetAt).Seconds()*rate)
	s.resetAt = now
	ok := s.resetTokens >= 1
	if ok {
		s.resetTokens--
	}
	s.resetMu.Unlock()
	if !ok {
		return
	}
	p := packet{header: header{typ: stReset, connID: id, timestamp: s.micros(now), seq: uint16(rand.Uint32()), ack: ackSeq}}
	var b [headerSize]byte
	s.write(p.encode(b[:0]), to)
	s.st.resetsSent.Add(1)
}

func (s *socket) write(b []byte, to netip.AddrPort) error {
	s.st.packetsOut.Add(1)
	var err error
	for try := 0; try < 2; try++ {
		if s.udp != nil {
			_, err = s.udp.WriteToUDPAddrPort(b, to)
		} else {
			_, err = s.pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
		}
		if !s.asyncError(err) {
			break
		}
	}
	return err
}

// queueAck asks for conn's ACK to go out once the read loop has drained the socket.
func (s *socket) queueAck(c *Conn) { s.ackQueue = append(s.ackQueue, c) }

// drained runs when the read loop has nothing more to read: one ACK per connection covers
// everything that arrived in the burst.
func (s *socket) drained() {
	q := s.ackQueue
	s.ackQueue = q[:0]
	for i, c := range q {
		c.sendQueuedAck()
		q[i] = nil
	}
}

// asyncError reports whether a send failed only because an ICMP error about an earlier
// datagram, perhaps to another address, was pending on the socket (Linux reports it on the
// next call, send or receive); the send is then worth repeating. The error queue is drained
// on the way, and connections to the addresses it names are ended.
func (s *socket) asyncError(err error) bool {
	if err == nil || s.rawConn == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	var gone []netip.AddrPort
	s.rawConn.Control(func(fd uintptr) { gone = s.drainErrQueue(int(fd)) })
	for _, ap := range gone {
		// Writers hold a connection's lock, maybe of one to this very address.
		go s.unreachable(ap)
	}
	return true
}

// unreachable ends the connections to an address that answered with ICMP port
// unreachable: a dial is refused, an established connection reset.
func (s *socket) unreachable(to netip.AddrPort) {
	s.st.unreachable.Add(1)
	var hit []*Conn
	s.mu.RLock()
	for k, c := range s.conns {
		if k.addr == to {
			hit = append(hit, c)
		}
	}
	s.mu.RUnlock()
	for _, c := range hit {
		c.mu.Lock()
		if c.state == stateSynSent {
			c.destroy(errRefused)
		} else {
			c.destroy(errUnreachable)
		}
		c.mu.Unlock()
	}
}

func (s *socket) remove(c *Conn) {
	s.mu.Lock()
	if s.conns[connKey{c.raddr, c.recvID}] == c {
		delete(s.conns, connKey{c.raddr, c.recvID})
	}
	s.mu.Unlock()
}

// Accept returns the next incoming connection that the firewall callback lets through.
func (s *socket) Accept() (net.Conn, error) {
	for {
		select {
		case <-s.closed:
			return nil, &net.OpError{Op: "accept", Net: "udp", Addr: s.local, Err: net.ErrClosed}
		case c := <-s.backlog:
			return c, nil
		}
	}
}

func (s *socket) Addr() net.Addr { return s.local }

func (s *socket) SetFirewallCallback(f FirewallCallback) {
	s.mu.Lock()
	s.firewall = f
	s.mu.Unlock()
}

func (s *socket) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: network, Source: s.local, Err: err} }
	switch network {
	case "utp", "udp", "udp4", "udp6", "":
	default:
		return nil, opErr(fmt.Errorf("utp: unsupported network %q", network))
	}
	to, err := resolve(ctx, network, addr)
	if err != nil {
		return nil, opErr(err)
	}
	c, err := s.newOutgoing(to)
	if err != nil {
		return nil, opErr(err)
	}
	select {
	case <-c.connected:
		return c, nil
	case <-c.dead:
		return nil, opErr(c.deadErr())
	case <-ctx.Done():
		c.destroy(ctx.Err())
		return nil, opErr(ctx.Err())
	}
}

func resolve(ctx context.Context, network, addr string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
	}
	if network == "utp" || network == "" {
		network = "udp"
	}
	ua, err := (&net.Resolver{}).LookupNetIP(ctx, map[string]string{"udp": "ip", "udp4": "ip4", "udp6": "ip6"}[network], hostOf(addr))
	if err != nil || len(ua) == 0 {
		if err == nil {
			err = errors.New("no address")
		}
		return netip.AddrPort{}, err
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	pn, err := net.LookupPort("udp", port)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(ua[0].Unmap(), uint16(pn)), nil
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// newOutgoing registers a connection under a free receive id and sends its SYN.
func (s *socket) newOutgoing(to netip.AddrPort) (*Conn, error) {
	if !to.IsValid() || to.Port() == 0 {
		return nil, errors.New("utp: invalid address")
	}
	s.mu.Lock()
	if s.isClosed() {
		s.mu.Unlock()
		return nil, net.ErrClosed
	}
	if len(s.conns) >= s.cfg.MaxConns {
		s.mu.Unlock()
		return nil, errors.New("utp: too many connections")
	}
	var id uint16
	for range 64 {
		id = uint16(rand.Uint32())
		// Our receive id and the peer's (id+1) must both be free towards this address, or
		// packets of two connections could be confused.
		if s.conns[connKey{to, id}] == nil && s.conns[connKey{to, id + 1}] == nil && s.conns[connKey{to, id - 1}] == nil {
			break
		}
	}
	c := newConn(s, to, id, id+1, true)
	s.conns[connKey{to, id}] = c
	s.mu.Unlock()
	c.mu.Lock()
	c.sendSyn(time.Now())
	c.mu.Unlock()
	return c, nil
}

// ReadFrom returns the next datagram that is not uTP.
func (s *socket) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		select {
		case <-s.closed:
			return 0, nil, &net.OpError{Op: "read", Net: "udp", Addr: s.local, Err: net.ErrClosed}
		case <-s.rdl.wait():
			return 0, nil, &net.OpError{Op: "read", Net: "udp", Addr: s.local, Err: os.ErrDeadlineExceeded}
		default:
		}
		select {
		case d := <-s.dgrams:
			s.dgramBytes.Add(-int64(len(d.b)))
			return copy(b, d.b), d.addr, nil
		case <-s.closed:
		case <-s.rdl.wait():
		}
	}
}

// WriteTo sends a datagram that is not uTP (the DHT's).
func (s *socket) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := s.pc.WriteTo(b, addr)
	if s.asyncError(err) {
		n, err = s.pc.WriteTo(b, addr)
	}
	return n, err
}

func (s *socket) LocalAddr() net.Addr { return s.local }

// SetDeadline sets the read deadline of ReadFrom and the write deadline of the underlying
// socket; uTP connections have their own.
func (s *socket) SetDeadline(t time.Time) error {
	s.rdl.set(t)
	return nil
}

func (s *socket) SetReadDeadline(t time.Time) error {
	s.rdl.set(t)
	return nil
}

// SetWriteDeadline is accepted and ignored: UDP writes do not block for long, and a deadline
// on the shared socket would fail uTP connections' writes too.
func (s *socket) SetWriteDeadline(t time.Time) error { return nil }

// Close closes the socket: every connection is reset, Accept and ReadFrom return.
func (s *socket) Close() error {
	var err error
	s.closeMu.Do(func() {
		s.mu.Lock()
		close(s.closed)
		conns := make([]*Conn, 0, len(s.conns))
		for _, c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.reset()
		}
		err = s.pc.Close()
	})
	return err
}

// shutdown ends every connection when the socket fails under us.
func (s *socket) shutdown(err error) {
	s.closeMu.Do(func() {
		s.mu.Lock()
		close(s.closed)
		conns := make([]*Conn, 0, len(s.conns))
		for _, c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.mu.Lock()
			c.destroy(err)
			c.mu.Unlock()
		}
		s.pc.Close()
	})
}

func (s *socket) Stats() Stats {
	s.mu.RLock()
	n := len(s.conns)
	s.mu.RUnlock()
	return Stats{
		Conns:           n,
		HalfOpen:        int(s.halfOpen.Load()),
		PacketsIn:       s.st.packetsIn.Load(),
		PacketsOut:      s.st.packetsOut.Load(),
		Retransmits:     s.st.retransmits.Load(),
		Timeouts:        s.st.timeouts.Load(),
		ResetsSent:      s.st.resetsSent.Load(),
		SynsDropped:     s.st.synsDropped.Load(),
		Invalid:         s.st.invalid.Load(),
		DatagramsOut:    s.st.dgramsOut.Load(),
		DatagramsDrop:   s.st.dgramsDrop.Load(),
		SpuriousResends: s.st.spurious.Load(),
		Unreachable:     s.st.unreachable.Load(),
	}
}

// deadline is a resettable timer whose channel closes when it passes (the pattern of
// net.Pipe): waiters select on wait() alongside their other events.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{}
}

func makeDeadline() deadline { return deadline{cancel: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the timer fired: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosedChan(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func (d *deadline) expired() bool { return isClosedChan(d.wait()) }

func isClosedChan(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// errTimedOut ends a connection whose peer stopped answering.
var errTimedOut = fmt.Errorf("utp: peer stopped answering: %w", syscall.ETIMEDOUT)

// errReset ends a connection the peer reset.
var errReset = fmt.Errorf("utp: connection reset by peer: %w", syscall.ECONNRESET)

// errUnreachable ends a connection whose peer's port answered ICMP port unreachable.
var errUnreachable = fmt.Errorf("utp: peer's port unreachable: %w", syscall.ECONNRESET)

// errRefused ends a dial the peer reset.
var errRefused = fmt.Errorf("utp: connection refused: %w", syscall.ECONNREFUSED)
