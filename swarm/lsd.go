package swarm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"golang.org/x/net/ipv4"
)

// Local service discovery (BEP 14): torrents are announced by UDP multicast to
// 239.192.152.143:6771 on the local network, and peers that announce a torrent we have are
// dialled. It finds peers on a LAN with no tracker, no DHT and no internet at all.
//
// The library has an implementation, but it multicasts on a single interface given by name
// (or, with none, wherever the default route points: nowhere on a LAN without a router),
// and it gives every announcer to every torrent we have, whatever it announced. Ours joins
// the group on every "real" interface — up, running, multicast-capable, not loopback, with
// an IPv4 address — or, when the engine listens on one address, only on the interface that
// holds it, rescanned as interfaces come and go; and it accepts an announce only from the
// subnet of the interface it came in on, for the torrents it names.

const (
	lsdPort        = 6771
	lsdMaxPacket   = 1400 // stays under an Ethernet MTU, as BEP 14 clients do
	lsdReadBuffer  = 1500
	lsdTick        = 2 * time.Second
	lsdRescanEvery = 30 * time.Second
)

var lsdGroup4 = net.IPv4(239, 192, 152, 143)

type lsdService struct {
	d        *discovery
	conn     net.PacketConn
	p        *ipv4.PacketConn
	listenIP net.IP // nil or unspecified: every LAN interface
	cookie   string
	perIP    *ipLimiter

	mu     sync.Mutex
	ifaces map[int]lsdIface // joined, by interface index

	closed atomic.Bool
	wg     sync.WaitGroup

	stats lsdCounters
}

type lsdIface struct {
	ifi  net.Interface
	nets []netip.Prefix
}

type lsdCounters struct {
	Sent, Received, Accepted, Own, Dropped atomic.Int64
}

// startLSD binds the BEP 14 port and joins the group on every LAN interface. It fails when
// there is none (a machine with only loopback, or an engine bound to a loopback address).
func startLSD(d *discovery, listenIP net.IP) (*lsdService, error) {
	if listenIP != nil && listenIP.To4() == nil && !listenIP.IsUnspecified() {
		return nil, errors.New("listening on IPv6 only; LSD here is IPv4")
	}
	if listenIP != nil && listenIP.IsLoopback() {
		return nil, errors.New("listening on a loopback address")
	}
	ifaces, err := lsdInterfaces(listenIP)
	if err != nil {
		return nil, err
	}
	if len(ifaces) == 0 {
		return nil, errors.New("no multicast-capable interface with an IPv4 address")
	}
	// Other BitTorrent clients on this machine use the port too: share it.
	lc := net.ListenConfig{Control: lsdReuseAddr}
	conn, err := lc.ListenPacket(context.Background(), "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(lsdPort)))
	if err != nil {
		return nil, fmt.Errorf("bind LSD port %d: %w", lsdPort, err)
	}
	p := ipv4.NewPacketConn(conn)
	if err := p.SetControlMessage(ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		conn.Close()
		return nil, fmt.Errorf("LSD control messages: %w", err)
	}
	p.SetMulticastTTL(1)
	// Our own announces come back too (told apart by cookie); it lets two shoal
	// processes on one machine find each other.
	p.SetMulticastLoopback(true)
	var c [8]byte
	rand.Read(c[:])
	l := d.limits
	s := &lsdService{
		d: d, conn: conn, p: p, listenIP: listenIP,
		cookie: hex.EncodeToString(c[:]),
		perIP:  newIPLimiter(l.LSDPacketsPerIP, l.LSDPacketBurstPerIP, l.LSDMaxTrackedIPs),
		ifaces: make(map[int]lsdIface),
	}
	if s.join(ifaces) == 0 {
		conn.Close()
		return nil, errors.New("could not join the LSD multicast group on any interface")
	}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.readLoop() }()
	go func() { defer s.wg.Done(); s.announceLoop() }()
	return s, nil
}

func (s *lsdService) close() {
	if s.closed.Swap(true) {
		return
	}
	s.conn.Close()
	s.wg.Wait()
}

// lsdInterfaces lists the interfaces LSD runs on (see the package comment above).
func lsdInterfaces(listenIP net.IP) ([]lsdIface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	specific := listenIP != nil && !listenIP.IsUnspecified()
	var out []lsdIface
	for _, ifi := range ifs {
		const want = net.FlagUp | net.FlagRunning | net.FlagMulticast
		if ifi.Flags&want != want || ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		var nets []netip.Prefix
		holds := false
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.To4() == nil {
				continue
			}
			pfx, ok := netipPrefix(ipn)
			if !ok {
				continue
			}
			nets = append(nets, pfx)
			if specific && ipn.IP.Equal(listenIP) {
				holds = true
			}
		}
		if len(nets) == 0 || (specific && !holds) {
			continue
		}
		out = append(out, lsdIface{ifi: ifi, nets: nets})
	}
	return out, nil
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	ip, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip, ones).Masked(), true
}

// join joins the group on interfaces not joined yet and forgets those that are gone; it
// returns how many are joined.
func (s *lsdService) join(ifaces []lsdIface) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := make(map[int]bool, len(ifaces))
	for _, li := range ifaces {
		now[li.ifi.Index] = true
		if _, ok := s.ifaces[li.ifi.Index]; ok {
			s.ifaces[li.ifi.Index] = li // addresses may have changed
			continue
		}
		ifi := li.ifi
		if err := s.p.JoinGroup(&ifi, &net.UDPAddr{IP: lsdGroup4}); err != nil {
			s.d.e.log.Debug("LSD join", "interface", ifi.Name, "err", err)
			continue
		}
		s.ifaces[ifi.Index] = li
	}
	for idx, li := range s.ifaces {
		if !now[idx] {
			ifi := li.ifi
			s.p.LeaveGroup(&ifi, &net.UDPAddr{IP: lsdGroup4})
			delete(s.ifaces, idx)
		}
	}
	return len(s.ifaces)
}

func (s *lsdService) readLoop() {
	buf := make([]byte, lsdReadBuffer)
	for {
		n, cm, src, err := s.p.ReadFrom(buf)
		if err != nil {
			if s.closed.Load() {
				return
			}
			time.Sleep(100 * time.Millisecond) // a transient error must not spin
			continue
		}
		s.stats.Received.Add(1)
		if !s.handle(buf[:n], n == len(buf), cm, src) {
			s.stats.Dropped.Add(1)
		}
	}
}

// handle checks one datagram and hands the announcer to the torrents it names. It reports
// whether the datagram was a usable announce (our own counts as usable).
func (s *lsdService) handle(b []byte, truncated bool, cm *ipv4.ControlMessage, src net.Addr) bool {
	if truncated || cm == nil || !cm.Dst.Equal(lsdGroup4) {
		return false // too large, or not sent to the group
	}
	ua, ok := src.(*net.UDPAddr)
	if !ok {
		return false
	}
	from, ok := netip.AddrFromSlice(ua.IP)
	if !ok {
		return false
	}
	from = from.Unmap()
	s.mu.Lock()
	li, joined := s.ifaces[cm.IfIndex]
	s.mu.Unlock()
	if !joined || !inPrefixes(from, li.nets) {
		// Multicast with TTL 1 never leaves the link, so an announce from another
		// subnet was sent from afar, on purpose.
		return false
	}
	if !s.perIP.allow(from, time.Now()) {
		return false
	}
	msg, err := parseLSD(b, s.d.limits.LSDMaxInfoHashes)
	if err != nil {
		return false
	}
	if msg.Cookie == s.cookie {
		s.stats.Own.Add(1)
		return true
	}
	s.stats.Accepted.Add(1)
	peer := []torrent.PeerInfo{{
		Addr:   &net.TCPAddr{IP: from.AsSlice(), Port: int(msg.Port)},
		Source: torrent.PeerSourceLPD,
	}}
	for _, m := range s.d.e.discoveryTorrents() {
		if !slices.Contains(msg.InfoHashes, m.ih) || !m.lsdAllowed() {
			continue
		}
		m.t.AddPeers(peer)
	}
	return true
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// lsdAllowed: BEP 27 keeps private torrents off LSD; paused ones are not looking.
func (m *managed) lsdAllowed() bool {
	m.mu.Lock()
	skip := m.private || m.paused
	m.mu.Unlock()
	if skip {
		return false
	}
	info := m.t.Info()
	return info == nil || info.Private == nil || !*info.Private
}

// announceLoop announces each torrent when it appears and then every LSDAnnounceInterval,
// and rescans the interfaces now and then. It sends at most one datagram per tick, so a
// client with many torrents paces its announces instead of bursting them (receivers,
// ourselves included, rate-limit each sender).
func (s *lsdService) announceLoop() {
	last := map[metainfo.Hash]time.Time{}
	var queue []metainfo.Hash
	queued := map[metainfo.Hash]bool{}
	lastScan := time.Now()
	tick := time.NewTicker(lsdTick)
	defer tick.Stop()
	for {
		now := time.Now()
		if now.Sub(lastScan) >= lsdRescanEvery {
			lastScan = now
			if ifaces, err := lsdInterfaces(s.listenIP); err == nil {
				s.join(ifaces)
			}
		}
		live := map[metainfo.Hash]bool{}
		for _, m := range s.d.e.discoveryTorrents() {
			if !m.lsdAllowed() {
				continue
			}
			live[m.ih] = true
			at, ok := last[m.ih]
			if (!ok || now.Sub(at) >= s.d.limits.LSDAnnounceInterval) && !queued[m.ih] {
				queue = append(queue, m.ih)
				queued[m.ih] = true
			}
		}
		for ih := range last {
			if !live[ih] {
				delete(last, ih)
			}
		}
		// Torrents removed or made private since they were queued are not announced.
		kept := queue[:0]
		for _, ih := range queue {
			if live[ih] {
				kept = append(kept, ih)
			} else {
				delete(queued, ih)
			}
		}
		queue = kept
		if len(queue) > 0 {
			pkt, n := lsdPacket(s.d.e.ListenPort(), queue, s.cookie)
			s.send([][]byte{pkt})
			for _, ih := range queue[:n] {
				last[ih] = now
				delete(queued, ih)
			}
			queue = queue[n:]
		}
		select {
		case <-s.d.stop:
			return
		case <-tick.C:
		}
		if s.closed.Load() {
			return
		}
	}
}

func (s *lsdService) send(pkts [][]byte) {
	s.mu.Lock()
	ifaces := make([]lsdIface, 0, len(s.ifaces))
	for _, li := range s.ifaces {
		ifaces = append(ifaces, li)
	}
	s.mu.Unlock()
	dst := &net.UDPAddr{IP: lsdGroup4, Port: lsdPort}
	for _, li := range ifaces {
		ifi := li.ifi
		if err := s.p.SetMulticastInterface(&ifi); err != nil {
			continue
		}
		var cm *ipv4.ControlMessage
		if s.listenIP != nil && !s.listenIP.IsUnspecified() {
			// Peers dial the announce's source address: make it the one we listen on.
			cm = &ipv4.ControlMessage{Src: s.listenIP, IfIndex: ifi.Index}
		}
		for _, pkt := range pkts {
			if _, err := s.p.WriteTo(pkt, cm, dst); err == nil {
				s.stats.Sent.Add(1)
			}
		}
	}
}

// lsdMessage is a parsed BT-SEARCH announce.
type lsdMessage struct {
	Port       uint16
	InfoHashes []metainfo.Hash
	Cookie     string
}

// lsdPacket builds one BT-SEARCH announce for as many of ihs, from the front, as fit in
// lsdMaxPacket (at least one), and says how many it took.
func lsdPacket(port int, ihs []metainfo.Hash, cookie string) ([]byte, int) {
	const tail = "\r\n\r\n"
	var b bytes.Buffer
	fmt.Fprintf(&b, "BT-SEARCH * HTTP/1.1\r\nHost: %s:%d\r\nPort: %d\r\ncookie: %s\r\n", lsdGroup4, lsdPort, port, cookie)
	n := 0
	for _, ih := range ihs {
		line := "Infohash: " + ih.HexString() + "\r\n"
		if n > 0 && b.Len()+len(line)+len(tail) > lsdMaxPacket {
			break
		}
		b.WriteString(line)
		n++
	}
	b.WriteString(tail)
	return b.Bytes(), n
}

// lsdPackets announces all of ihs, in as few datagrams as fit.
func lsdPackets(port int, ihs []metainfo.Hash, cookie string) [][]byte {
	var out [][]byte
	for len(ihs) > 0 {
		pkt, n := lsdPacket(port, ihs, cookie)
		out = append(out, pkt)
		ihs = ihs[n:]
	}
	return out
}

// parseLSD reads a BEP 14 announce: a request line "BT-SEARCH * HTTP/1.1", then headers
// (Host, Port, one Infohash per torrent, an optional cookie), case-insensitive names,
// CRLF or LF line ends. Infohashes that are not 40 hex digits are skipped (a client may add
// other forms); a message with no usable one, no valid port, or more than maxIHs of them is
// refused.
func parseLSD(b []byte, maxIHs int) (lsdMessage, error) {
	var m lsdMessage
	lines := strings.Split(string(b), "\n")
	if len(lines) == 0 || strings.TrimRight(lines[0], "\r") != "BT-SEARCH * HTTP/1.1" {
		return m, errors.New("lsd: not a BT-SEARCH request")
	}
	if len(lines) > maxIHs+16 {
		return m, fmt.Errorf("lsd: %d lines", len(lines))
	}
	havePort := false
	seen := 0
	for _, line := range lines[1:] {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return m, fmt.Errorf("lsd: header line without a colon")
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "port":
			p, err := strconv.ParseUint(value, 10, 16)
			if err != nil || p == 0 {
				return m, fmt.Errorf("lsd: port %q", value)
			}
			m.Port, havePort = uint16(p), true
		case "infohash":
			seen++
			if seen > maxIHs {
				return m, fmt.Errorf("lsd: more than %d infohashes", maxIHs)
			}
			var ih metainfo.Hash
			if len(value) != 2*len(ih) {
				continue
			}
			if _, err := hex.Decode(ih[:], []byte(value)); err != nil {
				continue
			}
			if !slices.Contains(m.InfoHashes, ih) {
				m.InfoHashes = append(m.InfoHashes, ih)
			}
		case "cookie":
			m.Cookie = value
		}
	}
	if !havePort {
		return m, errors.New("lsd: no port")
	}
	if len(m.InfoHashes) == 0 {
		return m, errors.New("lsd: no infohash")
	}
	return m, nil
}
