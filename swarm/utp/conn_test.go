package utp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// newTestSocket opens a socket on loopback, closed at the end of the test.
func newTestSocket(t testing.TB, cfg ...Config) *socket {
	t.Helper()
	var opts []Option
	if len(cfg) > 0 {
		opts = append(opts, WithConfig(cfg[0]))
	}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("UTP_TEST_GENERIC") != "" {
		// Hide the *net.UDPConn: the portable read loop and plain writes run instead
		// of the Linux offloads.
		pc = struct{ net.PacketConn }{pc}
	}
	s, err := NewSocketFromPacketConn(pc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*socket)
}

// connPair dials b from a and returns both ends.
func connPair(t testing.TB, a, b Socket) (dialed, accepted net.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := b.Accept()
		ch <- res{c, err}
	}()
	d, err := a.DialContext(ctx, "udp", b.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatalf("accept: %v", r.err)
	}
	t.Cleanup(func() { d.Close(); r.c.Close() })
	return d, r.c
}

// pattern returns n deterministic pseudo-random bytes.
func pattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// transfer writes data on w (then closes it) and reads it all from r, checking the
// sha256; it returns the elapsed time.
func transfer(t testing.TB, w, r net.Conn, data []byte, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		// Uneven write sizes exercise packetisation.
		rest := data
		sizes := []int{1, 100, 16384, 65536, 1 << 20}
		for i := 0; len(rest) > 0; i++ {
			n := min(sizes[i%len(sizes)], len(rest))
			if _, err := w.Write(rest[:n]); err != nil {
				errc <- err
				return
			}
			rest = rest[n:]
		}
		errc <- w.Close()
	}()
	r.SetReadDeadline(time.Now().Add(timeout))
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read after %d of %d bytes: %v", n, len(data), err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) || n != int64(len(data)) {
		t.Fatalf("received %d bytes, sha256 differs from the %d sent", n, len(data))
	}
	return time.Since(start)
}

func TestLoopbackSmall(t *testing.T) {
	a, b := newTestSocket(t), newTestSocket(t)
	d, acc := connPair(t, a, b)
	if _, err := d.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	acc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := acc.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := acc.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	d.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err = d.Read(buf)
	if err != nil || string(buf[:n]) != "world" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if got := d.RemoteAddr().Network(); got != "udp" {
		t.Errorf("RemoteAddr().Network() = %q, want udp (the library flags such peers as uTP)", got)
	}
}

func TestLoopback64MiB(t *testing.T) {
	size := 64 << 20
	if testing.Short() {
		size = 8 << 20
	}
	a, b := newTestSocket(t), newTestSocket(t)
	d, acc := connPair(t, a, b)
	data := pattern(size, 1)
	el := transfer(t, d, acc, data, 60*time.Second)
	t.Logf("%d MiB in %v: %.1f MiB/s; sender %+v", size>>20, el.Round(time.Millisecond),
		float64(size)/(1<<20)/el.Seconds(), a.Stats())
}

func TestBothDirectionsAtOnce(t *testing.T) {
	a, b := newTestSocket(t), newTestSocket(t)
	d, acc := connPair(t, a, b)
	x, y := pattern(4<<20, 2), pattern(4<<20, 3)
	var wg sync.WaitGroup
	wg.Add(2)
	check := func(w net.Conn, data []byte) {
		defer wg.Done()
		go func() {
			w.Write(data)
			w.(*Conn).CloseWrite()
		}()
	}
	check(d, x)
	check(acc, y)
	read := func(r net.Conn, want []byte) {
		r.SetReadDeadline(time.Now().Add(30 * time.Second))
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("read %d bytes (want %d), err %v", len(got), len(want), err)
		}
	}
	read(acc, x)
	read(d, y)
	wg.Wait()
}

// TestSequenceWrap starts both sides' sequence numbers just short of 65535 so the transfer
// crosses the wrap many times over.
func TestSequenceWrap(t *testing.T) {
	a, b := newTestSocket(t), newTestSocket(t)
	// Both sides start a little short of the wrap, so the transfer crosses it, and the
	// SYN/STATE exchange itself sits right at it.
	sa, sb := func() uint16 { return 65535 }, func() uint16 { return 65000 }
	a.testSeq.Store(&sa)
	b.testSeq.Store(&sb)
	d, acc := connPair(t, a, b)
	data := pattern(3<<20, 4) // about 2300 packets: crosses 65535 from 0
	transfer(t, d, acc, pattern(1<<20, 9)[:1<<20], 30*time.Second)
	_ = data
	d2, acc2 := connPair(t, b, a)
	transfer(t, d2, acc2, data, 30*time.Second)
	for _, c := range []*Conn{d2.(*Conn), acc2.(*Conn)} {
		c.mu.Lock()
		seq, ack := c.seqNr, c.ackNr
		c.mu.Unlock()
		t.Logf("after: seq %d ack %d", seq, ack)
	}
}

func TestSeqCompare(t *testing.T) {
	for _, c := range []struct {
		a, b uint16
		less bool
	}{
		{1, 2, true}, {2, 1, false}, {65535, 0, true}, {65535, 2, true}, {0, 65535, false},
		{5, 5, false}, {0, 32767, true},
	} {
		if got := seqLess(c.a, c.b); got != c.less {
			t.Errorf("seqLess(%d, %d) = %v", c.a, c.b, got)
		}
	}
}

func TestDeadlines(t *testing.T) {
	a, b := newTestSocket(t), newTestSocket(t)
	d, _ := connPair(t, a, b)
	d.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := d.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("deadline took %v", el)
	}
	// A deadline in the past fails at once; clearing it lets reads block again.
	d.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := d.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: %v", err)
	}
	d.SetReadDeadline(time.Time{})
	// Write blocks when nobody reads: the peer's window fills, then our send buffer.
	d.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	big := make([]byte, 8<<20)
	n, err := d.Write(big)
	if !errors.Is(err, os.ErrDeadlineExceeded) || n >= len(big) {
		t.Fatalf("write to a peer that does not read: %d bytes, %v", n, err)
	}
}

func TestCloseUnblocksAndErrors(t *testing.T) {
	a, b := newTestSocket(t), newTestSocket(t)
	d, acc := connPair(t, a, b)
	errc := make(chan error, 1)
	go func() {
		_, err := d.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	d.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on closed conn: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if _, err := d.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
	// The peer reads EOF.
	acc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := acc.Read(make([]byte, 10)); err != io.EOF {
		t.Fatalf("peer read after close: %v", err)
	}
	// Both ends disappear from their sockets once the close completes.
	acc.Close()
	waitFor(t, 5*time.Second, func() bool { return a.Stats().Conns == 0 && b.Stats().Conns == 0 })
}

func TestHalfClose(t *testing.T) {
	a, b := newTestSocket(t), newTestSocket(t)
	d, acc := connPair(t, a, b)
	d.Write([]byte("request"))
	d.(*Conn).CloseWrite()
	acc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(acc)
	if err != nil || string(got) != "request" {
		t.Fatalf("read %q, %v", got, err)
	}
	// The half-closed side still reads.
	acc.Write([]byte("response"))
	acc.Close()
	d.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err = io.ReadAll(d)
	if err != nil || string(got) != "response" {
		t.Fatalf("read after CloseWrite: %q, %v", got, err)
	}
	if _, err := d.Write([]byte("x")); err == nil {
		t.Fatal("write after CloseWrite succeeded")
	}
}

func TestDialRefusedAndTimeout(t *testing.T) {
	a := newTestSocket(t)
	// A socket that is not uTP at all: nothing answers, the dial gives up with the
	// context.
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := a.DialContext(ctx, "udp", pc.LocalAddr().String()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial to silent peer: %v", err)
	}
	// A uTP socket whose firewall refuses: the dial fails fast with a reset.
	b := newTestSocket(t)
	b.SetFirewallCallback(func(net.Addr) bool { return true })
	go b.Accept()
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := a.DialContext(ctx, "udp", b.Addr().String()); err == nil {
		t.Fatal("dial through a blocking firewall succeeded")
	} else if time.Since(start) > 2*time.Second {
		t.Fatalf("refused dial took %v: %v", time.Since(start), err)
	}
	waitFor(t, 2*time.Second, func() bool { return a.Stats().Conns == 0 })
}

func TestSharedSocketDatagrams(t *testing.T) {
	a, b := newTestSocket(t), newTestSocket(t)
	d, acc := connPair(t, a, b)
	// Bencoded DHT-like datagrams reach ReadFrom while a uTP connection is busy.
	other, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	msg := []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")
	go func() {
		for range 5 {
			time.Sleep(time.Millisecond)
			other.WriteTo(msg, b.Addr())
		}
	}()
	transfer(t, d, acc, pattern(2<<20, 5), 30*time.Second)
	buf := make([]byte, 1500)
	for range 5 {
		b.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := b.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], msg) || from.String() != other.LocalAddr().String() {
			t.Fatalf("ReadFrom got %q from %v", buf[:n], from)
		}
	}
	// And WriteTo goes out unchanged.
	if _, err := b.WriteTo(msg, other.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	other.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := other.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], msg) {
		t.Fatalf("WriteTo: %q, %v", buf[:n], err)
	}
}

func TestSocketCloseEndsEverything(t *testing.T) {
	a, b := newTestSocket(t), newTestSocket(t)
	d, _ := connPair(t, a, b)
	errs := make(chan error, 3)
	go func() { _, err := d.Read(make([]byte, 1)); errs <- err }()
	go func() { _, err := a.Accept(); errs <- err }()
	go func() { _, _, err := a.ReadFrom(make([]byte, 1)); errs <- err }()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	for range 3 {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("nil error after socket close")
			}
		case <-time.After(2 * time.Second):
			t.Fatal("socket Close left a call blocked")
		}
	}
}

func waitFor(t testing.TB, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLoopbackIPv6(t *testing.T) {
	sock := func() *socket {
		s, err := NewSocket("udp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s.(*socket)
	}
	a, b := sock(), sock()
	d, acc := connPair(t, a, b)
	transfer(t, d, acc, pattern(4<<20, 12), 30*time.Second)
	if mss := d.(*Conn).mss; mss+headerSize != 1232 {
		t.Errorf("IPv6 packets of %d bytes, want 1232 (no fragmentation at the minimum MTU)", mss+headerSize)
	}
}

// TestPeerGoneICMP: when the peer's socket closes without a word (a process killed with
// -9), the ICMP port unreachable answers end our connection at once; a dial to a closed
// port fails at once too.
func TestPeerGoneICMP(t *testing.T) {
	a, b := newTestSocket(t), newTestSocket(t)
	if a.udp == nil || runtime.GOOS != "linux" {
		t.Skip("ICMP errors are read on Linux, from a real UDP socket")
	}
	d, _ := connPair(t, a, b)
	baddr := b.Addr().String()
	b.pc.Close() // no RESET, no FIN: the socket just disappears
	start := time.Now()
	d.SetWriteDeadline(time.Now().Add(10 * time.Second))
	var err error
	for err == nil {
		_, err = d.Write(make([]byte, 64<<10))
	}
	if el := time.Since(start); el > 2*time.Second || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("write to a vanished peer failed after %v with %v", el, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start = time.Now()
	if _, err := a.DialContext(ctx, "udp", baddr); !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > 2*time.Second {
		t.Fatalf("dial to a closed port: %v after %v", err, time.Since(start))
	}
}

// TestICMPErrorsDoNotLeakIntoOtherSends: with IP_RECVERR on, Linux reports an ICMP error
// about one destination on the socket's next call, which may be a send to another: such a
// send must still go out. (The DHT sends to dead nodes all the time on this socket.)
func TestICMPErrorsDoNotLeakIntoOtherSends(t *testing.T) {
	a := newTestSocket(t)
	live, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	deadPC, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	dead := deadPC.LocalAddr()
	deadPC.Close()
	got := make(chan int, 1)
	go func() {
		buf := make([]byte, 100)
		n := 0
		for {
			live.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := live.ReadFrom(buf); err != nil {
				got <- n
				return
			}
			n++
		}
	}()
	msg := []byte("d1:q4:pinge")
	for i := range 50 {
		if _, err := a.WriteTo(msg, dead); err != nil {
			t.Logf("send to the dead port %d: %v", i, err)
		}
		if _, err := a.WriteTo(msg, live.LocalAddr()); err != nil {
			t.Fatalf("send %d to a live peer failed after one to a dead port: %v", i, err)
		}
		time.Sleep(time.Millisecond)
	}
	if n := <-got; n != 50 {
		t.Fatalf("the live peer got %d of 50 datagrams", n)
	}
}
