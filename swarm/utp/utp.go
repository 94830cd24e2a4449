// Package utp is a pure-Go uTP (BEP 29, the Micro Transport Protocol) that stands in for
// github.com/anacrolix/go-utp, which the Go module proxy does not serve. It implements that
// package's API so the torrent library can carry peer connections over the UDP socket it
// shares with the DHT.
//
// One UDP socket carries every connection. Datagrams that are not uTP (the DHT's bencoded
// messages) go to the socket's ReadFrom, so the DHT keeps working on the same port.
//
// What is implemented: connection setup and teardown (SYN, STATE, DATA, FIN, RESET), 16-bit
// sequence and ack numbers that wrap, selective ACKs, retransmission with a timeout derived
// from the measured round trip, loss detection from SACKs that tolerates reordering (RACK
// style, with a window that widens when a retransmission proves spurious, whose window cut is
// then undone), a receive window with zero-window probes, LEDBAT congestion control with a
// 100 ms target delay, datagrams small enough not to be fragmented (1400 bytes on IPv4, 1232
// on IPv6), keep-alives every 29 s, and net.Conn semantics (deadlines, Close, CloseWrite as a
// half-close). On Linux a burst of packets is one sendmsg (UDP GSO) and one recvmsg (UDP
// GRO), and ICMP port-unreachable errors end connections to a vanished peer at once.
//
// Every limit on what a remote peer can make us hold is a named field of Config.
package utp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"
)

// Default names the implementation, as go-utp does; the library prints it in socket errors.
const Default = "shoal-utp (pure Go BEP 29)"

// Available tells the engine to carry peer connections over uTP: it turns uTP on in the
// torrent library exactly when this is true. The transport interoperates with libtorrent and
// Transmission (interop/utp_test.go).
const Available = true

// ErrUnavailable was returned by the stand-in's DialContext when it carried no uTP. Kept for
// callers that test for it; this implementation no longer returns it.
var ErrUnavailable = errors.New("utp: not available in this build (DHT datagrams only)")

// FirewallCallback decides whether to accept a connection from an address. It returns true to
// block. It is called from Accept, never from the socket's read loop, so it may take the
// caller's locks.
type FirewallCallback func(net.Addr) bool

// Socket is a UDP socket that carries uTP connections alongside other datagrams.
type Socket interface {
	net.PacketConn
	Accept() (net.Conn, error)
	Addr() net.Addr
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	SetFirewallCallback(FirewallCallback)
	// Stats returns the socket's counters.
	Stats() Stats
}

// Config holds a socket's limits and tuning. Zero fields take the defaults below.
type Config struct {
	// MaxConns caps connections on the socket in any state, lingering closes included.
	// Incoming SYNs beyond it are dropped and dials fail. Default 2048.
	MaxConns int
	// MaxHalfOpen caps accepted connections that have sent nothing after their SYN, the
	// state a SYN flood with forged addresses creates. Default 128.
	MaxHalfOpen int
	// AcceptBacklog is how many accepted connections may wait for Accept. Default 64.
	AcceptBacklog int
	// RecvBuffer caps the bytes a connection holds for its reader, in order and out of
	// order together; its free part is the window we advertise. Default 1 MiB.
	RecvBuffer int
	// SendBuffer caps the bytes Write queues beyond those in flight; Write blocks past it.
	// Default 512 KiB: enough to keep the window fed between writes, and not much for a
	// writer to count as sent when the peer vanishes without a word.
	SendBuffer int
	// MaxCwnd caps the congestion window in bytes. Default 4 MiB.
	MaxCwnd int
	// PacketSize is the largest datagram sent, uTP header included. Defaults: 1400 bytes on
	// IPv4 (under Ethernet's 1472 with room for tunnels), 1232 on IPv6 (its minimum MTU
	// less headers), so no packet is fragmented.
	PacketSize int
	// TargetDelay is LEDBAT's queueing delay target. Default 100 ms (BEP 29).
	TargetDelay time.Duration
	// MinRTO is the smallest retransmission timeout. Default 200 ms.
	MinRTO time.Duration
	// DatagramQueue is how many non-uTP datagrams wait for ReadFrom before more are
	// dropped. Default 256.
	DatagramQueue int
	// DatagramQueueBytes caps the bytes of those datagrams. Default 1 MiB.
	DatagramQueueBytes int
	// HalfOpenTimeout drops an accepted connection whose peer has sent nothing after its
	// SYN for this long, so forged SYNs free their slots. Default 20 s.
	HalfOpenTimeout time.Duration
	// Linger bounds how long a closed connection keeps sending its queued data and FIN.
	// Default 30 s.
	Linger time.Duration
	// KeepAlive is how long a connection may send nothing before it sends an ACK anyway,
	// so the mappings of NATs and firewalls on the path (often 30 s or more) stay open.
	// Default 29 s, as libutp.
	KeepAlive time.Duration
	// ResetsPerSecond caps RESETs sent for packets of unknown connections, so the socket
	// cannot be used as a reflector. Default 200.
	ResetsPerSecond int
}

func (c *Config) fill() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxConns, 2048)
	def(&c.MaxHalfOpen, 128)
	def(&c.AcceptBacklog, 64)
	def(&c.RecvBuffer, 1<<20)
	def(&c.SendBuffer, 512<<10)
	def(&c.MaxCwnd, 4<<20)
	def(&c.DatagramQueue, 256)
	def(&c.DatagramQueueBytes, 1<<20)
	def(&c.ResetsPerSecond, 200)
	if c.PacketSize != 0 && c.PacketSize < headerSize+maxSackBytes+2+64 {
		c.PacketSize = headerSize + maxSackBytes + 2 + 64
	}
	if c.PacketSize > maxDatagram {
		c.PacketSize = maxDatagram
	}
	if c.TargetDelay <= 0 {
		c.TargetDelay = 100 * time.Millisecond
	}
	if c.MinRTO <= 0 {
		c.MinRTO = 200 * time.Millisecond
	}
	if c.HalfOpenTimeout <= 0 {
		c.HalfOpenTimeout = 20 * time.Second
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 29 * time.Second
	}
	if c.Linger <= 0 {
		c.Linger = 30 * time.Second
	}
}

// Option configures a Socket.
type Option func(*options)

type options struct {
	logger *slog.Logger
	cfg    Config
}

// WithLogger sets the socket's logger.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithConfig sets the socket's limits and tuning.
func WithConfig(c Config) Option {
	return func(o *options) { o.cfg = c }
}

// NewSocket opens a UDP socket on network ("udp", "udp4", "udp6") and addr.
func NewSocket(network, addr string, opts ...Option) (Socket, error) {
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		return nil, err
	}
	return NewSocketFromPacketConn(pc, opts...)
}

// NewSocketFromPacketConn wraps an existing PacketConn. The Socket owns it and closes it on
// Close.
func NewSocketFromPacketConn(pc net.PacketConn, opts ...Option) (Socket, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	o.cfg.fill()
	return newSocket(pc, o.cfg, o.logger), nil
}
