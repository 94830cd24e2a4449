package utp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Packet types (BEP 29).
const (
	stData   = 0 // payload
	stFin    = 1 // the sender's last sequence number: no data after it
	stState  = 2 // an ACK; carries no sequence number of its own
	stReset  = 3 // abort the connection
	stSyn    = 4 // open a connection
	numTypes = 5
)

const (
	version    = 1
	headerSize = 20

	extNone = 0
	extSack = 1 // selective ACK bitmask, BEP 29
	// extCloseReason is libtorrent's close-reason extension (4 bytes). We never send it and
	// only skip over it.
	extCloseReason = 3

	// maxSackBytes bounds the selective ACK bitmask we send: 128 bytes cover 1024 packets
	// past ack_nr+1, more than our reorder buffer holds.
	maxSackBytes = 128
)

var typeNames = [...]string{"DATA", "FIN", "STATE", "RESET", "SYN"}

// header is the fixed 20-byte uTP header.
type header struct {
	typ       uint8
	ext       uint8 // first extension type, 0 for none
	connID    uint16
	timestamp uint32 // sender's clock, microseconds, wraps
	tsDiff    uint32 // sender's receive clock minus our last timestamp
	wnd       uint32 // bytes the sender can still buffer
	seq       uint16
	ack       uint16
}

// packet is a parsed datagram. sack and payload alias the datagram.
type packet struct {
	header
	sack    []byte // selective ACK bitmask, nil when absent
	payload []byte
}

var (
	errShort      = errors.New("utp: datagram shorter than a header")
	errVersion    = errors.New("utp: not version 1")
	errType       = errors.New("utp: unknown packet type")
	errExtension  = errors.New("utp: truncated extension")
	errExtTooMany = errors.New("utp: too many extensions")
)

// looksLikeUTP reports whether b could be a uTP packet: the socket sends everything else to
// the PacketConn reader. Bencoded DHT messages start with 'd' (type 6, version 4), so they
// never match.
func looksLikeUTP(b []byte) bool {
	return len(b) >= headerSize && b[0]&0xf == version && b[0]>>4 < numTypes
}

// parsePacket decodes a datagram. It never panics, whatever b holds, and the slices it
// returns point into b.
func parsePacket(b []byte) (p packet, err error) {
	if len(b) < headerSize {
		return p, errShort
	}
	if b[0]&0xf != version {
		return p, errVersion
	}
	p.typ = b[0] >> 4
	if p.typ >= numTypes {
		return p, errType
	}
	p.ext = b[1]
	p.connID = binary.BigEndian.Uint16(b[2:])
	p.timestamp = binary.BigEndian.Uint32(b[4:])
	p.tsDiff = binary.BigEndian.Uint32(b[8:])
	p.wnd = binary.BigEndian.Uint32(b[12:])
	p.seq = binary.BigEndian.Uint16(b[16:])
	p.ack = binary.BigEndian.Uint16(b[18:])
	rest := b[headerSize:]
	// Extensions form a chain: each names the type of the next one. A cap on the chain
	// length keeps a hostile packet from costing more than a few steps.
	ext := p.ext
	for i := 0; ext != extNone; i++ {
		if i >= 8 {
			return p, errExtTooMany
		}
		if len(rest) < 2 {
			return p, errExtension
		}
		next, n := rest[0], int(rest[1])
		if len(rest) < 2+n {
			return p, errExtension
		}
		if ext == extSack && n > 0 && p.sack == nil {
			// BEP 29 says the length is a multiple of 4; libtorrent sends any length,
			// so accept any.
			p.sack = rest[2 : 2+n : 2+n]
		}
		rest = rest[2+n:]
		ext = next
	}
	p.payload = rest
	return p, nil
}

// put writes the fixed header into b[:headerSize].
func (h *header) put(b []byte) {
	b[0] = h.typ<<4 | version
	b[1] = h.ext
	binary.BigEndian.PutUint16(b[2:], h.connID)
	binary.BigEndian.PutUint32(b[4:], h.timestamp)
	binary.BigEndian.PutUint32(b[8:], h.tsDiff)
	binary.BigEndian.PutUint32(b[12:], h.wnd)
	binary.BigEndian.PutUint16(b[16:], h.seq)
	binary.BigEndian.PutUint16(b[18:], h.ack)
}

// encode appends the packet (header, SACK extension if any, payload) to dst.
func (p *packet) encode(dst []byte) []byte {
	h := p.header
	h.ext = extNone
	if len(p.sack) > 0 {
		h.ext = extSack
	}
	var hb [headerSize]byte
	h.put(hb[:])
	dst = append(dst, hb[:]...)
	if len(p.sack) > 0 {
		dst = append(dst, extNone, byte(len(p.sack)))
		dst = append(dst, p.sack...)
	}
	return append(dst, p.payload...)
}

func (h header) String() string {
	t := "?"
	if int(h.typ) < len(typeNames) {
		t = typeNames[h.typ]
	}
	return fmt.Sprintf("%s id=%d seq=%d ack=%d wnd=%d", t, h.connID, h.seq, h.ack, h.wnd)
}

// seqLess reports whether a comes before b in 16-bit sequence space: the shorter way round
// the circle decides, so 65535 < 2.
func seqLess(a, b uint16) bool { return a != b && b-a < 0x8000 }

// seqLE is seqLess or equal.
func seqLE(a, b uint16) bool { return a == b || b-a < 0x8000 }
