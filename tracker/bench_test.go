package tracker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"shoal/tracker/store"
	"shoal/tracker/store/memory"
)

func benchLogic() *logic {
	acc, _ := newAccess("", "")
	return &logic{
		store:    memory.New(store.Limits{}),
		access:   acc,
		limits:   limits{defaultNumWant: 50, maxNumWant: 200, maxScrapeHashes: 100},
		interval: 30 * time.Minute, minInterval: 5 * time.Minute,
	}
}

// BenchmarkHTTPHandle measures the HTTP announce path from request head to reply bytes, without
// the network: parse, sanitize, store, encode.
func BenchmarkHTTPHandle(b *testing.B) {
	cfg := DefaultConfig()
	f := newHTTPFront(&cfg, benchLogic(), &stats{}, nil)
	bufs := f.buffers.Get().(*connBuffers)
	const torrents, peers = 10_000, 100_000
	heads := make([][]byte, 4096)
	for i := range heads {
		h := testHash(i % torrents)
		heads[i] = fmt.Appendf(nil, "GET /announce?%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
			announceQueryString(h, 1025+(i*7919)%peers%64000, map[string]string{"numwant": "50"}))
	}
	remote := netip.MustParseAddrPort("127.0.0.1:40000")
	ctx := context.Background()
	for _, h := range heads { // fill the swarms first
		f.handle(ctx, bufs, h, remote, false)
		bufs.out = bufs.out[:0]
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f.handle(ctx, bufs, heads[i%len(heads)], remote, false)
		bufs.out = bufs.out[:0]
		i++
	}
}

// BenchmarkUDPHandle measures the UDP announce path without the network.
func BenchmarkUDPHandle(b *testing.B) {
	cfg := DefaultConfig()
	u := &udpFront{cfg: &cfg, logic: benchLogic(), stats: &stats{}, log: cfg.logger(), key: newConnIDKey()}
	r := &udpReader{out: make([]byte, 0, 2048), mac: newConnIDMAC(u.key, time.Minute)}
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	now := time.Now()
	id := r.mac.issue(src.Addr(), now)
	pkts := make([][]byte, 4096)
	for i := range pkts {
		pkts[i] = buildUDPAnnounce(id, udpAnnounceArgs{hash: testHash(i % 1000), port: uint16(1025 + i), numWant: 50, left: 1})
	}
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		u.handle(ctx, r, pkts[i%len(pkts)], src, now, r.out[:0])
		i++
	}
}

// BenchmarkHTTPScrapeStreamed measures a 10,000-hash scrape (a 700 KB request line, streamed
// through the 12 KiB connection buffer) from bytes in to reply out, without the network.
func BenchmarkHTTPScrapeStreamed(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	f := newHTTPFront(&cfg, benchLogic(), &stats{}, nil)
	req := []byte(manyHashScrape(10_000, "/scrape"))
	c := &fakeConn{chunk: 64 << 10}
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		c.in = req
		c.out.Reset()
		f.wg.Add(1)
		f.open.Add(1)
		f.serveConn(context.Background(), c)
	}
	if !bytes.Contains(c.out.Bytes(), []byte("5:files")) {
		b.Fatalf("reply %q", c.out.Bytes())
	}
}
