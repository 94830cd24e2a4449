package utp

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// memPair connects two sockets on an in-memory network and returns a's dialed connection
// and b's accepted one.
func memPair(t testing.TB, cfgA, cfgB Config) (n *memNet, a, b *socket, d, acc *Conn) {
	t.Helper()
	n = newMemNet()
	a = n.socket(t, "10.0.0.1:1000", cfgA)
	b = n.socket(t, "10.0.0.2:2000", cfgB)
	dc, ac := connPair(t, a, b)
	return n, a, b, dc.(*Conn), ac.(*Conn)
}

func addrOf(s *socket) netip.AddrPort { return addrPortOf(s.Addr()) }

// sync waits until b's read loop has handled everything injected so far: datagrams are
// handled in order, so once a marker comes out of ReadFrom the rest are done.
func syncReadLoop(t testing.TB, n *memNet, b *socket) {
	t.Helper()
	marker := []byte("d4:sync" + time.Now().String() + "e")
	n.inject(netip.MustParseAddrPort("10.9.9.9:9"), addrOf(b), marker)
	buf := make([]byte, 1500)
	for {
		b.SetReadDeadline(time.Now().Add(10 * time.Second))
		k, _, err := b.ReadFrom(buf)
		if err != nil {
			t.Fatalf("sync: %v", err)
		}
		if bytes.Equal(buf[:k], marker) {
			return
		}
	}
}

// forged builds a uTP-looking datagram with random fields.
func forged(r *rand.Rand, typ int, connID uint16, payload int) []byte {
	p := packet{header: header{typ: uint8(typ), connID: connID, timestamp: r.Uint32(),
		tsDiff: r.Uint32(), wnd: r.Uint32(), seq: uint16(r.Uint32()), ack: uint16(r.Uint32())}}
	if r.IntN(4) == 0 {
		p.sack = make([]byte, 4*(1+r.IntN(8)))
		for i := range p.sack {
			p.sack[i] = byte(r.Uint32())
		}
	}
	p.payload = make([]byte, payload)
	return p.encode(nil)
}

// TestForgedPacketsFromStrangers: packets from addresses or with ids that match no
// connection are answered at most with rate-limited RESETs and never touch a transfer.
func TestForgedPacketsFromStrangers(t *testing.T) {
	n, a, b, d, acc := memPair(t, Config{}, Config{ResetsPerSecond: 50})
	r := rand.New(rand.NewPCG(1, 2))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 20000 {
			from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(1+r.IntN(65535)))
			id := uint16(r.Uint32())
			if i%2 == 0 {
				// The right peer address, a wrong connection id.
				from = addrOf(a)
				for id == acc.recvID {
					id = uint16(r.Uint32())
				}
			}
			typ := r.IntN(numTypes)
			if typ == stSyn || typ == stReset {
				// SYNs are the flood test's; a RESET with a neighbouring id may
				// legitimately match.
				typ = stData
			}
			n.inject(from, addrOf(b), forged(r, typ, id, r.IntN(200)))
		}
	}()
	start := time.Now()
	transfer(t, d, acc, pattern(1<<20, 11), 30*time.Second)
	<-done
	syncReadLoop(t, n, b)
	st := b.Stats()
	if limit := int64(50*time.Since(start).Seconds()) + 51; st.ResetsSent > limit {
		t.Errorf("%d RESETs sent in %v, more than the rate of 50/s allows", st.ResetsSent, time.Since(start))
	}
	if st.Invalid < 10000 {
		t.Errorf("only %d of 20000 forged packets counted invalid: %+v", st.Invalid, st)
	}
	t.Logf("stats after forgery: %+v", st)
}

// TestForgedPacketsInConnection: random packets carrying the right address and connection
// id (a blind attacker who guessed both) may break the connection but never crash it or
// make it hold more than its receive buffer.
func TestForgedPacketsInConnection(t *testing.T) {
	cfg := Config{RecvBuffer: 256 << 10}
	n, a, b, _, acc := memPair(t, Config{}, cfg)
	r := rand.New(rand.NewPCG(3, 4))
	var maxBuf int
	for i := range 20000 {
		// Not RESET: one would end the test at once; nor SYN, whose answer draws a
		// RESET from the real peer (the flood test covers SYNs).
		typ := []int{stData, stFin, stState}[r.IntN(3)]
		n.inject(addrOf(a), addrOf(b), forged(r, typ, acc.recvID, r.IntN(1400)))
		if i%500 == 0 {
			syncReadLoop(t, n, b)
			maxBuf = max(maxBuf, acc.Stats().Buffered)
		}
	}
	syncReadLoop(t, n, b)
	maxBuf = max(maxBuf, acc.Stats().Buffered)
	if limit := cfg.RecvBuffer + acc.mss; maxBuf > limit {
		t.Fatalf("connection buffered %d bytes, over its %d cap", maxBuf, limit)
	}
	t.Logf("max buffered %d; socket %+v", maxBuf, b.Stats())
}

// TestOutOfWindowData: data far beyond the window is dropped, data within it is held only
// up to the receive buffer, duplicates are not delivered twice.
func TestOutOfWindowData(t *testing.T) {
	cfg := Config{RecvBuffer: 128 << 10}
	n, a, b, _, acc := memPair(t, Config{}, cfg)
	acc.mu.Lock()
	next := acc.ackNr + 1
	acc.mu.Unlock()
	payload := bytes.Repeat([]byte{'x'}, 1000)
	send := func(seq uint16, data []byte) {
		p := packet{header: header{typ: stData, connID: acc.recvID, seq: seq, ack: acc.sendID /*any old ack*/}, payload: data}
		p.ack = 0
		// An ack of our own seq-1 is always valid.
		acc.mu.Lock()
		p.ack = acc.ackedSeq
		acc.mu.Unlock()
		n.inject(addrOf(a), addrOf(b), p.encode(nil))
	}
	// Far ahead: ignored.
	for k := range 2000 {
		send(next+uint16(maxReorder+1+k), payload)
	}
	// Within the reorder window but past a gap: held until the buffer cap.
	for k := 1; k < maxReorder; k++ {
		send(next+uint16(k), payload)
	}
	syncReadLoop(t, n, b)
	st := acc.Stats()
	if st.Buffered > cfg.RecvBuffer+acc.mss {
		t.Fatalf("buffered %d bytes out of order, cap %d", st.Buffered, cfg.RecvBuffer)
	}
	// Fill the gap twice: the data comes out once, in order.
	send(next, []byte("first"))
	send(next, []byte("again"))
	syncReadLoop(t, n, b)
	acc.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 5)
	if k, err := acc.Read(buf); err != nil || string(buf[:k]) != "first" {
		t.Fatalf("read %q, %v", buf[:k], err)
	}
	t.Logf("buffered %d of cap %d", st.Buffered, cfg.RecvBuffer)
}

// TestSynFlood: SYNs from thousands of forged addresses fill at most MaxHalfOpen slots,
// expire after HalfOpenTimeout, and a real peer can connect afterwards.
func TestSynFlood(t *testing.T) {
	cfg := Config{MaxHalfOpen: 16, MaxConns: 64, AcceptBacklog: 8, HalfOpenTimeout: 300 * time.Millisecond}
	n := newMemNet()
	b := n.socket(t, "10.0.0.2:2000", cfg)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	// Accept like the torrent library does, and hold the connections without reading, as
	// it does while it waits for a handshake that never comes.
	go func() {
		for {
			if _, err := b.Accept(); err != nil {
				return
			}
		}
	}()
	r := rand.New(rand.NewPCG(5, 6))
	maxConns, maxHalf := 0, 0
	for i := range 20000 {
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)}), uint16(1+r.IntN(65535)))
		p := packet{header: header{typ: stSyn, connID: uint16(r.Uint32()), seq: uint16(r.Uint32()), wnd: 1 << 20}}
		n.inject(from, addrOf(b), p.encode(nil))
		if i%1000 == 0 {
			syncReadLoop(t, n, b)
			st := b.Stats()
			maxConns, maxHalf = max(maxConns, st.Conns), max(maxHalf, st.HalfOpen)
		}
	}
	syncReadLoop(t, n, b)
	st := b.Stats()
	if maxHalf > cfg.MaxHalfOpen || maxConns > cfg.MaxHalfOpen || st.SynsDropped < 19000 {
		t.Fatalf("flood: max %d conns, %d half-open (cap %d); %+v", maxConns, maxHalf, cfg.MaxHalfOpen, st)
	}
	waitFor(t, 5*time.Second, func() bool { return b.Stats().Conns == 0 })
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 8<<20 {
		t.Errorf("heap grew %d bytes over the flood", grown)
	}
	// A real peer gets in.
	a := n.socket(t, "10.0.0.1:1000", Config{})
	ctx, cancel := contextWithTimeout(5 * time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "udp", b.Addr().String())
	if err != nil {
		t.Fatalf("dial after the flood: %v", err)
	}
	c.Close()
	t.Logf("flood stats: %+v", st)
}

// TestRepeatedSynMakesOneConnection: a SYN sent again (our STATE was lost) is answered
// again, not taken for a new connection.
func TestRepeatedSynMakesOneConnection(t *testing.T) {
	n := newMemNet()
	b := n.socket(t, "10.0.0.2:2000", Config{})
	from := netip.MustParseAddrPort("10.0.0.3:3000")
	syn := packet{header: header{typ: stSyn, connID: 777, seq: 1, wnd: 1 << 20}}
	for range 5 {
		n.inject(from, addrOf(b), syn.encode(nil))
	}
	syncReadLoop(t, n, b)
	if st := b.Stats(); st.Conns != 1 {
		t.Fatalf("5 copies of one SYN made %d connections", st.Conns)
	}
}

func TestDatagramQueueBounded(t *testing.T) {
	n := newMemNet()
	b := n.socket(t, "10.0.0.2:2000", Config{DatagramQueue: 1000, DatagramQueueBytes: 64 << 10})
	big := bytes.Repeat([]byte("d"), 60000)
	for range 50 {
		n.inject(netip.MustParseAddrPort("10.0.0.4:4"), addrOf(b), big)
	}
	waitFor(t, 5*time.Second, func() bool { st := b.Stats(); return st.DatagramsOut+st.DatagramsDrop == 50 })
	buf := make([]byte, 65536)
	got := 0
	for {
		b.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, _, err := b.ReadFrom(buf); err != nil {
			break
		}
		got++
	}
	if got != 1 {
		t.Fatalf("%d datagrams of 60000 bytes queued under a 64 KiB cap", got)
	}
	if st := b.Stats(); st.DatagramsDrop != 49 {
		t.Fatalf("stats %+v", st)
	}
}

func FuzzParsePacket(f *testing.F) {
	for _, p := range []packet{
		{header: header{typ: stSyn, connID: 1, seq: 1, wnd: 1 << 20}},
		{header: header{typ: stState, connID: 2, seq: 9, ack: 65535}, sack: []byte{1, 0, 0, 0x80}},
		{header: header{typ: stData, connID: 3, seq: 65535, ack: 7}, payload: []byte("payload")},
		{header: header{typ: stFin, seq: 2}},
		{header: header{typ: stReset, connID: 0xffff}},
	} {
		f.Add(p.encode(nil))
	}
	// An extension chain with a close reason after the SACK, as libtorrent sends.
	b := (&packet{header: header{typ: stState}}).encode(nil)
	b[1] = extSack
	f.Add(append(b, extCloseReason, 4, 0xff, 0, 0, 0, extNone, 4, 0, 0, 0, 7))
	f.Add(append(b[:headerSize:headerSize], 0, 200)) // truncated extension
	f.Add([]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePacket(b)
		if err != nil {
			return
		}
		if !looksLikeUTP(b) {
			t.Fatal("parsed a datagram that looksLikeUTP rejects")
		}
		q, err := parsePacket(p.encode(nil))
		if err != nil {
			t.Fatalf("re-encoded packet does not parse: %v", err)
		}
		p.ext, q.ext = 0, 0
		if p.header != q.header || !bytes.Equal(p.sack, q.sack) || !bytes.Equal(p.payload, q.payload) {
			t.Fatalf("round trip changed the packet: %v → %v", p.header, q.header)
		}
	})
}

// FuzzConnInput feeds arbitrary datagrams to an established connection, with the
// connection id patched in so that they reach it.
func FuzzConnInput(f *testing.F) {
	for _, p := range []packet{
		{header: header{typ: stData, seq: 1, ack: 1, wnd: 100}, payload: []byte("x")},
		{header: header{typ: stState, seq: 5, ack: 0xffff}, sack: []byte{0xff, 0xff, 0xff, 0xff}},
		{header: header{typ: stFin, seq: 3}},
		{header: header{typ: stReset}},
		{header: header{typ: stSyn, seq: 2}},
	} {
		f.Add(p.encode(nil), true)
	}
	f.Fuzz(func(t *testing.T, b []byte, patch bool) {
		n, a, bs, d, acc := memPair(t, Config{}, Config{})
		if patch && len(b) >= 4 {
			binary.BigEndian.PutUint16(b[2:], acc.recvID)
		}
		n.inject(addrOf(a), addrOf(bs), b)
		syncReadLoop(t, n, bs)
		// Whatever state that left, the connection answers calls without hanging.
		d.SetDeadline(time.Now().Add(50 * time.Millisecond))
		acc.SetDeadline(time.Now().Add(50 * time.Millisecond))
		d.Write([]byte("after"))
		acc.Read(make([]byte, 16))
		if st := acc.Stats(); st.Buffered > bs.cfg.RecvBuffer+acc.mss {
			t.Fatalf("buffered %d", st.Buffered)
		}
	})
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
