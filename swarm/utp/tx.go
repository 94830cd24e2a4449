package utp

// Batching of outgoing packets: the packets one flush produces go out together, as one UDP
// GSO send on Linux (offload_linux.go), one datagram at a time elsewhere.

import "sync"

// txBatch is a run of packets for one send: all seg bytes long except maybe the last.
type txBatch struct {
	buf   []byte
	seg   int
	n     int
	short bool
}

const (
	maxBatchBytes = 65000
	// gsoMaxSegments is the kernel's UDP_MAX_SEGMENTS of older kernels (newer allow 128).
	gsoMaxSegments = 64
)

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, maxBatchBytes); return &b }}

func (t *txBatch) release() {
	if t.buf != nil {
		b := t.buf[:0]
		batchPool.Put(&b)
	}
	*t = txBatch{}
}

// queueTx adds a packet to the batch, sending the batch first if the packet cannot join it.
func (c *Conn) queueTx(b []byte) {
	if !c.s.gso.Load() {
		c.s.write(b, c.raddr)
		return
	}
	t := &c.tx
	if t.n > 0 && (len(b) > t.seg || t.short || len(t.buf)+len(b) > maxBatchBytes || t.n >= gsoMaxSegments) {
		c.flushTx()
	}
	if t.buf == nil {
		t.buf = (*batchPool.Get().(*[]byte))[:0]
	}
	if t.n == 0 {
		t.seg = len(b)
	} else if len(b) < t.seg {
		t.short = true
	}
	t.buf = append(t.buf, b...)
	t.n++
}

// flushTx sends the batch.
func (c *Conn) flushTx() {
	t := &c.tx
	switch {
	case t.n == 0:
	case t.n == 1:
		c.s.write(t.buf, c.raddr)
	default:
		c.s.st.packetsOut.Add(int64(t.n))
		if !c.s.writeGSO(t.buf, t.seg, c.raddr) {
			for b := t.buf; len(b) > 0; {
				k := min(t.seg, len(b))
				c.s.write(b[:k], c.raddr)
				b = b[k:]
			}
		}
	}
	t.release()
}
