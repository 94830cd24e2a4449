package swarm

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent"
	"golang.org/x/time/rate"
)

// Trackerless discovery: the DHT (BEP 5), local service discovery (BEP 14) and peer
// exchange (BEP 11). The library has all three, but its DHT nodes store no peers and its
// decoder can be crashed by one datagram, its LSD sends on one interface chosen by name and
// hands every LAN announce to every torrent, and its PEX keeps whatever a peer lists. So
// shoal brings its own DHT peer store (peerstore.go) and guards the DHT socket (dht.go),
// runs its own LSD (lsd.go), and caps what PEX takes in (pex.go). Everything here is
// bounded by DiscoveryLimits.

// DiscoveryLimits bounds what the DHT, LSD and PEX accept from the network. Like Limits, a
// zero field means its default, never "unlimited". The defaults follow libtorrent's where it
// has one (dht_max_peers, dht_max_torrents, dht_max_peers_reply, dht_max_dht_items).
type DiscoveryLimits struct {
	// DHTPeerTTL is how long an announce_peer is remembered. Clients re-announce every
	// 15 minutes (this library and libtorrent), so two rounds missed means gone.
	DHTPeerTTL time.Duration
	// DHTMaxPeersPerInfoHash caps the peers stored for one infohash; when full, the oldest
	// announce makes room.
	DHTMaxPeersPerInfoHash int
	// DHTMaxPeersPerIP caps the ports one IP may hold for one infohash, so a single host
	// cannot push every other peer out of a swarm. Several clients behind one NAT still fit.
	DHTMaxPeersPerIP int
	// DHTMaxInfoHashes caps the infohashes stored; when full, the one announced least
	// recently goes.
	DHTMaxInfoHashes int
	// DHTMaxPeers caps the peers stored over all infohashes; when full, new announces are
	// dropped until entries expire.
	DHTMaxPeers int
	// DHTMaxValues caps the peers returned in one get_peers reply; it must fit one datagram.
	DHTMaxValues int
	// DHTMaxItems caps the BEP 44 items (put/get) the node keeps for others; the library's
	// default store has no bound.
	DHTMaxItems int
	// DHTItemTTL is how long a BEP 44 item is kept (BEP 44 says at least two hours).
	DHTItemTTL time.Duration
	// DHTMaxPacketBytes drops larger datagrams before they are decoded. KRPC messages are
	// small: the largest, a BEP 44 put, stays under 1.5 KiB.
	DHTMaxPacketBytes int
	// DHTPacketsPerIP and DHTPacketBurstPerIP rate-limit the datagrams accepted from one IP
	// address (queries and replies alike); the rest are dropped unread. A get_peers flood
	// from one address costs us one map lookup per packet.
	DHTPacketsPerIP     float64
	DHTPacketBurstPerIP int
	// DHTMaxTrackedIPs caps the per-IP rate-limit table; addresses beyond it share one
	// limiter, so a flood from many addresses is throttled as a group.
	DHTMaxTrackedIPs int
	// DHTSendRate and DHTSendBurst limit the datagrams this engine's DHT sends per second.
	// The library's default limiter is one value shared by every DHT server in the process.
	DHTSendRate  float64
	DHTSendBurst int
	// DHTMaxSavedNodes caps the routing-table nodes written to the state dir and read back;
	// a full table holds 8 nodes in each of 160 buckets, and far fewer in practice.
	DHTMaxSavedNodes int
	// DHTRetryMin and DHTRetryMax bound the interval between extra DHT lookups for a torrent
	// that is still downloading with no peer at all. The library looks up once when the
	// torrent is added and then every 15 minutes; a magnet added before its seeds announce
	// would wait that long.
	DHTRetryMin time.Duration
	DHTRetryMax time.Duration

	// PEXMaxMessageBytes drops larger ut_pex messages unread; BEP 11's 50 added and 50
	// dropped peers of both families take under 4 KiB.
	PEXMaxMessageBytes int
	// PEXMaxPeersPerMessage drops a ut_pex message listing more added peers (IPv4 and IPv6
	// together) than this. BEP 11 says 50; libtorrent sends up to 100 of each family.
	PEXMaxPeersPerMessage int
	// PEXMaxLivePerConn caps the addresses one peer may have listed as connected (added
	// and not dropped since); the library keeps that list per connection. A peer past it
	// is disconnected. libtorrent keeps a few hundred connections per torrent at most.
	PEXMaxLivePerConn int

	// LSDAnnounceInterval is how often each torrent is announced on the LAN (libtorrent: 5
	// minutes); new torrents are announced at once.
	LSDAnnounceInterval time.Duration
	// LSDMaxInfoHashes caps the infohashes read from one announce.
	LSDMaxInfoHashes int
	// LSDPacketsPerIP and LSDPacketBurstPerIP rate-limit the announces accepted from one
	// address; LSDMaxTrackedIPs caps that table like DHTMaxTrackedIPs.
	LSDPacketsPerIP     float64
	LSDPacketBurstPerIP int
	LSDMaxTrackedIPs    int
}

// DefaultDiscoveryLimits returns the limits shoal uses unless configured otherwise.
func DefaultDiscoveryLimits() DiscoveryLimits {
	return DiscoveryLimits{
		DHTPeerTTL:             30 * time.Minute,
		DHTMaxPeersPerInfoHash: 500,
		DHTMaxPeersPerIP:       8,
		DHTMaxInfoHashes:       2000,
		DHTMaxPeers:            50_000,
		DHTMaxValues:           100,
		DHTMaxItems:            700,
		DHTItemTTL:             2 * time.Hour,
		DHTMaxPacketBytes:      4096,
		DHTPacketsPerIP:        20,
		DHTPacketBurstPerIP:    50,
		DHTMaxTrackedIPs:       10_000,
		DHTSendRate:            250,
		DHTSendBurst:           25,
		DHTMaxSavedNodes:       1000,
		DHTRetryMin:            20 * time.Second,
		DHTRetryMax:            5 * time.Minute,
		PEXMaxMessageBytes:     16 << 10,
		PEXMaxPeersPerMessage:  200,
		PEXMaxLivePerConn:      1000,
		LSDAnnounceInterval:    5 * time.Minute,
		LSDMaxInfoHashes:       64,
		LSDPacketsPerIP:        1,
		LSDPacketBurstPerIP:    5,
		LSDMaxTrackedIPs:       1024,
	}
}

// withDefaults fills zero fields from DefaultDiscoveryLimits.
func (l DiscoveryLimits) withDefaults() DiscoveryLimits {
	d := DefaultDiscoveryLimits()
	setIfZero(&l.DHTPeerTTL, d.DHTPeerTTL)
	setIfZero(&l.DHTMaxPeersPerInfoHash, d.DHTMaxPeersPerInfoHash)
	setIfZero(&l.DHTMaxPeersPerIP, d.DHTMaxPeersPerIP)
	setIfZero(&l.DHTMaxInfoHashes, d.DHTMaxInfoHashes)
	setIfZero(&l.DHTMaxPeers, d.DHTMaxPeers)
	setIfZero(&l.DHTMaxValues, d.DHTMaxValues)
	setIfZero(&l.DHTMaxItems, d.DHTMaxItems)
	setIfZero(&l.DHTItemTTL, d.DHTItemTTL)
	setIfZero(&l.DHTMaxPacketBytes, d.DHTMaxPacketBytes)
	if l.DHTPacketsPerIP == 0 {
		l.DHTPacketsPerIP = d.DHTPacketsPerIP
	}
	setIfZero(&l.DHTPacketBurstPerIP, d.DHTPacketBurstPerIP)
	setIfZero(&l.DHTMaxTrackedIPs, d.DHTMaxTrackedIPs)
	if l.DHTSendRate == 0 {
		l.DHTSendRate = d.DHTSendRate
	}
	setIfZero(&l.DHTSendBurst, d.DHTSendBurst)
	setIfZero(&l.DHTMaxSavedNodes, d.DHTMaxSavedNodes)
	setIfZero(&l.DHTRetryMin, d.DHTRetryMin)
	setIfZero(&l.DHTRetryMax, d.DHTRetryMax)
	setIfZero(&l.PEXMaxMessageBytes, d.PEXMaxMessageBytes)
	setIfZero(&l.PEXMaxPeersPerMessage, d.PEXMaxPeersPerMessage)
	setIfZero(&l.PEXMaxLivePerConn, d.PEXMaxLivePerConn)
	setIfZero(&l.LSDAnnounceInterval, d.LSDAnnounceInterval)
	setIfZero(&l.LSDMaxInfoHashes, d.LSDMaxInfoHashes)
	if l.LSDPacketsPerIP == 0 {
		l.LSDPacketsPerIP = d.LSDPacketsPerIP
	}
	setIfZero(&l.LSDPacketBurstPerIP, d.LSDPacketBurstPerIP)
	setIfZero(&l.LSDMaxTrackedIPs, d.LSDMaxTrackedIPs)
	return l
}

// discoveryLimitsFor is where an engine gets its DiscoveryLimits: Config.Discovery, zero
// fields meaning their defaults. Tests swap it to try small caps.
var discoveryLimitsFor = func(e *Engine) DiscoveryLimits { return e.cfg.Discovery }

// discovery is one engine's trackerless-discovery state.
type discovery struct {
	e      *Engine
	limits DiscoveryLimits

	dht *dhtState // nil with NoDHT
	pex *pexGuard // nil with NoPEX
	lsd *lsdService

	stop     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

func (e *Engine) discovery() *discovery { return e.disc }

// configureDiscovery sets up how peers are found without a tracker: the
// DHT (BEP 5), local service discovery (BEP 14) and peer exchange (BEP 11).
// It runs before the client exists; startDiscovery runs right after.
func (e *Engine) configureDiscovery(tc *torrent.ClientConfig) {
	c := e.cfg
	d := &discovery{e: e, limits: discoveryLimitsFor(e).withDefaults(), stop: make(chan struct{})}
	e.disc = d

	tc.DisablePEX = c.NoPEX
	tc.NoDHT = c.NoDHT
	if !c.NoDHT {
		d.dht = newDHTState(c.StateDir, c.DHTBootstrap, d.limits, e.log)
		// Each server gets its starting nodes in ConfigureAnacrolixDhtServer, where its
		// address family is known; this getter only keeps the library's default (DNS and
		// UDP to the public routers) out of reach should that hook ever not run.
		tc.DhtStartingNodes = func(network string) dht.StartingNodesGetter {
			return func() ([]dht.Addr, error) { return d.dht.startingNodes(network) }
		}
		tc.ConfigureAnacrolixDhtServer = d.dht.configureServer
	}
	if !c.NoPEX {
		d.pex = newPEXGuard(d.limits)
		tc.Callbacks.PeerConnReadExtensionMessage = append(tc.Callbacks.PeerConnReadExtensionMessage, d.pex.onExtensionMessage)
		tc.Callbacks.PeerClosed = append(tc.Callbacks.PeerClosed, d.pex.onPeerClosed)
	}
	// The library's LSD is left off (nil): ours in lsd.go runs on every LAN interface
	// and gives an announcer only to the torrents it named.
	tc.LocalServiceDiscovery = nil
}

// startDiscovery runs after the client starts.
func (e *Engine) startDiscovery() {
	d := e.discovery()
	if d == nil {
		return
	}
	if d.dht != nil {
		d.dht.mu.Lock()
		d.dht.servers = dhtServers(e.cl)
		d.dht.mu.Unlock()
		d.wg.Add(2)
		go func() { defer d.wg.Done(); d.dht.saveLoop(d.stop) }()
		go func() { defer d.wg.Done(); d.lookupLoop() }()
	}
	if !e.cfg.NoLSD {
		lsd, err := startLSD(d, e.listenIP)
		if err != nil {
			// No LAN (only loopback, or multicast refused) is normal: say so and go on.
			e.log.Info("local service discovery off", "why", err)
		} else {
			d.lsd = lsd
		}
	}
}

// stopDiscovery runs before the client closes: it saves the DHT routing table while the
// servers still hold it.
func (e *Engine) stopDiscovery() {
	d := e.discovery()
	if d == nil {
		return
	}
	d.stopOnce.Do(func() {
		close(d.stop)
		if d.lsd != nil {
			d.lsd.close()
		}
		d.wg.Wait()
		if d.dht != nil {
			if err := d.dht.save(); err != nil {
				e.log.Warn("save DHT routing table", "err", err)
			}
		}
	})
}

// resolveNodes turns HOST:PORT bootstrap addresses into DHT addresses of
// the given network ("udp4"/"udp6"), skipping the other family.
func resolveNodes(network string, hostports []string) ([]dht.Addr, error) {
	var out []dht.Addr
	var errs []error
	for _, hp := range hostports {
		ua, err := net.ResolveUDPAddr(network, hp)
		if err != nil {
			errs = append(errs, fmt.Errorf("dht bootstrap %q: %w", hp, err))
			continue
		}
		out = append(out, dht.NewAddr(ua))
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// newLimiter is a token bucket; a non-positive rate means none passes.
func newLimiter(perSecond float64, burst int) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

// ipLimiter rate-limits datagrams per source address with a table of bounded size.
// Addresses beyond maxIPs share one overflow bucket, so memory stays bounded whatever the
// number of sources, and a flood spread over many addresses is still throttled as a whole.
type ipLimiter struct {
	perSecond float64
	burst     int
	maxIPs    int

	mu        sync.Mutex
	m         map[netip.Addr]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

func newIPLimiter(perSecond float64, burst, maxIPs int) *ipLimiter {
	return &ipLimiter{
		perSecond: perSecond, burst: burst, maxIPs: maxIPs,
		m:        make(map[netip.Addr]*rate.Limiter),
		overflow: newLimiter(perSecond, burst),
	}
}

// allow reports whether one more datagram from ip may be read.
func (l *ipLimiter) allow(ip netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[ip]
	if !ok {
		if len(l.m) >= l.maxIPs && now.Sub(l.lastSweep) > time.Second {
			l.sweep(now)
		}
		if len(l.m) >= l.maxIPs {
			return l.overflow.AllowN(now, 1)
		}
		lim = newLimiter(l.perSecond, l.burst)
		l.m[ip] = lim
	}
	return lim.AllowN(now, 1)
}

// sweep forgets addresses whose bucket has refilled: they have been quiet long enough that
// a fresh bucket treats them the same.
func (l *ipLimiter) sweep(now time.Time) {
	l.lastSweep = now
	for ip, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.m, ip)
		}
	}
}

func (l *ipLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

// discoveryTorrents lists the engine's torrents. It takes e.mu, so never call it from a
// library callback (those run with the client lock, which e.mu is taken before).
func (e *Engine) discoveryTorrents() []*managed {
	e.mu.Lock()
	defer e.mu.Unlock()
	ms := make([]*managed, 0, len(e.order))
	for _, ih := range e.order {
		if m := e.torrents[ih]; m != nil {
			ms = append(ms, m)
		}
	}
	return ms
}

// peerSourceOrder is how peer sources are listed to people: discovery first, then
// connections that came to us or were given.
var peerSourceOrder = []string{"tracker", "dht", "pex", "lsd", "incoming", "direct", "holepunch", "other"}

// PeerSourcesNote says in a few words where the connected peers of some torrents came from,
// for a one-line progress report: " [dht 3 pex 2]", with the leading space. It is empty when
// no peer is connected.
func PeerSourcesNote(views []TorrentView) string {
	sum := map[string]int{}
	for _, tv := range views {
		for src, n := range tv.PeerSources {
			sum[src] += n
		}
	}
	var parts []string
	for _, src := range peerSourceOrder {
		if n := sum[src]; n > 0 {
			parts = append(parts, src+" "+strconv.Itoa(n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " [" + strings.Join(parts, " ") + "]"
}
