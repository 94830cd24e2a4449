// Package memory is the tracker's in-memory peer store: torrents sharded by infohash, each
// torrent's IPv4 and IPv6 swarms kept as compact sorted slices. It keeps the rules of package
// store (checked by its conformance suite).
package memory

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"shoal/tracker/store"
)

// shardCount spreads torrents over locks so announces for different torrents rarely wait for
// each other; a power of two so the shard is a mask of the infohash.
const shardCount = 1024

// Store is the in-memory store. The zero value is not usable: call New.
type Store struct {
	limits   store.Limits
	epoch    time.Time
	ttlTicks uint32
	torrents atomic.Int64 // torrents held, all shards, for the MaxTorrents check
	shards   [shardCount]shard
}

type shard struct {
	mu       sync.Mutex
	torrents map[store.InfoHash]*torrent
	seeders  int
	leechers int
	_        [24]byte // pad to a cache line so neighbouring shards' locks do not share one
}

type torrent struct {
	v4         peerList[peer4]
	v6         peerList[peer6]
	seeders    int32
	leechers   int32
	downloaded uint32
}

var _ store.Store = (*Store)(nil)

// New returns an empty store; zero fields of limits take their defaults.
func New(limits store.Limits) *Store {
	limits = limits.WithDefaults()
	s := &Store{limits: limits, epoch: time.Now()}
	s.ttlTicks = uint32(min(limits.TTL, maxTTL) / (tickSeconds * time.Second))
	for i := range s.shards {
		s.shards[i].torrents = make(map[store.InfoHash]*torrent)
	}
	return s
}

// Limits returns the limits in force.
func (s *Store) Limits() store.Limits { return s.limits }

func (s *Store) shardOf(h store.InfoHash) *shard {
	return &s.shards[(uint(h[0])<<8|uint(h[1]))&(shardCount-1)]
}

// maxTTL caps the TTL well inside the 36 hours a peer's 15-bit time can tell apart.
const maxTTL = 24 * time.Hour

// ticks returns now in ticks since the store's epoch.
func (s *Store) ticks(now time.Time) uint32 {
	d := max(now.Sub(s.epoch), 0)
	return uint32(d / (tickSeconds * time.Second))
}

// Announce implements store.Store.
func (s *Store) Announce(_ context.Context, a store.Announce, out []netip.AddrPort) ([]netip.AddrPort, store.Counts, error) {
	if !a.Peer.IsValid() || a.Peer.Addr().Is4In6() || a.Peer.Port() == 0 {
		return out, store.Counts{}, fmt.Errorf("memory store: announce with unusable peer address %v", a.Peer)
	}
	nowTicks := s.ticks(time.Now())
	sh := s.shardOf(a.InfoHash)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	t := sh.torrents[a.InfoHash]
	if t == nil {
		if a.Event == store.EventStopped {
			return out, store.Counts{}, nil
		}
		if s.torrents.Add(1) > int64(s.limits.MaxTorrents) {
			s.torrents.Add(-1)
			return out, store.Counts{}, fmt.Errorf("announce %v: %w (%d)", a.InfoHash, store.ErrTooManyTorrents, s.limits.MaxTorrents)
		}
		t = &torrent{}
		sh.torrents[a.InfoHash] = t
	}
	seeder := a.Left == 0
	var change peerChange
	if a.Peer.Addr().Is4() {
		self := newPeer4(a.Peer, newMeta(nowTicks, seeder))
		t.v4, change = update(t.v4, self, a.Event, s.canAdd(t))
		if a.Event != store.EventStopped {
			out = t.v4.pick(out, a.NumWant, self, nowTicks, s.ttlTicks)
		}
	} else {
		self := newPeer6(a.Peer, newMeta(nowTicks, seeder))
		t.v6, change = update(t.v6, self, a.Event, s.canAdd(t))
		if a.Event != store.EventStopped {
			out = t.v6.pick(out, a.NumWant, self, nowTicks, s.ttlTicks)
		}
	}
	t.seeders += int32(change.seeders)
	t.leechers += int32(change.leechers)
	t.downloaded += uint32(change.downloaded)
	sh.seeders += change.seeders
	sh.leechers += change.leechers
	counts := t.counts()
	if len(t.v4) == 0 && len(t.v6) == 0 {
		// Only a stop (or a full swarm refusing a peer) leaves a torrent empty here.
		delete(sh.torrents, a.InfoHash)
		s.torrents.Add(-1)
	}
	return out, counts, nil
}

func (s *Store) canAdd(t *torrent) bool {
	return len(t.v4)+len(t.v6) < s.limits.MaxPeersPerTorrent
}

func (t *torrent) counts() store.Counts {
	return store.Counts{Complete: int(t.seeders), Incomplete: int(t.leechers), Downloaded: int(t.downloaded)}
}

// peerChange is what an announce did to a torrent's counts.
type peerChange struct{ seeders, leechers, downloaded int }

// update applies one announce of peer p to list l (rules 4 to 6 and 8 of package store).
func update[R record[R]](l peerList[R], p R, ev store.Event, canAdd bool) (peerList[R], peerChange) {
	var c peerChange
	i, found := l.find(p)
	if found {
		old := l[i]
		if old.getMeta().seeder() {
			c.seeders--
		} else {
			c.leechers--
		}
		if ev == store.EventStopped {
			return append(l[:i], l[i+1:]...), c
		}
		if p.getMeta().seeder() && !old.getMeta().seeder() {
			c.downloaded++
		}
		l[i] = p
	} else {
		if ev == store.EventStopped || !canAdd {
			return l, c
		}
		if ev == store.EventCompleted && p.getMeta().seeder() {
			c.downloaded++
		}
		l = growForInsert(l)
		l = l[:len(l)+1]
		copy(l[i+1:], l[i:])
		l[i] = p
	}
	if p.getMeta().seeder() {
		c.seeders++
	} else {
		c.leechers++
	}
	return l, c
}

// growForInsert makes room for one more record. Lists grow by an eighth (a quarter while
// small) rather than doubling, because peer lists are where a tracker's memory goes, and the
// new capacity is rounded up to the allocator's size class so no allocated byte goes unused.
// Each record is copied about eight times over the list's growth, which is cheap next to the
// memory saved.
func growForInsert[R record[R]](l peerList[R]) peerList[R] {
	if len(l) < cap(l) {
		return l
	}
	var extra int
	switch n := len(l); {
	case n < 8:
		extra = 2
	case n < 64:
		extra = n / 4
	default:
		extra = n / 8
	}
	// slices.Grow on a nil slice allocates exactly one size-class-rounded block.
	return append(slices.Grow(peerList[R](nil), len(l)+extra), l...)
}

// Scrape implements store.Store.
func (s *Store) Scrape(_ context.Context, hashes []store.InfoHash, out []store.Counts) ([]store.Counts, error) {
	for _, h := range hashes {
		sh := s.shardOf(h)
		sh.mu.Lock()
		var c store.Counts
		if t := sh.torrents[h]; t != nil {
			c = t.counts()
		}
		sh.mu.Unlock()
		out = append(out, c)
	}
	return out, nil
}

// Collect implements store.Store. It holds one shard's lock at a time.
func (s *Store) Collect(_ context.Context, now time.Time) error {
	nowTicks := s.ticks(now)
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for h, t := range sh.torrents {
			var gone4, gone6 peerChange
			t.v4, gone4.seeders, gone4.leechers = t.v4.collect(nowTicks, s.ttlTicks)
			t.v6, gone6.seeders, gone6.leechers = t.v6.collect(nowTicks, s.ttlTicks)
			seeders, leechers := gone4.seeders+gone6.seeders, gone4.leechers+gone6.leechers
			t.seeders -= int32(seeders)
			t.leechers -= int32(leechers)
			sh.seeders -= seeders
			sh.leechers -= leechers
			if len(t.v4) == 0 && len(t.v6) == 0 {
				delete(sh.torrents, h)
				s.torrents.Add(-1)
			}
		}
		sh.mu.Unlock()
	}
	return nil
}

// Totals implements store.Store.
func (s *Store) Totals(context.Context) (store.Totals, error) {
	var t store.Totals
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		t.Torrents += len(sh.torrents)
		t.Seeders += sh.seeders
		t.Leechers += sh.leechers
		sh.mu.Unlock()
	}
	return t, nil
}
