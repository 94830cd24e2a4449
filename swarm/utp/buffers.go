package utp

import (
	"sync"
	"time"
)

// maxDatagram is the largest UDP payload; the read buffer holds any datagram whole.
const maxDatagram = 65507

// byteRing is a FIFO of bytes that grows on demand. Callers enforce its cap, so an idle
// connection holds no buffer at all.
type byteRing struct {
	buf  []byte
	r, n int
}

func (b *byteRing) Len() int { return b.n }

func (b *byteRing) grow(need int) {
	size := len(b.buf)
	if size == 0 {
		size = 16 << 10
	}
	for size < need {
		size *= 2
	}
	nb := make([]byte, size)
	b.peek(nb[:b.n])
	b.buf, b.r = nb, 0
}

// Write appends p.
func (b *byteRing) Write(p []byte) {
	if b.n+len(p) > len(b.buf) {
		b.grow(b.n + len(p))
	}
	w := (b.r + b.n) % len(b.buf)
	k := copy(b.buf[w:], p)
	copy(b.buf, p[k:])
	b.n += len(p)
}

// peek copies the first len(p) bytes (at most Len) into p without consuming them.
func (b *byteRing) peek(p []byte) int {
	if b.n == 0 {
		return 0
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	k := copy(p, b.buf[b.r:])
	if k < len(p) {
		k += copy(p[k:], b.buf)
	}
	return k
}

// Read moves up to len(p) bytes into p.
func (b *byteRing) Read(p []byte) int {
	k := b.peek(p)
	b.r = (b.r + k) % max(len(b.buf), 1)
	b.n -= k
	if b.n == 0 {
		b.r = 0
	}
	return k
}

// Reset drops the contents and the buffer.
func (b *byteRing) Reset() { *b = byteRing{} }

// outPacket is a packet we sent and keep until it is acknowledged.
type outPacket struct {
	buf           []byte // headerSize bytes of room, then the payload
	seq           uint16
	typ           uint8
	sent          time.Time // last transmission
	transmissions int
	needResend    bool // declared lost, waiting for window to resend
	inflight      bool // counted in Conn.inflight
}

func (op *outPacket) payloadLen() int { return len(op.buf) - headerSize }

var outPool = sync.Pool{New: func() any { return &outPacket{} }}

// pktBufPool holds buffers for outgoing packets and out-of-order payloads.
var pktBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1500); return &b }}

func getBuf(n int) []byte {
	if n > 1500 {
		return make([]byte, n)
	}
	bp := pktBufPool.Get().(*[]byte)
	return (*bp)[:n]
}

func putBuf(b []byte) {
	if cap(b) != 1500 {
		return
	}
	b = b[:0]
	pktBufPool.Put(&b)
}

func newOutPacket(typ uint8, seq uint16, payload int) *outPacket {
	op := outPool.Get().(*outPacket)
	*op = outPacket{buf: getBuf(headerSize + payload), seq: seq, typ: typ}
	return op
}

func freeOutPacket(op *outPacket) {
	putBuf(op.buf)
	*op = outPacket{}
	outPool.Put(op)
}

// outRing maps sequence numbers of unacknowledged packets to their packets. Its size is a
// power of two that grows with the number outstanding, so a quiet connection keeps a small
// table.
type outRing struct {
	pkts []*outPacket
}

func (r *outRing) get(seq uint16) *outPacket {
	if len(r.pkts) == 0 {
		return nil
	}
	p := r.pkts[int(seq)&(len(r.pkts)-1)]
	if p != nil && p.seq == seq {
		return p
	}
	return nil
}

func (r *outRing) put(p *outPacket) {
	if len(r.pkts) == 0 {
		r.pkts = make([]*outPacket, 64)
	}
	for r.pkts[int(p.seq)&(len(r.pkts)-1)] != nil {
		old := r.pkts
		r.pkts = make([]*outPacket, 2*len(old))
		for _, q := range old {
			if q != nil {
				r.pkts[int(q.seq)&(len(r.pkts)-1)] = q
			}
		}
	}
	r.pkts[int(p.seq)&(len(r.pkts)-1)] = p
}

// take removes and returns the packet with seq, if held.
func (r *outRing) take(seq uint16) *outPacket {
	p := r.get(seq)
	if p != nil {
		r.pkts[int(seq)&(len(r.pkts)-1)] = nil
	}
	return p
}

func (r *outRing) each(f func(*outPacket)) {
	for _, p := range r.pkts {
		if p != nil {
			f(p)
		}
	}
}

// reorderRing holds payloads that arrived ahead of a gap, by sequence number.
type reorderRing struct {
	slots []reorderSlot
	count int
	bytes int
}

type reorderSlot struct {
	seq  uint16
	ok   bool
	data []byte
}

// maxReorder is how far past the next expected packet we keep out-of-order packets; the
// SACK bitmask we send covers exactly this many (maxSackBytes*8).
const maxReorder = maxSackBytes * 8

func (r *reorderRing) get(seq uint16) []byte {
	if len(r.slots) == 0 {
		return nil
	}
	s := &r.slots[int(seq)&(len(r.slots)-1)]
	if s.ok && s.seq == seq {
		return s.data
	}
	return nil
}

func (r *reorderRing) has(seq uint16) bool {
	if len(r.slots) == 0 {
		return false
	}
	s := &r.slots[int(seq)&(len(r.slots)-1)]
	return s.ok && s.seq == seq
}

// put stores a copy of data; dist is seq's distance past the next expected packet, at most
// maxReorder, which sizes the ring so no two live slots collide.
func (r *reorderRing) put(seq uint16, dist int, data []byte) {
	if len(r.slots) <= dist {
		n := max(len(r.slots), 32)
		for n <= dist {
			n *= 2
		}
		old := r.slots
		r.slots = make([]reorderSlot, n)
		for _, s := range old {
			if s.ok {
				r.slots[int(s.seq)&(n-1)] = s
			}
		}
	}
	b := getBuf(len(data))
	copy(b, data)
	r.slots[int(seq)&(len(r.slots)-1)] = reorderSlot{seq: seq, ok: true, data: b}
	r.count++
	r.bytes += len(data)
}

// remove frees the slot of seq; the caller has consumed its data.
func (r *reorderRing) remove(seq uint16) {
	s := &r.slots[int(seq)&(len(r.slots)-1)]
	if s.ok && s.seq == seq {
		r.count--
		r.bytes -= len(s.data)
		putBuf(s.data)
		*s = reorderSlot{}
	}
}

func (r *reorderRing) reset() {
	for i := range r.slots {
		if r.slots[i].ok {
			putBuf(r.slots[i].data)
		}
	}
	*r = reorderRing{}
}
