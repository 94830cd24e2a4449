// Package memory is the tracker's in-memory peer store: torrents in a table of fixed slots,
// found through shards that each keep a sorted index of their infohashes; each torrent's IPv4
// and IPv6 swarms are sorted slices of 7- and 19-byte records (address, port, and one byte for
// the seeder flag and the announce time).
// No per-peer pointer, map entry or peer_id: about 8 bytes per IPv4 peer in all at 100 peers
// a torrent. It keeps the rules of package store (checked by its conformance suite).
package memory

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	"shoal/tracker/store"
)

// shardCount spreads torrents over locks so announces for different torrents rarely wait for
// each other, and keeps each shard's sorted slice short.
const (
	shardBits  = 10
	shardCount = 1 << shardBits
)

// Store is the in-memory store. The zero value is not usable: call New.
type Store struct {
	limits    store.Limits
	epoch     time.Time
	shardKeys [6]uint64     // random keys of shardOf
	tick      time.Duration // the unit of a peer's announce time
	ttlTicks  uint32        // the TTL in ticks, at most 64
	table     torrentTable  // the torrents, and their count for MaxTorrents
	shards    [shardCount]shard
}

// A shard indexes its torrents in a slice of keys sorted by infohash: the hash's first 8 bytes
// and the torrent's slot in the table (torrentTable says why the torrents are not in the
// shard). 12 bytes a torrent; no map (a Go map would add about 40 bytes of slot and control per
// entry). Creating or dropping a torrent moves the keys after it, at most a few thousand bytes
// at a million torrents.
type shard struct {
	mu       sync.Mutex
	index    []torrentKey
	seeders  int
	leechers int
	_        [16]byte // pad to a cache line so neighbouring shards' locks do not share one
}

// torrentKey finds a torrent: the first 8 bytes of its infohash, big-endian in two halves
// (which decide the order but for a tie, then settled on the torrent's whole hash), and its
// slot in the table.
type torrentKey struct{ hi, lo, slot uint32 }

func (k torrentKey) prefix() uint64 { return uint64(k.hi)<<32 | uint64(k.lo) }

// torrent is one infohash's two swarms. A peer's announce time is kept in the 7 bits of its
// record's meta as an offset in ticks from base; when an announce is more than maxOffset
// ticks past base, base moves up (rebase) and the records with it, those already expired
// to offset 0.
type torrent struct {
	hashTail   [12]byte // the infohash's last 12 bytes; the first 8 are in the shard's key
	base       uint32
	v4         peerList[peer4]
	v6         *peerList[peer6] // nil while the torrent has no IPv6 peer, as most have not
	seeders    int32
	leechers   int32
	downloaded uint32
}

// A torrent costs 64 bytes in the table and 12 in its shard's index.
const torrentSize = 64

func (t *torrent) ipv6() peerList[peer6] {
	if t.v6 == nil {
		return nil
	}
	return *t.v6
}

func (t *torrent) setIPv6(l peerList[peer6]) {
	switch {
	case len(l) == 0:
		t.v6 = nil
	case t.v6 == nil:
		t.v6 = new(peerList[peer6]) // not &l, which would put every call's l on the heap
		*t.v6 = l
	default:
		*t.v6 = l
	}
}

func (t *torrent) peers() int { return len(t.v4) + len(t.ipv6()) }

var _ store.Store = (*Store)(nil)

// minTick is the shortest tick; with short TTLs the tick is this and the TTL fewer than 64.
const minTick = 4 * time.Second

// New returns an empty store; zero fields of limits take their defaults.
func New(limits store.Limits) *Store {
	limits = limits.WithDefaults()
	s := &Store{limits: limits, epoch: time.Now(), table: newTorrentTable(limits.MaxTorrents)}
	for i := range s.shardKeys {
		s.shardKeys[i] = rand.Uint64()
	}
	// A TTL of 64 ticks: a peer expires within a tick of its TTL (TTL/64, 42 s of the default
	// 45 minutes; minTick for TTLs under about 4 minutes), where opentracker's granularity is
	// 5 minutes of its 45. 64 leaves the 7-bit offsets room for 62 ticks between rebases.
	s.tick = max(limits.TTL/64, minTick)
	s.ttlTicks = uint32(min(limits.TTL/s.tick, 64))
	return s
}

// Limits returns the limits in force.
func (s *Store) Limits() store.Limits { return s.limits }

// shardOf picks h's shard by a hash with per-store random keys, not by the infohash's own
// bytes: clients choose infohashes, and ones crafted to share a shard would make its sorted
// slice, and every insert into it, as long as the whole store. The hash is Dietzfelbinger's
// multiply-shift over the five 32-bit words (2-universal with random keys), a few
// nanoseconds where hash/maphash takes tens.
func (s *Store) shardOf(h store.InfoHash) *shard {
	x := s.shardKeys[5]
	for i := range 5 {
		x += s.shardKeys[i] * uint64(binary.LittleEndian.Uint32(h[4*i:]))
	}
	// Multiply-shift spreads hashes well on average over keys, but for a given key the top
	// bits of k·i can cluster when hashes differ in one word (about one key in twenty put
	// 20,000 such hashes in under half the shards). splitmix64's finalizer mixes every bit
	// of the sum into the ones that pick the shard.
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return &s.shards[x>>(64-shardBits)]
}

// find returns where the torrent h is, or would be inserted, in the shard's index.
func (s *Store) find(sh *shard, h store.InfoHash) (int, bool) {
	// Infohashes are uniform, so their first 8 bytes almost always decide; the rest are
	// compared, on the torrent itself, only on a tie there.
	key := binary.BigEndian.Uint64(h[:8])
	lo, hi := 0, len(sh.index)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if k := sh.index[m].prefix(); k < key || k == key && bytes.Compare(s.table.at(sh.index[m].slot).hashTail[:], h[8:]) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(sh.index) && sh.index[lo].prefix() == key && s.table.at(sh.index[lo].slot).hashTail == [12]byte(h[8:])
}

// ticks returns now in ticks since the store's epoch.
func (s *Store) ticks(now time.Time) uint32 {
	d := max(now.Sub(s.epoch), 0)
	return uint32(d / s.tick)
}

// minOffset returns the smallest offset from t.base a live record has at nowTicks
// (maxOffset+1 when none can be live).
func (s *Store) minOffset(t *torrent, nowTicks uint32) uint32 {
	if nowTicks <= t.base+s.ttlTicks {
		return 0
	}
	return min(nowTicks-s.ttlTicks-t.base, maxOffset+1)
}

// offset returns nowTicks as an offset from t.base, rebasing t first if it does not fit.
func (s *Store) offset(t *torrent, nowTicks uint32) uint32 {
	if nowTicks < t.base { // an announce that read the clock before another rebased
		return 0
	}
	if off := nowTicks - t.base; off <= maxOffset {
		return off
	}
	// Keep just the offsets that can still be live: the TTL plus one tick.
	newBase := nowTicks - s.ttlTicks - 1
	shift := newBase - t.base
	t.v4.rebase(shift)
	t.ipv6().rebase(shift)
	t.base = newBase
	return nowTicks - newBase
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
	i, found := s.find(sh, a.InfoHash)
	if !found {
		if a.Event == store.EventStopped {
			return out, store.Counts{}, nil
		}
		slot, ok := s.table.alloc()
		if !ok {
			return out, store.Counts{}, fmt.Errorf("announce %v: %w (%d)", a.InfoHash, store.ErrTooManyTorrents, s.limits.MaxTorrents)
		}
		*s.table.at(slot) = torrent{hashTail: [12]byte(a.InfoHash[8:]), base: nowTicks}
		sh.index = insertAt(sh.index, i, torrentKey{
			hi:   binary.BigEndian.Uint32(a.InfoHash[0:4]),
			lo:   binary.BigEndian.Uint32(a.InfoHash[4:8]),
			slot: slot,
		})
	}
	slot := sh.index[i].slot
	t := s.table.at(slot)
	m := newMeta(s.offset(t, nowTicks), a.Left == 0)
	minOff := s.minOffset(t, nowTicks)
	var change peerChange
	if a.Peer.Addr().Is4() {
		self := newPeer4(a.Peer, m)
		var at int
		t.v4, change, at = update(t.v4, self, a.Event, s.canAdd(t))
		if a.Event != store.EventStopped {
			out = t.v4.pick(out, a.NumWant, at, minOff)
		}
	} else {
		self := newPeer6(a.Peer, m)
		var at int
		var v6 peerList[peer6]
		v6, change, at = update(t.ipv6(), self, a.Event, s.canAdd(t))
		t.setIPv6(v6)
		if a.Event != store.EventStopped {
			out = v6.pick(out, a.NumWant, at, minOff)
		}
	}
	t.seeders += int32(change.seeders)
	t.leechers += int32(change.leechers)
	t.downloaded += uint32(change.downloaded)
	sh.seeders += change.seeders
	sh.leechers += change.leechers
	counts := t.counts()
	if t.peers() == 0 {
		// Only a stop (or a full swarm refusing a peer) leaves a torrent empty here.
		sh.index = slices.Delete(sh.index, i, i+1)
		s.table.release(slot)
	}
	return out, counts, nil
}

func (s *Store) canAdd(t *torrent) bool {
	return t.peers() < s.limits.MaxPeersPerTorrent
}

func (t *torrent) counts() store.Counts {
	return store.Counts{Complete: int(t.seeders), Incomplete: int(t.leechers), Downloaded: int(t.downloaded)}
}

// peerChange is what an announce did to a torrent's counts.
type peerChange struct{ seeders, leechers, downloaded int }

// update applies one announce of peer p to list l (rules 4 to 6 and 8 of package store). It
// returns where p now is in the list, -1 when it is not there (stopped or not recorded).
func update[R record[R]](l peerList[R], p R, ev store.Event, canAdd bool) (peerList[R], peerChange, int) {
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
			return append(l[:i], l[i+1:]...), c, -1
		}
		if p.getMeta().seeder() && !old.getMeta().seeder() {
			c.downloaded++
		}
		l[i] = p
	} else {
		if ev == store.EventStopped || !canAdd {
			return l, c, -1
		}
		if ev == store.EventCompleted && p.getMeta().seeder() {
			c.downloaded++
		}
		l = insertAt(l, i, p)
	}
	if p.getMeta().seeder() {
		c.seeders++
	} else {
		c.leechers++
	}
	return l, c, i
}

// Scrape implements store.Store.
func (s *Store) Scrape(_ context.Context, hashes []store.InfoHash, out []store.Counts) ([]store.Counts, error) {
	for _, h := range hashes {
		sh := s.shardOf(h)
		sh.mu.Lock()
		var c store.Counts
		if i, found := s.find(sh, h); found {
			c = s.table.at(sh.index[i].slot).counts()
		}
		sh.mu.Unlock()
		out = append(out, c)
	}
	return out, nil
}

// Collect implements store.Store. It holds one shard's lock at a time. When more than half the
// table's slots are free it also moves torrents down into free slots, so that the chunks at
// the top of the table empty and are given back (torrentTable).
func (s *Store) Collect(_ context.Context, now time.Time) error {
	nowTicks := s.ticks(now)
	var dropped []uint32 // the slots of a shard's torrents left without peers
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		dropped = dropped[:0]
		kept := sh.index[:0]
		for _, k := range sh.index {
			t := s.table.at(k.slot)
			minOff := s.minOffset(t, nowTicks)
			var v6 peerList[peer6]
			var seeders4, leechers4, seeders6, leechers6 int
			t.v4, seeders4, leechers4 = t.v4.collect(minOff)
			v6, seeders6, leechers6 = t.ipv6().collect(minOff)
			t.setIPv6(v6)
			t.seeders -= int32(seeders4 + seeders6)
			t.leechers -= int32(leechers4 + leechers6)
			sh.seeders -= seeders4 + seeders6
			sh.leechers -= leechers4 + leechers6
			if t.peers() == 0 {
				dropped = append(dropped, k.slot)
				continue
			}
			kept = append(kept, k)
		}
		sh.index = shrink(kept)
		s.table.collect(dropped, sh.index)
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
		t.Torrents += len(sh.index)
		t.Seeders += sh.seeders
		t.Leechers += sh.leechers
		sh.mu.Unlock()
	}
	return t, nil
}
