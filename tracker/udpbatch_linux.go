package tracker

import (
	"context"
	"errors"
	"net"
	"time"

	"golang.org/x/net/ipv4"
)

// udpBatch is how many datagrams one recvmmsg/sendmmsg call moves at most. Under load the
// socket queue holds several, and moving them in one system call each way is most of what
// a UDP tracker can save: the announce itself costs less than the two system calls around it.
const udpBatch = 32

// readBatches serves packets in batches until the socket is closed. It returns false at once
// if batching is unavailable, so the caller falls back to read.
func (u *udpFront) readBatches(ctx context.Context) bool {
	pc := ipv4.NewPacketConn(u.conn)
	r := &udpReader{mac: newConnIDMAC(u.key, u.cfg.UDPConnectionIDLifetime)}
	in := make([]ipv4.Message, udpBatch)
	out := make([]ipv4.Message, udpBatch)
	replies := make([][]byte, udpBatch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, len(r.in))}
		out[i].Buffers = [][]byte{nil}
		replies[i] = make([]byte, 0, 2048)
	}
	for {
		n, err := pc.ReadBatch(in, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return true
			}
			u.log.Error("tracker: udp batch read failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		now := time.Now()
		k := 0
		for i := range n {
			src, ok := in[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			reply := u.handle(ctx, r, in[i].Buffers[0][:in[i].N], src.AddrPort(), now, replies[k][:0])
			if len(reply) == 0 {
				continue
			}
			replies[k] = reply
			out[k].Buffers[0] = reply
			out[k].Addr = in[i].Addr
			k++
		}
		for sent := 0; sent < k; {
			m, err := pc.WriteBatch(out[sent:k], 0)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					u.log.Debug("tracker: udp batch write failed", "err", err)
				}
				break // a reply lost to a full buffer is retried by the client
			}
			sent += m
		}
	}
}
