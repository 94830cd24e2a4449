package swarm

import (
	"context"
	"net"
	"strings"
	"time"

	"github.com/anacrolix/torrent"
)

// tcpHeadStart is how long an outgoing TCP dial waits for uTP to connect
// first. The library dials every transport at once and keeps the first to
// connect; on a LAN TCP always wins that race. Like libtorrent we prefer
// uTP, whose LEDBAT congestion control yields to the user's other traffic,
// and fall back to TCP for peers that do not answer it (aria2, clients with
// uTP off). Some clients with TCP switched off still accept a TCP
// connection and close it at once, which would otherwise win the race.
const tcpHeadStart = 300 * time.Millisecond

// addDialers gives the client its outgoing transports: the uTP sockets it
// listens on, then TCP from the listen address (bans and peer identity are
// per IP, so several clients on one machine can use 127.0.0.x). The
// transport not preferred starts tcpHeadStart later: TCP by default, uTP
// with Strategy.PreferTCP.
func (e *Engine) addDialers() {
	preferTCP := e.strategy.PreferTCP
	utpOn := false
	for _, l := range e.cl.Listeners() {
		d, ok := l.(torrent.Dialer)
		if ok && strings.HasPrefix(l.Addr().Network(), "udp") {
			if preferTCP {
				d = delayedDialer{Dialer: d, delay: tcpHeadStart}
			}
			e.cl.AddDialer(d)
			utpOn = true
		}
	}
	nd := &net.Dialer{KeepAlive: -1}
	network := "tcp"
	if e.listenIP != nil && !e.listenIP.IsUnspecified() {
		nd.LocalAddr = &net.TCPAddr{IP: e.listenIP}
		network = "tcp4"
		if e.listenIP.To4() == nil {
			network = "tcp6"
		}
	}
	var tcp torrent.Dialer = torrent.NetworkDialer{Network: network, Dialer: nd}
	if utpOn && !preferTCP {
		tcp = delayedDialer{Dialer: tcp, delay: tcpHeadStart}
	}
	e.cl.AddDialer(tcp)
}

// delayedDialer starts its dial after a delay, unless the dial is called
// off first (another transport connected).
type delayedDialer struct {
	torrent.Dialer
	delay time.Duration
}

func (d delayedDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	t := time.NewTimer(d.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return d.Dialer.Dial(ctx, addr)
}
