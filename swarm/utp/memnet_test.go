package utp

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// memNet is an in-memory datagram network: tests inject packets from any source address,
// which real sockets cannot forge.
type memNet struct {
	mu    sync.Mutex
	conns map[netip.AddrPort]*memConn
	// drop, when set, decides whether a datagram written by a socket is lost.
	drop func(from, to netip.AddrPort, b []byte) bool
}

type memPkt struct {
	b    []byte
	from netip.AddrPort
}

type memConn struct {
	n      *memNet
	addr   netip.AddrPort
	in     chan memPkt
	closed chan struct{}
	once   sync.Once
	rdl    deadline
}

func newMemNet() *memNet { return &memNet{conns: map[netip.AddrPort]*memConn{}} }

func (n *memNet) listen(addr string) *memConn {
	c := &memConn{n: n, addr: netip.MustParseAddrPort(addr), in: make(chan memPkt, 4096),
		closed: make(chan struct{}), rdl: makeDeadline()}
	n.mu.Lock()
	n.conns[c.addr] = c
	n.mu.Unlock()
	return c
}

// socket opens a uTP socket on a memNet address.
func (n *memNet) socket(t testing.TB, addr string, cfg Config) *socket {
	t.Helper()
	s, err := NewSocketFromPacketConn(n.listen(addr), WithConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.(*socket)
}

// inject delivers b to `to` as if sent from `from`.
func (n *memNet) inject(from, to netip.AddrPort, b []byte) bool {
	n.mu.Lock()
	c := n.conns[to]
	n.mu.Unlock()
	if c == nil {
		return false
	}
	select {
	case c.in <- memPkt{append([]byte(nil), b...), from}:
		return true
	case <-c.closed:
		return false
	}
}

func (c *memConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.in:
		return copy(b, p.b), net.UDPAddrFromAddrPort(p.from), nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	case <-c.rdl.wait():
		return 0, nil, os.ErrDeadlineExceeded
	}
}

func (c *memConn) WriteTo(b []byte, to net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	dst := addrPortOf(to)
	if d := c.n.drop; d != nil && d(c.addr, dst, b) {
		return len(b), nil
	}
	c.n.mu.Lock()
	peer := c.n.conns[dst]
	c.n.mu.Unlock()
	if peer != nil {
		select {
		case peer.in <- memPkt{append([]byte(nil), b...), c.addr}:
		default: // a full queue drops, as UDP does
		}
	}
	return len(b), nil
}

func (c *memConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.n.mu.Lock()
		delete(c.n.conns, c.addr)
		c.n.mu.Unlock()
	})
	return nil
}

func (c *memConn) LocalAddr() net.Addr                { return net.UDPAddrFromAddrPort(c.addr) }
func (c *memConn) SetDeadline(t time.Time) error      { c.rdl.set(t); return nil }
func (c *memConn) SetReadDeadline(t time.Time) error  { c.rdl.set(t); return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }
