package tracker

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"net/netip"
	"time"
)

// BEP 15 connection IDs are stateless: the high 32 bits are the issue time (Unix seconds), the
// low 32 bits an HMAC-SHA256 of that time and the client's address under a key drawn at start.
// Checking one needs no table, so a flood of connects costs no memory, and an ID proves its
// holder received a packet at that address (which is what stops spoofed announces).

// connIDKey is the secret the MACs are keyed with.
type connIDKey [32]byte

func newConnIDKey() connIDKey {
	var k connIDKey
	rand.Read(k[:]) // never fails (crypto/rand panics instead)
	return k
}

// connIDMAC computes connection IDs; each goroutine needs its own (it holds a hash state).
type connIDMAC struct {
	h        hash.Hash
	lifetime int64 // seconds
	in       [4 + 16]byte
	sum      [sha256.Size]byte
}

func newConnIDMAC(key connIDKey, lifetime time.Duration) *connIDMAC {
	return &connIDMAC{h: hmac.New(sha256.New, key[:]), lifetime: int64(lifetime / time.Second)}
}

func (m *connIDMAC) mac(issued uint32, addr netip.Addr) uint32 {
	binary.BigEndian.PutUint32(m.in[:4], issued)
	a16 := addr.Unmap().As16()
	copy(m.in[4:], a16[:])
	m.h.Reset()
	m.h.Write(m.in[:])
	return binary.BigEndian.Uint32(m.h.Sum(m.sum[:0]))
}

// issue returns a connection ID for addr at now.
func (m *connIDMAC) issue(addr netip.Addr, now time.Time) uint64 {
	issued := uint32(now.Unix())
	return uint64(issued)<<32 | uint64(m.mac(issued, addr))
}

// valid reports whether id was issued to addr no longer than the lifetime before now.
func (m *connIDMAC) valid(id uint64, addr netip.Addr, now time.Time) bool {
	issued := uint32(id >> 32)
	age := int64(int32(uint32(now.Unix()) - issued)) // wraps correctly across 2106
	if age < 0 || age > m.lifetime {
		return false
	}
	return subtle.ConstantTimeEq(int32(m.mac(issued, addr)), int32(uint32(id))) == 1
}
