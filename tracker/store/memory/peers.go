package memory

import (
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
)

// A swarm's peers are a slice kept sorted by address and port, as opentracker does: no index
// beside the records, so a peer costs its record (8 bytes for IPv4, 20 for IPv6) plus the
// slice's spare capacity. Lookups are binary searches; an insert or removal moves the records
// after it, which is cheap for the swarm sizes trackers see (a 10,000-peer swarm moves at most
// 80 kB) and happens only when a peer arrives or leaves, not on its periodic re-announces.

// meta packs a peer's last announce time and seeder flag into 16 bits: the time in ticks
// (tickSeconds each) modulo 2^15, and the flag in the low bit. Ages are computed modulo 2^15
// ticks (36 hours), which is exact as long as a peer is collected within that time of its
// last announce: the store caps the TTL at maxTTL and Collect runs every few minutes.
type meta uint16

const (
	tickSeconds = 4
	tickMask    = 1<<15 - 1
)

func newMeta(nowTicks uint32, seeder bool) meta {
	m := meta(nowTicks&tickMask) << 1
	if seeder {
		m |= 1
	}
	return m
}

func (m meta) seeder() bool { return m&1 != 0 }

// live reports whether a peer with this meta, at nowTicks, is within ttlTicks of its last
// announce.
func (m meta) live(nowTicks, ttlTicks uint32) bool {
	return (nowTicks-uint32(m>>1))&tickMask <= ttlTicks
}

// peer4 is an IPv4 peer: 8 bytes.
type peer4 struct {
	ip   uint32 // big-endian order as a number, so numeric order = address order
	port uint16
	meta meta
}

// peer6 is an IPv6 peer: 20 bytes.
type peer6 struct {
	ip   [16]byte
	port uint16
	meta meta
}

// record is what a peerList holds: peer4 or peer6, identified by address and port.
type record[R any] interface {
	peer4 | peer6
	compare(R) int
	getMeta() meta
	addrPort() netip.AddrPort
}

func (p peer4) compare(q peer4) int {
	if c := cmp.Compare(p.ip, q.ip); c != 0 {
		return c
	}
	return cmp.Compare(p.port, q.port)
}
func (p peer4) getMeta() meta { return p.meta }
func (p peer4) addrPort() netip.AddrPort {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], p.ip)
	return netip.AddrPortFrom(netip.AddrFrom4(b), p.port)
}

func (p peer6) compare(q peer6) int {
	if c := cmp.Compare(binary.BigEndian.Uint64(p.ip[:8]), binary.BigEndian.Uint64(q.ip[:8])); c != 0 {
		return c
	}
	if c := cmp.Compare(binary.BigEndian.Uint64(p.ip[8:]), binary.BigEndian.Uint64(q.ip[8:])); c != 0 {
		return c
	}
	return cmp.Compare(p.port, q.port)
}
func (p peer6) getMeta() meta { return p.meta }
func (p peer6) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(p.ip), p.port)
}

func newPeer4(ap netip.AddrPort, m meta) peer4 {
	b := ap.Addr().As4()
	return peer4{ip: binary.BigEndian.Uint32(b[:]), port: ap.Port(), meta: m}
}

func newPeer6(ap netip.AddrPort, m meta) peer6 {
	return peer6{ip: ap.Addr().As16(), port: ap.Port(), meta: m}
}

// peerList is one family's swarm of a torrent, sorted by address and port.
type peerList[R record[R]] []R

func (l peerList[R]) find(p R) (int, bool) {
	return slices.BinarySearchFunc(l, p, R.compare)
}

// pick appends up to want live peers other than self, chosen at random: a random start and a random stride coprime with the length visit every index once in
// an order that changes with each call.
func (l peerList[R]) pick(out []netip.AddrPort, want int, self R, nowTicks, ttlTicks uint32) []netip.AddrPort {
	n := len(l)
	if want <= 0 || n == 0 {
		return out
	}
	if want >= n { // every live peer but self
		for _, p := range l {
			if p.getMeta().live(nowTicks, ttlTicks) && p.compare(self) != 0 {
				out = append(out, p.addrPort())
			}
		}
		return out
	}
	i, stride := rand.IntN(n), randomCoprime(n)
	for visited := 0; visited < n && want > 0; visited++ {
		p := l[i]
		if p.getMeta().live(nowTicks, ttlTicks) && p.compare(self) != 0 {
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

// collect drops the peers no longer live, keeping the order, and returns the list and the
// numbers of seeders and leechers dropped. It gives spare capacity back once the list is less
// than a quarter full, so a swarm that shrank does not keep its peak size.
func (l peerList[R]) collect(nowTicks, ttlTicks uint32) (kept peerList[R], seeders, leechers int) {
	kept = l[:0]
	for _, p := range l {
		switch {
		case p.getMeta().live(nowTicks, ttlTicks):
			kept = append(kept, p)
		case p.getMeta().seeder():
			seeders++
		default:
			leechers++
		}
	}
	clear(l[len(kept):]) // not needed for memory safety (no pointers), but keeps dumps honest
	if cap(kept) > 16 && len(kept) < cap(kept)/4 {
		kept = slices.Clip(slices.Clone(kept))
	}
	if len(kept) == 0 {
		kept = nil
	}
	return kept, seeders, leechers
}
