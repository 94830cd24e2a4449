package swarm

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/tracker"
	trHttp "github.com/anacrolix/torrent/tracker/http"
)

// Announce timing. Intervals from trackers are clamped so a hostile or
// broken tracker can neither hammer us nor silence us for days.
const (
	minAnnounceInterval  = 30 * time.Second
	maxAnnounceInterval  = 2 * time.Hour
	lonelyRetryInterval  = 15 * time.Second // no peers yet and data missing
	firstFailureBackoff  = 15 * time.Second
	maxFailureBackoff    = 30 * time.Minute
	announceTimeout      = 30 * time.Second
	directPeerRedialTime = 10 * time.Second
	// maxTrackerReplyBytes caps a tracker's HTTP reply, counted after gzip
	// decoding (Go's transport decodes before the library's cap), so a
	// compressed bomb stops at the cap too.
	maxTrackerReplyBytes = 4 << 20
	// maxPeersPerReply caps the peers taken from one reply: we ask for 200,
	// and 4 MiB of compact peers would be 700,000.
	maxPeersPerReply = 1000
)

// announcer announces one torrent to one tracker URL and keeps the state
// the UI shows. It exists because the library keeps that state private.
type announcer struct {
	m     *managed
	url   string
	extra bool // from the engine config, not the torrent: dropped for private torrents

	completed chan struct{}
	stop      chan struct{}
	done      chan struct{}

	mu           sync.Mutex
	status       string
	lastErr      string
	seeders      int
	leechers     int
	peers        int
	lastAnnounce time.Time
	next         time.Time
}

// trackerTiers flattens a torrent's announce list and the engine's extra
// trackers into unique URLs, marking which are extra.
func trackerTiers(tiers [][]string, extra []string) []trackerURL {
	seen := map[string]bool{}
	var out []trackerURL
	for _, tier := range tiers {
		for _, u := range tier {
			if u != "" && !seen[u] {
				seen[u] = true
				out = append(out, trackerURL{url: u})
			}
		}
	}
	for _, u := range extra {
		if u != "" && !seen[u] {
			seen[u] = true
			out = append(out, trackerURL{url: u, extra: true})
		}
	}
	return out
}

type trackerURL struct {
	url   string
	extra bool
}

func (m *managed) startAnnouncers(urls []trackerURL) {
	key := randomKey()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, u := range urls {
		if !supportedTrackerScheme(u.url) {
			continue
		}
		a := &announcer{
			m: m, url: u.url, extra: u.extra, status: "waiting",
			completed: make(chan struct{}, 1),
			stop:      make(chan struct{}),
			done:      make(chan struct{}),
		}
		m.announcers = append(m.announcers, a)
		go a.run(key)
	}
	m.e.wg.Add(1)
	go func() {
		defer m.e.wg.Done()
		m.redialDirectPeers()
	}()
}

func supportedTrackerScheme(u string) bool {
	return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "udp://")
}

// restartAnnouncersPrivate stops the engine-wide extra trackers once a
// torrent turns out to be private (BEP 27).
func (m *managed) restartAnnouncersPrivate() {
	m.mu.Lock()
	var keep, drop []*announcer
	for _, a := range m.announcers {
		if a.extra {
			drop = append(drop, a)
		} else {
			keep = append(keep, a)
		}
	}
	m.announcers = keep
	m.mu.Unlock()
	for _, a := range drop {
		close(a.stop)
	}
}

func (m *managed) announceCompleted() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.announcers {
		select {
		case a.completed <- struct{}{}:
		default:
		}
	}
}

// stopAnnouncers sends "stopped" to every tracker (bounded by ctx) and
// ends the announcers.
func (m *managed) stopAnnouncers(ctx context.Context) {
	m.mu.Lock()
	as := m.announcers
	m.announcers = nil
	m.mu.Unlock()
	for _, a := range as {
		close(a.stop)
	}
	for _, a := range as {
		select {
		case <-a.done:
		case <-ctx.Done():
			return
		}
	}
}

// redialDirectPeers re-adds the --peer addresses while the torrent lacks
// data, because the library forgets a peer whose dial failed (for example
// one that was not listening yet).
func (m *managed) redialDirectPeers() {
	if len(m.e.cfg.Peers) == 0 {
		return
	}
	tick := time.NewTicker(directPeerRedialTime)
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		}
		if m.t.Info() != nil && m.t.Complete().Bool() {
			continue
		}
		connected := map[string]bool{}
		for _, pc := range m.t.PeerConns() {
			connected[pc.RemoteAddr.String()] = true
		}
		var add []torrent.PeerInfo
		for _, p := range m.e.cfg.Peers {
			if !connected[p] {
				add = append(add, torrent.PeerInfo{Addr: torrent.StringAddr(p), Source: torrent.PeerSourceDirect, Trusted: true})
			}
		}
		if len(add) > 0 {
			m.t.AddPeers(add)
		}
	}
}

func randomKey() int32 {
	var b [4]byte
	rand.Read(b[:])
	return int32(binary.BigEndian.Uint32(b[:]) & 0x7fffffff)
}

func (a *announcer) run(key int32) {
	defer close(a.done)
	m := a.m
	client, err := tracker.NewClient(a.url, tracker.NewClientOpts{
		Http: trHttp.NewClientOpts{
			DialContext:      m.e.trackerDialer(a.url),
			MaxResponseBytes: maxTrackerReplyBytes,
		},
		UdpNetwork:   m.e.udpNetwork(),
		ListenPacket: m.e.trackerListenPacket,
		Slogger:      m.e.log,
	})
	if err != nil {
		a.setResult("error", err.Error(), nil, 0) // the URL is unusable: no next announce
		<-a.stop
		return
	}
	defer client.Close()
	event := tracker.Started
	backoff := firstFailureBackoff
	wait := time.Duration(0)
	for {
		timer := time.NewTimer(wait)
		select {
		case <-a.stop:
			timer.Stop()
			if event != tracker.Started { // only say stopped if we said started
				a.announce(client, key, tracker.Stopped, 5*time.Second)
			}
			return
		case <-a.completed:
			timer.Stop()
			if event != tracker.Started {
				event = tracker.Completed
			}
		case <-timer.C:
		}
		a.mu.Lock()
		a.status = "announcing"
		a.mu.Unlock()
		resp, err := a.announce(client, key, event, announceTimeout)
		if err != nil {
			wait = backoff
			backoff = min(backoff*2, maxFailureBackoff)
			a.setResult("error", err.Error(), nil, wait)
		} else {
			backoff = firstFailureBackoff
			event = tracker.None
			wait = announceWait(resp.Interval, m.lonely())
			a.setResult("ok", "", &resp, wait)
		}
		m.e.notify()
	}
}

// announceWait is the time until the next announce after a successful one
// whose reply asked for interval seconds: clamped, so an interval of 0 (or
// negative) cannot make us hammer the tracker and 10^9 cannot silence us;
// shorter while the torrent is lonely.
func announceWait(interval int32, lonely bool) time.Duration {
	if lonely {
		return lonelyRetryInterval
	}
	wait := time.Duration(interval) * time.Second
	return max(minAnnounceInterval, min(wait, maxAnnounceInterval))
}

// lonely reports a torrent that still needs data and has no peers: worth
// asking the tracker again soon.
func (m *managed) lonely() bool {
	if m.t.Info() != nil && m.t.Complete().Bool() {
		return false
	}
	return len(m.t.PeerConns()) == 0
}

func (a *announcer) announce(client tracker.Client, key int32, event tracker.AnnounceEvent, timeout time.Duration) (tracker.AnnounceResponse, error) {
	m := a.m
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-a.stop:
			if event != tracker.Stopped {
				cancel()
			}
		case <-ctx.Done():
		}
	}()
	stats := m.t.Stats()
	left := int64(-1)
	if m.t.Info() != nil {
		left = m.t.BytesMissing()
	}
	req := tracker.AnnounceRequest{
		InfoHash:   m.ih,
		PeerId:     m.e.cl.PeerID(),
		Downloaded: stats.BytesReadUsefulData.Int64(),
		Uploaded:   stats.BytesWrittenData.Int64(),
		Left:       left,
		Event:      event,
		Key:        key,
		NumWant:    200,
		Port:       uint16(m.e.ListenPort()),
	}
	if event == tracker.Stopped {
		req.NumWant = 0
	}
	resp, err := client.Announce(ctx, req, tracker.AnnounceOpt{UserAgent: "shoal/" + Version})
	if err != nil {
		return resp, err
	}
	if event != tracker.Stopped && len(resp.Peers) > 0 {
		peers := make([]torrent.PeerInfo, 0, min(len(resp.Peers), maxPeersPerReply))
		for _, p := range resp.Peers {
			if len(peers) == maxPeersPerReply {
				break
			}
			if !usablePeer(p.IP, p.Port) {
				continue
			}
			pi := torrent.PeerInfo{Addr: &net.TCPAddr{IP: p.IP, Port: p.Port}, Source: torrent.PeerSourceTracker}
			copy(pi.Id[:], p.ID)
			peers = append(peers, pi)
		}
		m.t.AddPeers(peers)
	}
	return resp, nil
}

// setResult records an announce's outcome and when the next one is due
// (none for wait 0), in one step, so a snapshot never shows one without the
// other.
func (a *announcer) setResult(status, errMsg string, resp *tracker.AnnounceResponse, wait time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.status = status
	a.lastErr = errMsg
	a.lastAnnounce = time.Now()
	a.next = time.Time{}
	if wait > 0 {
		a.next = a.lastAnnounce.Add(wait)
	}
	if resp != nil {
		a.seeders = int(resp.Seeders)
		a.leechers = int(resp.Leechers)
		a.peers = len(resp.Peers)
	}
}

func (a *announcer) view() TrackerView {
	a.mu.Lock()
	defer a.mu.Unlock()
	return TrackerView{
		URL:          safeString(a.url),
		Status:       a.status,
		LastError:    safeString(a.lastErr),
		Seeders:      a.seeders,
		Leechers:     a.leechers,
		Peers:        a.peers,
		LastAnnounce: a.lastAnnounce,
		NextAnnounce: a.next,
	}
}

// usablePeer reports whether a peer address from a tracker can be dialled:
// a real port, and an IP that is neither missing, unspecified, multicast
// nor broadcast (a tracker must not make us send to those).
func usablePeer(ip net.IP, port int) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok || port <= 0 || port > 65535 {
		return false
	}
	a = a.Unmap()
	return !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// errLocalTracker refuses a dial to this machine or its link for a tracker
// that is not itself local.
var errLocalTracker = errors.New("refused: a tracker that is not on this machine may not lead to a local address")

// trackerDialer dials trackers from the listen address, so a tracker
// records the address peers can reach us on. A tracker whose URL names
// this machine (a loopback address or "localhost") may be reached there;
// any other may not lead us to loopback, unspecified or link-local
// addresses, whether by a redirect or by its name resolving there. That
// stops a torrent's tracker URL from turning shoal into a probe of
// services that listen only locally (or of a cloud metadata address).
// Redirects to other schemes (file://, say) fail in Go's HTTP client.
func (e *Engine) trackerDialer(trackerURL string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	allowLocal := false
	if u, err := url.Parse(trackerURL); err == nil {
		allowLocal = localTrackerHost(u.Hostname())
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: announceTimeout}
		if e.listenIP != nil && !e.listenIP.IsUnspecified() {
			d.LocalAddr = &net.TCPAddr{IP: e.listenIP}
		}
		return dialTracker(ctx, &d, network, addr, allowLocal)
	}
}

// dialTracker resolves addr itself, so the address checked is the address
// dialled (no second lookup a DNS server could answer differently).
func dialTracker(ctx context.Context, d *net.Dialer, network, addr string, allowLocal bool) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = trackerResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, err
	}
	var errs []error
	for _, ip := range ips {
		ip = ip.Unmap()
		if !allowLocal && localAddr(ip) {
			errs = append(errs, fmt.Errorf("tracker address %s (%s): %w", host, ip, errLocalTracker))
			continue
		}
		c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("tracker host %s: no addresses", host)
	}
	return nil, errors.Join(errs...)
}

// trackerResolver resolves tracker host names.
var trackerResolver = net.DefaultResolver

// localTrackerHost reports a tracker URL host naming this machine.
func localTrackerHost(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && localAddr(ip.Unmap())
}

func localAddr(ip netip.Addr) bool {
	return ip.IsLoopback() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast()
}

func (e *Engine) trackerListenPacket(network, addr string) (net.PacketConn, error) {
	if e.listenIP != nil && !e.listenIP.IsUnspecified() {
		addr = net.JoinHostPort(e.listenIP.String(), "0")
	}
	return net.ListenPacket(network, addr)
}

func (e *Engine) udpNetwork() string {
	if e.listenIP != nil && !e.listenIP.IsUnspecified() {
		if e.listenIP.To4() != nil {
			return "udp4"
		}
		return "udp6"
	}
	return ""
}
