package memory

import (
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
)

// A swarm's peers are a slice kept sorted by address and port, as opentracker does: no index
// beside the records, so a peer costs its record (7 bytes for IPv4, 19 for IPv6) plus the
// slice's spare capacity. Lookups are binary searches; an insert or removal moves the records
// after it, which is cheap for the swarm sizes trackers see (a 10,000-peer swarm moves at most
// 70 kB) and happens only when a peer arrives or leaves, not on its periodic re-announces.
//
// A peer is identified by address and port only (no peer_id is kept): two clients behind one
// NAT address that use the same port are one peer, as in opentracker.

// meta is a record's last byte: the seeder flag in the low bit and, in the other seven, the
// tick of the peer's last announce as an offset from its torrent's base tick (see torrent).
type meta uint8

// maxOffset is the largest tick offset a meta holds.
const maxOffset = 1<<7 - 1

func newMeta(offset uint32, seeder bool) meta {
	m := meta(offset) << 1
	if seeder {
		m |= 1
	}
	return m
}

func (m meta) seeder() bool            { return m&1 != 0 }
func (m meta) offset() uint32          { return uint32(m >> 1) }
func (m meta) live(minOff uint32) bool { return m.offset() >= minOff }

// peer4 is an IPv4 peer: address and port big-endian, then its meta. 7 bytes, byte-aligned,
// so a slice of them has no padding. Single-byte fields rather than a [7]byte because Go
// passes structs of scalars in registers and arrays in memory, and the binary search and pick
// call these methods on every record (bench/tracker/RESULTS.md measures the difference).
type peer4 struct{ a0, a1, a2, a3, p0, p1, m uint8 }

// peer6 is an IPv6 peer: 19 bytes, laid out as peer4.
type peer6 [19]byte

// record is what a peerList holds: peer4 or peer6, identified by address and port.
type record[R any] interface {
	peer4 | peer6
	compare(R) int
	getMeta() meta
	withMeta(meta) R
	addrPort() netip.AddrPort
}

func (p peer4) key() uint64 {
	return uint64(p.a0)<<40 | uint64(p.a1)<<32 | uint64(p.a2)<<24 | uint64(p.a3)<<16 | uint64(p.p0)<<8 | uint64(p.p1)
}
func (p peer4) compare(q peer4) int { return cmp.Compare(p.key(), q.key()) }
func (p peer4) getMeta() meta       { return meta(p.m) }
func (p peer4) withMeta(m meta) peer4 {
	p.m = uint8(m)
	return p
}
func (p peer4) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{p.a0, p.a1, p.a2, p.a3}), uint16(p.p0)<<8|uint16(p.p1))
}

func (p peer6) compare(q peer6) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(p[0:8]), binary.BigEndian.Uint64(q[0:8])); c != 0 {
		return c
	}
	if c := cmp.Compare(binary.BigEndian.Uint64(p[8:16]), binary.BigEndian.Uint64(q[8:16])); c != 0 {
		return c
	}
	return cmp.Compare(binary.BigEndian.Uint16(p[16:18]), binary.BigEndian.Uint16(q[16:18]))
}
func (p peer6) getMeta() meta { return meta(p[18]) }
func (p peer6) withMeta(m meta) peer6 {
	p[18] = byte(m)
	return p
}
func (p peer6) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16([16]byte(p[0:16])), binary.BigEndian.Uint16(p[16:18]))
}

func newPeer4(ap netip.AddrPort, m meta) peer4 {
	b := ap.Addr().As4()
	port := ap.Port()
	return peer4{b[0], b[1], b[2], b[3], uint8(port >> 8), uint8(port), uint8(m)}
}

func newPeer6(ap netip.AddrPort, m meta) peer6 {
	var p peer6
	b := ap.Addr().As16()
	copy(p[0:16], b[:])
	binary.BigEndian.PutUint16(p[16:18], ap.Port())
	p[18] = byte(m)
	return p
}

// peerList is one family's swarm of a torrent, sorted by address and port.
type peerList[R record[R]] []R

func (l peerList[R]) find(p R) (int, bool) {
	// IPv4 swarms, the common case, are searched on a 48-bit key with no call per probe:
	// generic code calls a type parameter's methods through a dictionary, never inlined, and
	// that made the binary search a sixth of an announce's CPU time.
	if l4, ok := any(l).(peerList[peer4]); ok {
		return find4(l4, any(p).(peer4))
	}
	return slices.BinarySearchFunc(l, p, R.compare)
}

func find4(l peerList[peer4], p peer4) (int, bool) {
	k := p.key()
	lo, hi := 0, len(l)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l[m].key() < k {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(l) && l[lo].key() == k
}

// pick appends up to want live peers (offset ≥ minOff) other than the one at index self (the
// requester; -1 when it is not in the list), chosen at random: a random start and a random
// stride coprime with the length visit every index once in an order that changes with each
// call.
func (l peerList[R]) pick(out []netip.AddrPort, want int, self int, minOff uint32) []netip.AddrPort {
	n := len(l)
	if want <= 0 || n == 0 {
		return out
	}
	if want >= n { // every live peer but self
		for j, p := range l {
			if j != self && p.getMeta().live(minOff) {
				out = append(out, p.addrPort())
			}
		}
		return out
	}
	i, stride := rand.IntN(n), randomCoprime(n)
	for visited := 0; visited < n && want > 0; visited++ {
		if p := l[i]; i != self && p.getMeta().live(minOff) {
			out = append(out, p.addrPort())
			want--
		}
		if i += stride; i >= n {
			i -= n
		}
	}
	return out
}

// randomCoprime returns a random stride in [1, n) sharing no factor with n (1 when n ≤ 2).
func randomCoprime(n int) int {
	if n <= 2 {
		return 1
	}
	s := 1 + rand.IntN(n-1)
	for gcd(s, n) != 1 {
		if s++; s == n {
			s = 1
		}
	}
	return s
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// rebase moves every record's offset down by shift, to 0 for those older than that (which
// are expired: the caller shifts by more than the TTL only past records that old).
func (l peerList[R]) rebase(shift uint32) {
	for i, p := range l {
		m := p.getMeta()
		off := m.offset()
		if off > shift {
			off -= shift
		} else {
			off = 0
		}
		l[i] = p.withMeta(newMeta(off, m.seeder()))
	}
}

// collect drops the peers no longer live, keeping the order, and returns the list (shrunk)
// and the numbers of seeders and leechers dropped.
func (l peerList[R]) collect(minOff uint32) (kept peerList[R], seeders, leechers int) {
	kept = l[:0]
	for _, p := range l {
		switch m := p.getMeta(); {
		case m.live(minOff):
			kept = append(kept, p)
		case m.seeder():
			seeders++
		default:
			leechers++
		}
	}
	clear(l[len(kept):]) // not needed for memory safety (no pointers), but keeps dumps honest
	return shrink(kept), seeders, leechers
}

// shrink gives spare capacity back once l is less than a quarter full, so a list that shrank
// does not keep its peak size; an empty l becomes nil.
func shrink[S ~[]E, E any](l S) S {
	switch {
	case len(l) == 0:
		return nil
	case cap(l) > 16 && len(l) < cap(l)/4:
		return slices.Clip(slices.Clone(l))
	}
	return l
}

// growForInsert makes room for one more element. Lists grow by an eighth (a quarter while
// small) rather than doubling, because peer lists are where a tracker's memory goes, and the
// new capacity is rounded up to the allocator's size class so no allocated byte goes unused.
// Each element is copied about eight times over the list's growth, which is cheap next to the
// memory saved.
func growForInsert[S ~[]E, E any](l S) S {
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
	return append(slices.Grow(S(nil), len(l)+extra), l...)
}

// insertAt inserts e at index i, growing l by growForInsert's rule.
func insertAt[S ~[]E, E any](l S, i int, e E) S {
	l = growForInsert(l)
	l = l[:len(l)+1]
	copy(l[i+1:], l[i:])
	l[i] = e
	return l
}
