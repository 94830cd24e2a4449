// Package utp stands in for github.com/anacrolix/go-utp, which the Go module
// proxy does not serve. It implements that package's API over a plain UDP
// socket so the DHT can share the torrent client's UDP port.
//
// This version carries no uTP connections: Accept blocks until Close and
// DialContext fails with ErrUnavailable. The engine sets DisableUTP, so the
// library never relies on either. Every datagram read from the socket is
// handed to the PacketConn reader (the DHT).
package utp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
)

// Default names the implementation, as go-utp does; the library prints it in
// socket errors.
const Default = "shoal-utp-standin (uTP unavailable, UDP for DHT only)"

// Available reports whether this build carries uTP connections.
const Available = false

// ErrUnavailable is returned by DialContext: this build has no uTP.
var ErrUnavailable = errors.New("utp: not available in this build (DHT datagrams only)")

// FirewallCallback decides whether to accept a connection from an address.
// It returns true to block.
type FirewallCallback func(net.Addr) bool

// Option configures a Socket.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// WithLogger sets the socket's logger.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// Socket is a UDP socket that would carry uTP connections alongside other
// datagrams.
type Socket interface {
	net.PacketConn
	Accept() (net.Conn, error)
	Addr() net.Addr
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	SetFirewallCallback(FirewallCallback)
}

// NewSocket opens a UDP socket on network ("udp", "udp4", "udp6") and addr.
func NewSocket(network, addr string, opts ...Option) (Socket, error) {
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		return nil, err
	}
	return NewSocketFromPacketConn(pc, opts...)
}

// NewSocketFromPacketConn wraps an existing PacketConn. The Socket owns it
// and closes it on Close.
func NewSocketFromPacketConn(pc net.PacketConn, opts ...Option) (Socket, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return &socket{PacketConn: pc, closed: make(chan struct{}), logger: o.logger}, nil
}

type socket struct {
	net.PacketConn
	logger    *slog.Logger
	closeOnce sync.Once
	closed    chan struct{}
	mu        sync.Mutex
	firewall  FirewallCallback
}

func (s *socket) Addr() net.Addr { return s.LocalAddr() }

// Accept blocks until the socket is closed: no uTP connections arrive.
func (s *socket) Accept() (net.Conn, error) {
	<-s.closed
	return nil, net.ErrClosed
}

func (s *socket) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return nil, &net.OpError{Op: "dial", Net: network, Err: ErrUnavailable}
}

func (s *socket) SetFirewallCallback(f FirewallCallback) {
	s.mu.Lock()
	s.firewall = f
	s.mu.Unlock()
}

func (s *socket) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.PacketConn.Close()
	})
	return err
}
