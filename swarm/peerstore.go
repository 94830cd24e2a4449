package swarm

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	"github.com/anacrolix/torrent/metainfo"
)

// peerStore is what our DHT nodes remember of announce_peer, and answer get_peers with.
// Without one the library's node hands out no tokens, so nobody can announce to it and a
// network of shoal nodes finds nothing; the library's own InMemory store keys peers by IP
// alone and decodes that key as an address (anacrolix-audit §0.3). Entries are keyed by
// ip:port, expire after DHTPeerTTL, and are bounded per IP, per infohash and in total.
//
// The DHT server calls GetPeers with its own lock held, for every get_peers it answers, so
// GetPeers is a bounded scan of one swarm; AddPeer runs in a goroutine per announce.
type peerStore struct {
	ttl        time.Duration
	maxPerIH   int
	maxPerIP   int
	maxIHs     int
	maxTotal   int
	maxReturns int

	mu        sync.Mutex
	swarms    map[metainfo.Hash]*storeSwarm
	total     int
	lastSweep int64 // unix nanoseconds
	dropped   int64 // announces refused: bad address, or the store full
}

type storeSwarm struct {
	peers   map[netip.AddrPort]int64 // → unix nanoseconds of the last announce
	perIP   map[netip.Addr]int
	updated int64 // last announce to this swarm
}

var _ peer_store.Interface = (*peerStore)(nil)

func newPeerStore(l DiscoveryLimits) *peerStore {
	return &peerStore{
		ttl:        l.DHTPeerTTL,
		maxPerIH:   l.DHTMaxPeersPerInfoHash,
		maxPerIP:   l.DHTMaxPeersPerIP,
		maxIHs:     l.DHTMaxInfoHashes,
		maxTotal:   l.DHTMaxPeers,
		maxReturns: l.DHTMaxValues,
		swarms:     make(map[metainfo.Hash]*storeSwarm),
	}
}

// storeAddr checks an announced address: the DHT server passes the datagram's source IP and
// the port the peer claimed (or the source port, with implied_port).
func storeAddr(na krpc.NodeAddr) (netip.AddrPort, bool) {
	ip, ok := netip.AddrFromSlice(na.IP)
	if !ok || na.Port <= 0 || na.Port > 65535 {
		return netip.AddrPort{}, false
	}
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip, uint16(na.Port)), true
}

// AddPeer records an announce_peer that came with a valid token.
func (s *peerStore) AddPeer(ih peer_store.InfoHash, na krpc.NodeAddr) {
	ap, ok := storeAddr(na)
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		s.dropped++
		return
	}
	if now-s.lastSweep > int64(s.ttl/4) {
		s.sweep(now)
	}
	sw := s.swarms[ih]
	if sw != nil {
		if _, ok := sw.peers[ap]; ok {
			sw.peers[ap] = now
			sw.updated = now
			return
		}
	}
	if s.total >= s.maxTotal {
		s.sweep(now)
		if s.total >= s.maxTotal {
			s.dropped++
			return
		}
	}
	if sw == nil {
		if len(s.swarms) >= s.maxIHs {
			s.evictStalestSwarm()
		}
		sw = &storeSwarm{peers: make(map[netip.AddrPort]int64), perIP: make(map[netip.Addr]int)}
		s.swarms[ih] = sw
	}
	if sw.perIP[ap.Addr()] >= s.maxPerIP {
		s.dropped++
		return
	}
	if len(sw.peers) >= s.maxPerIH {
		s.removeOldest(sw)
	}
	sw.peers[ap] = now
	sw.perIP[ap.Addr()]++
	sw.updated = now
	s.total++
}

// GetPeers returns up to DHTMaxValues live peers of a swarm, a random pick when it holds
// more, so that every peer gets handed out over repeated queries.
func (s *peerStore) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	now := time.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	sw := s.swarms[ih]
	if sw == nil {
		return nil
	}
	out := make([]krpc.NodeAddr, 0, min(len(sw.peers), s.maxReturns))
	seen := 0
	for ap, at := range sw.peers {
		if now-at > int64(s.ttl) {
			continue
		}
		seen++
		na := krpc.NodeAddr{IP: ap.Addr().AsSlice(), Port: int(ap.Port())}
		if len(out) < s.maxReturns {
			out = append(out, na)
		} else if j := rand.IntN(seen); j < s.maxReturns {
			out[j] = na // reservoir sampling
		}
	}
	return out
}

func (s *peerStore) remove(sw *storeSwarm, ap netip.AddrPort) {
	delete(sw.peers, ap)
	if n := sw.perIP[ap.Addr()]; n <= 1 {
		delete(sw.perIP, ap.Addr())
	} else {
		sw.perIP[ap.Addr()] = n - 1
	}
	s.total--
}

func (s *peerStore) removeOldest(sw *storeSwarm) {
	var oldest netip.AddrPort
	var at int64
	first := true
	for ap, t := range sw.peers {
		if first || t < at {
			oldest, at, first = ap, t, false
		}
	}
	if !first {
		s.remove(sw, oldest)
	}
}

// evictStalestSwarm makes room for a new infohash by dropping the one announced least
// recently. It scans every swarm, but runs only when the table is full.
func (s *peerStore) evictStalestSwarm() {
	var stalest metainfo.Hash
	var at int64
	first := true
	for ih, sw := range s.swarms {
		if first || sw.updated < at {
			stalest, at, first = ih, sw.updated, false
		}
	}
	if !first {
		s.total -= len(s.swarms[stalest].peers)
		delete(s.swarms, stalest)
	}
}

// sweep drops expired entries and empty swarms.
func (s *peerStore) sweep(now int64) {
	s.lastSweep = now
	for ih, sw := range s.swarms {
		for ap, at := range sw.peers {
			if now-at > int64(s.ttl) {
				s.remove(sw, ap)
			}
		}
		if len(sw.peers) == 0 {
			delete(s.swarms, ih)
		}
	}
}

// peerStoreStats is for tests and status pages.
type peerStoreStats struct {
	InfoHashes int
	Peers      int
	Dropped    int64
}

func (s *peerStore) stats() peerStoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return peerStoreStats{InfoHashes: len(s.swarms), Peers: s.total, Dropped: s.dropped}
}

// has reports whether any peer is stored for ih (tests).
func (s *peerStore) has(ih metainfo.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.swarms[ih] != nil && len(s.swarms[ih].peers) > 0
}
