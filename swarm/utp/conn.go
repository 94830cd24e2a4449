package utp

import (
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

type connState uint8

const (
	stateSynSent connState = iota
	stateConnected
	stateDestroyed
)

const (
	// synRetries is how many times a SYN is sent again before the dial fails: with the
	// doubling timeout, after 1+2+4+8 = 15 s.
	synRetries = 3
	// maxTimeouts ends a connection whose peer has not acknowledged anything through this
	// many consecutive retransmission timeouts (about a minute with backoff).
	maxTimeouts = 8
	maxRTO      = 20 * time.Second
	// finWait is how long a closed connection whose FIN was acknowledged waits for the
	// peer's FIN, acknowledging what the peer still sends.
	finWait = 2 * time.Second

	// ackEvery forces an ACK after this many in-order packets even while the read loop has
	// more to read, so the sender's window keeps moving during long bursts.
	ackEvery = 8
	// maxOutstanding bounds packets sent and not yet cumulatively acknowledged: well
	// below half the sequence space, so comparisons stay unambiguous.
	maxOutstanding = 8192
	// gainPerRTT is LEDBAT's largest window increase per round trip (bytes), libutp's
	// MAX_CWND_INCREASE_BYTES_PER_RTT.
	gainPerRTT = 3000
	// baseBuckets minutes of history decide the base delay, so a route change or clock
	// drift is forgotten within that time.
	baseBuckets = 10
)

// Conn is a uTP connection. It implements net.Conn; CloseWrite half-closes it.
type Conn struct {
	s        *socket
	raddr    netip.AddrPort
	remote   *net.UDPAddr
	recvID   uint16 // connection id of packets to us
	sendID   uint16 // connection id of packets we send
	outgoing bool
	mss      int // payload bytes per full DATA packet

	readMu, writeMu sync.Mutex
	readable        chan struct{} // signalled when Read may make progress
	writable        chan struct{} // signalled when Write may make progress
	connected       chan struct{} // closed once the handshake completes
	dead            chan struct{} // closed on destroy
	rdl, wdl        deadline

	mu         sync.Mutex
	state      connState
	err        error // why the connection ended
	confirmed  bool  // the peer sent something besides a SYN
	admitted   bool  // accepted: the firewall let it through and our STATE went out
	userClosed bool

	// Sending.
	seqNr         uint16 // next sequence number we use
	ackedSeq      uint16 // everything up to here is acknowledged
	out           outRing
	outPkts       int // packets in out
	inflight      int // payload bytes sent and not yet acked or declared lost
	numNeedResend int
	sendBuf       byteRing
	finQueued     bool
	finSent       bool
	finAcked      bool
	finSeq        uint16
	finAckedAt    time.Time
	peerWnd       int
	probe         bool // send one packet despite a zero window

	// Congestion control.
	cwnd      float64
	ssthresh  float64
	slowStart bool
	lossSeq   uint16 // losses up to here belong to the last window cut
	prevCwnd  float64
	canUndo   bool
	dupAcks   int
	rackSent  time.Time // send time of the latest-sent packet known delivered
	reoSteps  int       // reordering window in quarters of the minimum RTT
	numTO     int       // consecutive timeouts
	rto       time.Duration
	srtt      time.Duration
	rttvar    time.Duration
	minRTT    time.Duration
	hasRTT    bool
	ackRTT    time.Duration // shortest round trip among packets the current packet acked

	// Delay measurement (LEDBAT).
	baseHist   [baseBuckets]uint32
	baseIdx    int
	baseN      int
	baseStart  time.Time
	base       uint32
	recent     [3]uint32
	recentN    int
	ourDelay   time.Duration
	haveDelay  bool
	replyMicro uint32 // our receive clock minus the peer's last timestamp

	// Receiving.
	ackNr       uint16 // last sequence number received in order
	recvBuf     byteRing
	reorder     reorderRing
	gotFin      bool
	eofSeq      uint16
	eofReached  bool
	ackPending  bool
	ackQueued   bool
	unackedPkts int
	lastAdvWnd  int

	// tx collects the packets of one flush for a single GSO send.
	tx txBatch

	// Timers: one time.Timer serves all deadlines; it is re-armed lazily.
	timer    *time.Timer
	timerAt  time.Time
	rtoAt    time.Time
	probeAt  time.Time
	lingerAt time.Time
	halfAt   time.Time // a half-open accepted connection is dropped then
	lastSend time.Time // for keep-alives
}

func newConn(s *socket, raddr netip.AddrPort, recvID, sendID uint16, outgoing bool) *Conn {
	pkt := s.cfg.PacketSize
	if pkt == 0 {
		pkt = 1400
		if raddr.Addr().Is6() {
			pkt = 1232
		}
	}
	c := &Conn{
		s:         s,
		raddr:     raddr,
		remote:    net.UDPAddrFromAddrPort(raddr),
		recvID:    recvID,
		sendID:    sendID,
		outgoing:  outgoing,
		mss:       pkt - headerSize,
		readable:  make(chan struct{}, 1),
		writable:  make(chan struct{}, 1),
		connected: make(chan struct{}),
		dead:      make(chan struct{}),
		rdl:       makeDeadline(),
		wdl:       makeDeadline(),
		rto:       time.Second,
		slowStart: true,
		reoSteps:  1,
	}
	c.cwnd = float64(4 * c.mss)
	return c
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sendSyn starts an outgoing connection. Called with c.mu held.
func (c *Conn) sendSyn(now time.Time) {
	c.state = stateSynSent
	c.seqNr = c.s.initialSeq()
	c.ackedSeq = c.seqNr - 1
	c.lossSeq = c.seqNr
	op := newOutPacket(stSyn, c.seqNr, 0)
	c.out.put(op)
	c.outPkts++
	c.seqNr++
	c.transmit(op, now)
	c.flushTx()
	c.armTimer()
}

// initAccepted sets up a connection from a peer's SYN; admit answers it. The connection is
// not shared yet, so no lock is needed.
func (c *Conn) initAccepted(p *packet, now time.Time) {
	c.state = stateConnected
	close(c.connected)
	c.seqNr = c.s.initialSeq()
	c.ackedSeq = c.seqNr - 1
	c.lossSeq = c.ackedSeq
	c.ackNr = p.seq
	c.peerWnd = int(p.wnd)
	c.halfAt = now.Add(c.s.cfg.HalfOpenTimeout)
	if p.timestamp != 0 {
		c.replyMicro = c.s.micros(now) - p.timestamp
	}
}

// handlePacket processes a packet of this connection. Only the socket's read loop calls it.
func (c *Conn) handlePacket(p *packet, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDestroyed {
		return
	}
	if p.typ == stSyn {
		// A repeated SYN: our STATE was lost.
		if !c.outgoing && c.admitted {
			c.sendState(now)
		}
		return
	}
	if c.state == stateSynSent {
		// Only the answer to our SYN moves us on; it carries the peer's first sequence
		// number, which we have not received yet.
		if p.ack != c.seqNr-1 {
			return
		}
		c.ackNr = p.seq - 1
		c.state = stateConnected
		close(c.connected)
	} else if seqLess(c.seqNr-1, p.ack) {
		// It acknowledges a packet we never sent: forged, or from another connection.
		c.s.st.invalid.Add(1)
		return
	}
	if p.typ != stState && !c.inReceiveWindow(p.seq) {
		// Far outside anything the peer may send now: forged or stale. Acknowledge, so
		// a peer that lost our ACKs learns where we are, but use nothing from it.
		c.s.st.invalid.Add(1)
		c.sendState(now)
		return
	}
	if !c.confirmed {
		c.confirmed = true
		c.halfAt = time.Time{}
		if !c.outgoing {
			c.s.halfOpen.Add(-1)
		}
	}
	if p.timestamp != 0 {
		c.replyMicro = c.s.micros(now) - p.timestamp
	}
	c.peerWnd = int(p.wnd)
	if c.peerWnd > 0 {
		c.probeAt = time.Time{}
	}
	inflightBefore := c.inflight
	c.ackRTT = 0
	acked := c.processAcks(p, now)
	if p.tsDiff != 0 && p.tsDiff != 0x7fffffff {
		// 0x7fffffff: old uTorrent sent this for "no sample yet", as libtorrent notes.
		c.addDelaySample(p.tsDiff, now)
	}
	if acked > 0 {
		c.ledbat(acked, inflightBefore)
	}
	switch p.typ {
	case stData:
		c.recvData(p, now)
	case stFin:
		c.recvFin(p, now)
	}
	c.flush(now)
	c.maybeFinish(now)
	if c.state != stateDestroyed {
		c.armTimer()
	}
}

// inReceiveWindow reports whether seq is one the peer could be sending: recently
// acknowledged (a repeat) or within the reorder window ahead.
func (c *Conn) inReceiveWindow(seq uint16) bool {
	d := seq - (c.ackNr + 1)
	return int(d) <= maxReorder || d >= 0x10000-maxOutstanding
}

// processAcks applies the packet's cumulative and selective ACKs; it returns the payload
// bytes newly acknowledged.
func (c *Conn) processAcks(p *packet, now time.Time) int {
	acked := 0
	progress := false
	if seqLess(c.ackedSeq, p.ack) {
		for seq := c.ackedSeq + 1; ; seq++ {
			if op := c.out.take(seq); op != nil {
				acked += c.ackedPacket(op, now)
			}
			if seq == p.ack {
				break
			}
		}
		c.ackedSeq = p.ack
		c.dupAcks = 0
		progress = true
	} else if p.ack == c.ackedSeq && p.typ == stState && c.outPkts > 0 {
		c.dupAcks++
	}
	sacked := false
	for i, b := range p.sack {
		for bit := 0; b != 0 && bit < 8; bit++ {
			if b&(1<<bit) == 0 {
				continue
			}
			b &^= 1 << bit
			seq := p.ack + 2 + uint16(i*8+bit)
			if !seqLess(c.ackedSeq, seq) || !seqLess(seq, c.seqNr) {
				continue
			}
			if op := c.out.take(seq); op != nil {
				acked += c.ackedPacket(op, now)
				sacked = true
				progress = true
			}
		}
	}
	if progress {
		c.numTO = 0
		if c.outPkts > 0 {
			c.rtoAt = now.Add(c.rto)
		} else {
			c.rtoAt = time.Time{}
		}
	}
	if c.finSent && !c.finAcked && seqLE(c.finSeq, c.ackedSeq) {
		c.finAcked = true
		c.finAckedAt = now
	}
	if c.outPkts > 0 && (sacked || c.dupAcks >= 3) {
		c.detectLoss(now)
	}
	return acked
}

// ackedPacket accounts for a packet the peer has and frees it.
func (c *Conn) ackedPacket(op *outPacket, now time.Time) int {
	n := op.payloadLen()
	if op.inflight {
		c.inflight -= n
	}
	if op.needResend {
		c.numNeedResend--
	}
	since := now.Sub(op.sent)
	switch {
	case op.transmissions == 1 && !op.needResend:
		c.rttSample(since)
		if c.ackRTT == 0 || since < c.ackRTT {
			c.ackRTT = since
		}
		if op.sent.After(c.rackSent) {
			c.rackSent = op.sent
		}
	case op.needResend || (c.hasRTT && since < c.minRTT*3/4):
		// Declared lost, yet here it is: the first copy arrived, either before we sent
		// it again or sooner than a round trip after. Reordering fooled us.
		c.s.st.spurious.Add(1)
		c.onSpurious()
	default:
		if op.sent.After(c.rackSent) {
			c.rackSent = op.sent
		}
	}
	c.outPkts--
	freeOutPacket(op)
	return n
}

// recvWnd is the receive window we advertise.
func (c *Conn) recvWnd() int {
	if c.userClosed {
		return c.s.cfg.RecvBuffer
	}
	return max(c.s.cfg.RecvBuffer-c.recvBuf.Len()-c.reorder.bytes, 0)
}

func (c *Conn) buffered() int { return c.recvBuf.Len() + c.reorder.bytes }

func (c *Conn) recvData(p *packet, now time.Time) {
	seq := p.seq
	if c.gotFin && !seqLess(seq, c.eofSeq) {
		c.sendState(now)
		return
	}
	d := seq - (c.ackNr + 1)
	switch {
	case d == 0:
		if !c.userClosed {
			// A peer that ignores our window gets its packet dropped; one packet of
			// slack lets a zero-window probe through.
			if c.buffered()+len(p.payload) > c.s.cfg.RecvBuffer+c.mss {
				return
			}
			c.recvBuf.Write(p.payload)
		}
		c.ackNr = seq
		for c.reorder.count > 0 {
			next := c.ackNr + 1
			if !c.reorder.has(next) {
				break
			}
			if !c.userClosed {
				c.recvBuf.Write(c.reorder.get(next))
			}
			c.reorder.remove(next)
			c.ackNr = next
		}
		c.unackedPkts++
		signal(c.readable)
		if c.checkEOF() || c.reorder.count > 0 || c.unackedPkts >= ackEvery {
			c.sendState(now)
		} else {
			c.queueAck()
		}
	case int(d) <= maxReorder:
		if !c.reorder.has(seq) {
			data := p.payload
			if c.userClosed {
				data = nil
			}
			if c.buffered()+len(data) > c.s.cfg.RecvBuffer+c.mss {
				return
			}
			c.reorder.put(seq, int(d), data)
		}
		// The SACK tells the sender at once what is missing.
		c.sendState(now)
	default:
		// Already have it: our ACK was lost, so repeat it.
		c.sendState(now)
	}
}

func (c *Conn) recvFin(p *packet, now time.Time) {
	if !c.gotFin {
		c.gotFin = true
		c.eofSeq = p.seq
	}
	if !c.eofReached && c.ackNr+1 == c.eofSeq {
		c.checkEOF()
	}
	c.sendState(now)
}

// checkEOF moves past the peer's FIN once everything before it has arrived.
func (c *Conn) checkEOF() bool {
	if c.gotFin && !c.eofReached && c.ackNr+1 == c.eofSeq {
		c.ackNr = c.eofSeq
		c.eofReached = true
		signal(c.readable)
		return true
	}
	return false
}

func (c *Conn) queueAck() {
	c.ackPending = true
	if !c.ackQueued {
		c.ackQueued = true
		c.s.queueAck(c)
	}
}

// sendQueuedAck sends the ACK queued by queueAck, unless a packet since carried it.
func (c *Conn) sendQueuedAck() {
	c.mu.Lock()
	c.ackQueued = false
	if c.ackPending && c.state == stateConnected {
		c.sendState(time.Now())
	}
	c.mu.Unlock()
}

// sendState sends an ACK, with a selective ACK when packets wait past a gap.
func (c *Conn) sendState(now time.Time) {
	var buf [headerSize + 2 + maxSackBytes]byte
	var sack [maxSackBytes]byte
	wnd := c.recvWnd()
	p := packet{header: header{
		typ: stState, connID: c.sendID, timestamp: c.s.micros(now), tsDiff: c.replyMicro,
		wnd: uint32(wnd), seq: c.seqNr, ack: c.ackNr,
	}}
	if c.reorder.count > 0 {
		p.sack = c.buildSack(sack[:])
	}
	c.s.write(p.encode(buf[:0]), c.raddr)
	c.ackPending = false
	c.unackedPkts = 0
	c.lastAdvWnd = wnd
	c.lastSend = now
}

// buildSack fills the bitmask for packets ackNr+2 onwards: bit i of byte j is ackNr+2+8j+i.
func (c *Conn) buildSack(b []byte) []byte {
	hi := 0
	for _, s := range c.reorder.slots {
		if s.ok {
			hi = max(hi, int(s.seq-(c.ackNr+1)))
		}
	}
	if hi == 0 {
		return nil
	}
	n := min(((hi-1)/8+1+3)&^3, len(b))
	b = b[:n]
	clear(b)
	for _, s := range c.reorder.slots {
		if !s.ok {
			continue
		}
		i := int(s.seq-(c.ackNr+1)) - 1
		if i >= 0 && i < 8*n {
			b[i/8] |= 1 << (i % 8)
		}
	}
	return b
}

// transmit sends (or sends again) a packet from the out ring.
func (c *Conn) transmit(op *outPacket, now time.Time) {
	wnd := c.recvWnd()
	h := header{typ: op.typ, connID: c.sendID, timestamp: c.s.micros(now), tsDiff: c.replyMicro,
		wnd: uint32(wnd), seq: op.seq, ack: c.ackNr}
	if op.typ == stSyn {
		h.connID, h.ack = c.recvID, 0
	}
	h.put(op.buf[:headerSize])
	c.queueTx(op.buf)
	if op.transmissions > 0 {
		c.s.st.retransmits.Add(1)
	}
	op.transmissions++
	op.sent = now
	c.lastSend = now
	if op.needResend {
		op.needResend = false
		c.numNeedResend--
	}
	if !op.inflight {
		op.inflight = true
		c.inflight += op.payloadLen()
	}
	if c.rtoAt.IsZero() {
		c.rtoAt = now.Add(c.rto)
	}
	if op.typ != stSyn {
		c.lastAdvWnd = wnd
		if c.reorder.count == 0 {
			// The packet carries our ACK.
			c.ackPending = false
			c.unackedPkts = 0
		}
	}
}

// windowAllows reports whether n more payload bytes fit the congestion window and the
// peer's receive window. With nothing in flight one packet may always go, or the
// connection could stall on a window smaller than a packet.
func (c *Conn) windowAllows(n int, now time.Time) bool {
	if c.probe {
		return true
	}
	if c.inflight == 0 {
		if c.peerWnd == 0 {
			// The peer's buffer is full; it will say when it has room, and a probe
			// after a timeout covers a lost window update.
			if c.probeAt.IsZero() {
				c.probeAt = now.Add(c.rto)
			}
			return false
		}
		return true
	}
	return float64(c.inflight+n) <= c.cwnd && c.inflight+n <= c.peerWnd
}

// flush sends what the windows allow: retransmissions first, then new data, then the FIN.
func (c *Conn) flush(now time.Time) {
	c.fill(now)
	c.flushTx()
}

func (c *Conn) fill(now time.Time) {
	if c.state != stateConnected {
		return
	}
	if c.numNeedResend > 0 {
		for seq := c.ackedSeq + 1; seqLess(seq, c.seqNr) && c.numNeedResend > 0; seq++ {
			op := c.out.get(seq)
			if op == nil || !op.needResend {
				continue
			}
			if !c.windowAllows(op.payloadLen(), now) {
				return
			}
			c.probe = false
			c.transmit(op, now)
		}
	}
	freed := false
	for c.sendBuf.Len() > 0 && int(c.seqNr-c.ackedSeq) < maxOutstanding {
		n := min(c.sendBuf.Len(), c.mss)
		if !c.windowAllows(n, now) {
			break
		}
		if c.inflight == 0 && c.peerWnd > 0 && c.peerWnd < n {
			n = c.peerWnd
		}
		c.probe = false
		op := newOutPacket(stData, c.seqNr, n)
		c.sendBuf.Read(op.buf[headerSize:])
		c.out.put(op)
		c.outPkts++
		c.seqNr++
		c.transmit(op, now)
		freed = true
	}
	if freed {
		signal(c.writable)
	}
	if c.finQueued && !c.finSent && c.sendBuf.Len() == 0 && int(c.seqNr-c.ackedSeq) < maxOutstanding {
		op := newOutPacket(stFin, c.seqNr, 0)
		c.out.put(op)
		c.outPkts++
		c.finSeq = c.seqNr
		c.finSent = true
		c.seqNr++
		c.transmit(op, now)
	}
}

// onRTO handles a retransmission timeout.
func (c *Conn) onRTO(now time.Time) {
	c.rtoAt = time.Time{}
	if c.outPkts == 0 {
		return
	}
	c.s.st.timeouts.Add(1)
	c.numTO++
	c.rto = min(c.rto*2, maxRTO)
	if c.state == stateSynSent {
		if c.numTO > synRetries {
			c.destroy(errTimedOut)
			return
		}
		if op := c.out.get(c.seqNr - 1); op != nil {
			c.transmit(op, now)
			c.flushTx()
		}
		return
	}
	limit := maxTimeouts
	if !c.confirmed {
		// Nothing but a SYN ever came from this address: it may well be forged.
		limit = 1
	}
	if c.numTO > limit {
		c.destroy(errTimedOut)
		return
	}
	// Everything in flight is presumed lost; start again from one packet.
	c.out.each(func(op *outPacket) {
		if op.inflight {
			op.inflight = false
			c.inflight -= op.payloadLen()
		}
		if !op.needResend {
			op.needResend = true
			c.numNeedResend++
		}
	})
	// A timeout can be spurious (the path or this machine stalled past the RTO): keep
	// what is needed to undo it if the first copies turn out to have arrived.
	if c.numTO == 1 {
		c.prevCwnd = c.cwnd
		c.canUndo = true
	}
	c.ssthresh = max(c.cwnd/2, float64(2*c.mss))
	c.cwnd = float64(c.mss)
	c.slowStart = true
	c.lossSeq = c.seqNr - 1
	c.flush(now)
	if c.rtoAt.IsZero() && c.outPkts > 0 {
		c.rtoAt = now.Add(c.rto)
	}
}

// armTimer makes sure the timer fires by the earliest pending deadline.
func (c *Conn) armTimer() {
	var next, ka time.Time
	if c.state == stateConnected && !c.userClosed && !c.lastSend.IsZero() {
		ka = c.lastSend.Add(c.s.cfg.KeepAlive)
	}
	for _, t := range []time.Time{c.rtoAt, c.probeAt, c.lingerAt, c.halfAt, ka} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if next.IsZero() || (!c.timerAt.IsZero() && !next.Before(c.timerAt)) {
		return
	}
	c.timerAt = next
	d := time.Until(next)
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.onTimer)
	} else {
		c.timer.Reset(d)
	}
}

func (c *Conn) onTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timerAt = time.Time{}
	if c.state == stateDestroyed {
		return
	}
	now := time.Now()
	if !c.rtoAt.IsZero() && !now.Before(c.rtoAt) {
		c.onRTO(now)
		if c.state == stateDestroyed {
			return
		}
	}
	if !c.probeAt.IsZero() && !now.Before(c.probeAt) {
		c.probeAt = time.Time{}
		c.probe = true
		c.flush(now)
		c.probe = false
	}
	if !c.halfAt.IsZero() && !now.Before(c.halfAt) {
		c.destroy(errTimedOut)
		return
	}
	if c.state == stateConnected && !c.userClosed && !c.lastSend.IsZero() && now.Sub(c.lastSend) >= c.s.cfg.KeepAlive {
		c.sendState(now)
	}
	if !c.lingerAt.IsZero() && !now.Before(c.lingerAt) {
		if c.finAcked {
			c.destroy(nil)
		} else {
			c.sendReset()
			c.destroy(errTimedOut)
		}
		return
	}
	c.armTimer()
}

// maybeFinish ends a closed connection once its FIN is acknowledged and the peer has
// finished too, or has had finWait to do so.
func (c *Conn) maybeFinish(now time.Time) {
	if !c.userClosed || !c.finAcked || c.state != stateConnected {
		return
	}
	if c.eofReached || now.Sub(c.finAckedAt) >= finWait {
		c.destroy(nil)
		return
	}
	if at := c.finAckedAt.Add(finWait); c.lingerAt.IsZero() || at.Before(c.lingerAt) {
		c.lingerAt = at
	}
}

// sendReset tells the peer the connection is gone. Called with c.mu held.
func (c *Conn) sendReset() {
	p := packet{header: header{typ: stReset, connID: c.sendID, timestamp: c.s.micros(time.Now()),
		seq: c.seqNr, ack: c.ackNr}}
	var b [headerSize]byte
	c.s.write(p.encode(b[:0]), c.raddr)
	c.s.st.resetsSent.Add(1)
}

// reset aborts the connection and tells the peer.
func (c *Conn) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateDestroyed {
		return
	}
	c.sendReset()
	c.destroy(net.ErrClosed)
}

func (c *Conn) handleReset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateSynSent {
		c.destroy(errRefused)
	} else {
		c.destroy(errReset)
	}
}

// destroy ends the connection and removes it from the socket. Called with c.mu held.
func (c *Conn) destroy(err error) {
	if c.state == stateDestroyed {
		return
	}
	c.state = stateDestroyed
	if err == nil {
		err = net.ErrClosed
	}
	c.err = err
	if !c.confirmed && !c.outgoing {
		c.s.halfOpen.Add(-1)
	}
	c.confirmed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.out.each(freeOutPacket)
	c.out = outRing{}
	c.inflight, c.outPkts, c.numNeedResend = 0, 0, 0
	c.tx.release()
	c.sendBuf.Reset()
	c.reorder.reset()
	close(c.dead)
	c.s.remove(c)
}

func (c *Conn) deadErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Conn) opError(op string, err error) error {
	if err == io.EOF {
		return err
	}
	return &net.OpError{Op: op, Net: "utp", Source: c.s.local, Addr: c.remote, Err: err}
}

// Read reads data the peer sent, in order. It returns io.EOF once the peer's FIN is reached.
func (c *Conn) Read(b []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		c.mu.Lock()
		switch {
		case c.userClosed:
			c.mu.Unlock()
			return 0, c.opError("read", net.ErrClosed)
		case c.rdl.expired():
			c.mu.Unlock()
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		case c.recvBuf.Len() > 0:
			if len(b) == 0 {
				c.mu.Unlock()
				return 0, nil
			}
			n := c.recvBuf.Read(b)
			c.windowUpdate()
			c.mu.Unlock()
			return n, nil
		case c.eofReached:
			c.mu.Unlock()
			return 0, io.EOF
		case c.state == stateDestroyed:
			err := c.err
			c.mu.Unlock()
			return 0, c.opError("read", err)
		}
		c.mu.Unlock()
		select {
		case <-c.readable:
		case <-c.rdl.wait():
		case <-c.dead:
		}
	}
}

// windowUpdate tells the peer our window reopened when it had nearly closed, so a sender
// stopped by it does not wait for a probe.
func (c *Conn) windowUpdate() {
	if c.state != stateConnected {
		return
	}
	w := c.recvWnd()
	if c.lastAdvWnd < c.s.cfg.RecvBuffer/2 && w >= c.lastAdvWnd+c.s.cfg.RecvBuffer/4 {
		c.sendState(time.Now())
	}
}

// Write queues b for sending. It blocks while the send buffer is full.
func (c *Conn) Write(b []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	n := 0
	for {
		c.mu.Lock()
		var err error
		switch {
		case c.userClosed:
			err = net.ErrClosed
		case c.state == stateDestroyed:
			err = c.err
		case c.finQueued:
			err = syscall.EPIPE
		case c.wdl.expired():
			err = os.ErrDeadlineExceeded
		}
		if err != nil {
			c.mu.Unlock()
			return n, c.opError("write", err)
		}
		if space := c.s.cfg.SendBuffer - c.sendBuf.Len(); space > 0 && n < len(b) {
			k := min(space, len(b)-n)
			c.sendBuf.Write(b[n : n+k])
			n += k
			c.flush(time.Now())
			c.armTimer()
		}
		c.mu.Unlock()
		if n == len(b) {
			return n, nil
		}
		select {
		case <-c.writable:
		case <-c.wdl.wait():
		case <-c.dead:
		}
	}
}

// Close closes the connection. Data already written is still delivered, then a FIN; the
// connection lingers in the background (at most Config.Linger) until the peer has it.
// Unread received data is discarded.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.userClosed {
		return c.opError("close", net.ErrClosed)
	}
	c.userClosed = true
	c.recvBuf.Reset()
	signal(c.readable)
	signal(c.writable)
	switch c.state {
	case stateDestroyed:
		return nil
	case stateSynSent:
		c.destroy(net.ErrClosed)
		return nil
	}
	now := time.Now()
	c.finQueued = true
	c.lingerAt = now.Add(c.s.cfg.Linger)
	c.flush(now)
	c.maybeFinish(now)
	if c.state != stateDestroyed {
		c.armTimer()
	}
	return nil
}

// CloseWrite sends a FIN after the data already written: the peer reads EOF, and we can
// still read what it sends (a half-close; BEP 29 lets each side end its own stream).
func (c *Conn) CloseWrite() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.userClosed || c.state == stateDestroyed {
		return c.opError("close", net.ErrClosed)
	}
	if !c.finQueued {
		c.finQueued = true
		c.flush(time.Now())
		c.armTimer()
	}
	return nil
}

func (c *Conn) LocalAddr() net.Addr  { return c.s.local }
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

func (c *Conn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}

func (c *Conn) SetReadDeadline(t time.Time) error  { c.rdl.set(t); return nil }
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// ConnStats describes a connection's transport state, for tests and diagnostics.
type ConnStats struct {
	Cwnd        int           // congestion window, bytes
	Inflight    int           // payload bytes in flight
	PeerWnd     int           // the peer's advertised receive window
	SRTT        time.Duration // smoothed round trip
	MinRTT      time.Duration
	RTO         time.Duration
	Delay       time.Duration // queueing delay we cause, as LEDBAT sees it
	SlowStart   bool
	Buffered    int // received bytes not yet read, out-of-order ones included
	ReorderWnd  time.Duration
	Outstanding int // packets sent and not yet acknowledged
}

// Stats returns the connection's transport state.
func (c *Conn) Stats() ConnStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ConnStats{
		Cwnd: int(c.cwnd), Inflight: c.inflight, PeerWnd: c.peerWnd, SRTT: c.srtt,
		MinRTT: c.minRTT, RTO: c.rto, Delay: c.ourDelay, SlowStart: c.slowStart,
		Buffered: c.buffered(), ReorderWnd: c.reorderWindow(), Outstanding: c.outPkts,
	}
}

var _ net.Conn = (*Conn)(nil)
