// Package udpload is a BEP 15 load generator for comparing UDP trackers: sockets that each
// connect once and then announce in a closed loop, random torrents out of a list and random
// peers out of a range.
// It also fills a tracker with a fixed number of peers, to measure its memory.
//
// Sockets × Depth is the number of requests outstanding, like wrk's connections; a depth above
// one lets a few sockets keep the tracker busy without the generator's own scheduling cost
// dominating the measurement.
//
// It has no main (the project keeps one binary); bench/tracker/run.sh runs it through its test
// binary: `go test -c` then `udpload.test -test.run '^TestLoad$'` with UDPLOAD_* variables.
package udpload

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

const protocolID = 0x41727101980

// Config says what load to send.
type Config struct {
	Target      string        // host:port
	InfoHashes  [][20]byte    // torrents to announce
	Peers       int           // peer i: port 1025 + i%64000, peer_id "-UL0001-%012d"
	Sockets     int           // concurrent sockets
	Depth       int           // requests outstanding per socket (at least 1)
	Duration    time.Duration // how long to send
	NumWant     int32
	Timeout     time.Duration // a request without a reply in this time counts as lost
	SeederShare int           // one peer in SeederShare announces left=0
}

// Result is what a run measured.
type Result struct {
	Requests  int64
	Lost      int64
	Errors    int64 // error replies
	Duration  time.Duration
	P50, P99  time.Duration
	PerSecond float64
}

func (r Result) String() string {
	return fmt.Sprintf("RESULT requests=%d duration_s=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f lost=%d errors=%d",
		r.Requests, r.Duration.Seconds(), r.PerSecond, ms(r.P50), ms(r.P99), r.Lost, r.Errors)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Run sends announces until cfg.Duration is over.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if len(cfg.InfoHashes) == 0 || cfg.Peers <= 0 || cfg.Sockets <= 0 {
		return Result{}, errors.New("udpload: need info hashes, peers and sockets")
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		requests atomic.Int64
		lost     atomic.Int64
		errs     atomic.Int64
		firstErr error
	)
	start := time.Now()
	for w := range cfg.Sockets {
		wg.Go(func() {
			lat, err := worker(ctx, cfg, w, &requests, &lost, &errs)
			mu.Lock()
			all = append(all, lat...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return Result{}, firstErr
	}
	slices.Sort(all)
	r := Result{Requests: requests.Load(), Lost: lost.Load(), Errors: errs.Load(), Duration: elapsed}
	r.PerSecond = float64(len(all)) / elapsed.Seconds()
	if n := len(all); n > 0 {
		r.P50 = all[n/2]
		r.P99 = all[min(n-1, int(math.Ceil(float64(n)*0.99))-1)]
	}
	return r, nil
}

type client struct {
	conn    *net.UDPConn
	id      uint64
	idAt    time.Time
	buf     []byte
	timeout time.Duration
}

func (c *client) roundTrip(req []byte, txID uint32) ([]byte, error) {
	if _, err := c.conn.Write(req); err != nil {
		return nil, err
	}
	c.conn.SetReadDeadline(time.Now().Add(c.timeout))
	for {
		n, err := c.conn.Read(c.buf)
		if err != nil {
			return nil, err
		}
		if n >= 8 && binary.BigEndian.Uint32(c.buf[4:8]) == txID {
			return c.buf[:n], nil
		}
		// A late reply to an earlier, timed-out request: skip it.
	}
}

func (c *client) connect(txID uint32) error {
	req := binary.BigEndian.AppendUint64(nil, protocolID)
	req = binary.BigEndian.AppendUint32(req, 0)
	req = binary.BigEndian.AppendUint32(req, txID)
	r, err := c.roundTrip(req, txID)
	if err != nil {
		return err
	}
	if len(r) < 16 || binary.BigEndian.Uint32(r[0:4]) != 0 {
		return fmt.Errorf("udpload: bad connect reply %x", r)
	}
	c.id, c.idAt = binary.BigEndian.Uint64(r[8:16]), time.Now()
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func announcePacket(b []byte, connID uint64, txID uint32, ih [20]byte, peer int, left uint64, numWant int32) []byte {
	b = binary.BigEndian.AppendUint64(b[:0], connID)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, txID)
	b = append(b, ih[:]...)
	b = fmt.Appendf(b, "-UL0001-%012d", peer)
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint64(b, left)
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(peer))
	b = binary.BigEndian.AppendUint32(b, uint32(numWant))
	return binary.BigEndian.AppendUint16(b, uint16(1025+peer%64000))
}

// worker keeps cfg.Depth announces outstanding on one socket. It sends and receives with
// sendmmsg/recvmmsg (golang.org/x/net/ipv4 batches, one message per call elsewhere than Linux)
// so that the generator spends as little CPU as it can on the machine it shares with the
// tracker under test.
func worker(ctx context.Context, cfg Config, w int, requests, lost, errs *atomic.Int64) ([]time.Duration, error) {
	raddr, err := net.ResolveUDPAddr("udp", cfg.Target)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	pc := ipv4.NewPacketConn(conn)
	c := &client{conn: conn, buf: make([]byte, 4096), timeout: cfg.Timeout}
	rng := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
	depth := max(cfg.Depth, 1)
	var lat []time.Duration
	tx := uint32(w) << 20
	inflight := make(map[uint32]time.Time, depth)
	out := make([]ipv4.Message, depth)
	in := make([]ipv4.Message, depth)
	for i := range depth {
		out[i].Buffers = [][]byte{make([]byte, 0, 128)}
		in[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	for ctx.Err() == nil {
		if c.id == 0 || time.Since(c.idAt) > time.Minute {
			lost.Add(int64(len(inflight)))
			clear(inflight)
			tx++
			if err := c.connect(tx); err != nil {
				if isTimeout(err) {
					lost.Add(1)
					continue
				}
				return nil, fmt.Errorf("udpload: connect: %w", err)
			}
		}
		k := 0
		for len(inflight)+k < depth {
			tx++
			peer := rng.IntN(cfg.Peers)
			var left uint64 = 1 << 20
			if cfg.SeederShare > 0 && peer%cfg.SeederShare == 0 {
				left = 0
			}
			out[k].Buffers[0] = announcePacket(out[k].Buffers[0], c.id, tx, cfg.InfoHashes[rng.IntN(len(cfg.InfoHashes))], peer, left, cfg.NumWant)
			inflight[tx] = time.Now()
			k++
		}
		for sent := 0; sent < k; {
			n, err := pc.WriteBatch(out[sent:k], 0)
			if err != nil {
				return nil, fmt.Errorf("udpload: announce: %w", err)
			}
			sent += n
		}
		requests.Add(int64(k))
		conn.SetReadDeadline(time.Now().Add(cfg.Timeout))
		n, err := pc.ReadBatch(in, 0)
		if isTimeout(err) {
			lost.Add(int64(len(inflight)))
			clear(inflight)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("udpload: read: %w", err)
		}
		now := time.Now()
		for i := range n {
			r := in[i].Buffers[0][:in[i].N]
			if len(r) < 8 {
				continue
			}
			id := binary.BigEndian.Uint32(r[4:8])
			sent, ok := inflight[id]
			if !ok {
				continue // a late reply to a request already counted lost
			}
			delete(inflight, id)
			if binary.BigEndian.Uint32(r[0:4]) != 1 {
				errs.Add(1)
				if binary.BigEndian.Uint32(r[0:4]) == 3 {
					c.id = 0 // maybe an expired ID: connect again
				}
				continue
			}
			lat = append(lat, now.Sub(sent))
		}
	}
	return lat, nil
}

// Fill announces every (torrent, peer) pair once: len(InfoHashes) × peersPerTorrent peers
// (peer j of each torrent on port 1025 + j), numwant 0, spread over cfg.Sockets sockets.
func Fill(ctx context.Context, cfg Config, peersPerTorrent int) (int64, error) {
	var wg sync.WaitGroup
	var done, failed atomic.Int64
	var firstErr atomic.Value
	total := len(cfg.InfoHashes) * peersPerTorrent
	for w := range cfg.Sockets {
		wg.Go(func() {
			raddr, err := net.ResolveUDPAddr("udp", cfg.Target)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			conn, err := net.DialUDP("udp", nil, raddr)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			defer conn.Close()
			c := &client{conn: conn, buf: make([]byte, 4096), timeout: cfg.Timeout}
			pkt := make([]byte, 0, 128)
			tx := uint32(w) << 20
			for i := w; i < total && ctx.Err() == nil; i += cfg.Sockets {
				for attempt := 0; ; attempt++ {
					tx++
					if c.id == 0 || time.Since(c.idAt) > time.Minute {
						if err := c.connect(tx); err != nil {
							if attempt < 5 {
								continue
							}
							firstErr.CompareAndSwap(nil, err)
							return
						}
						tx++
					}
					ih := cfg.InfoHashes[i/peersPerTorrent]
					peer := i % peersPerTorrent
					pkt = announcePacket(pkt, c.id, tx, ih, peer, uint64(peer%4), 0)
					r, err := c.roundTrip(pkt, tx)
					if err == nil && binary.BigEndian.Uint32(r[0:4]) == 1 {
						done.Add(1)
						break
					}
					if attempt >= 5 {
						failed.Add(1)
						break
					}
					c.id = 0
				}
			}
		})
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return done.Load(), err
	}
	if f := failed.Load(); f > 0 {
		return done.Load(), fmt.Errorf("udpload: %d of %d fill announces failed", f, total)
	}
	return done.Load(), nil
}

// RandomInfoHashes returns n random infohashes (for a quick run without a list).
func RandomInfoHashes(n int) [][20]byte {
	out := make([][20]byte, n)
	for i := range out {
		rand.Read(out[i][:])
	}
	return out
}
