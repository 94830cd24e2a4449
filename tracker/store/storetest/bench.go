package storetest

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"

	"shoal/tracker/store"
)

// Bench runs the store benchmarks against stores made by newStore:
//
//   - AnnounceRefresh: known peers re-announcing (the common case), 10,000 torrents × 10 peers,
//     numwant 50.
//   - AnnounceNewPeer: every announce a new peer (a growing store), numwant 50.
//   - AnnounceParallel: AnnounceRefresh from GOMAXPROCS goroutines.
//   - Scrape: 10 infohashes per call.
//   - Memory: heap bytes per peer for a few swarm shapes, reported as "B/peer".
func Bench(b *testing.B, newStore NewFunc) {
	b.Run("AnnounceRefresh", func(b *testing.B) { benchRefresh(b, newStore) })
	b.Run("AnnounceNewPeer", func(b *testing.B) { benchNewPeer(b, newStore) })
	b.Run("AnnounceParallel", func(b *testing.B) { benchParallel(b, newStore) })
	b.Run("Scrape", func(b *testing.B) { benchScrape(b, newStore) })
	for _, shape := range []struct {
		torrents, peersEach int
		v6                  bool
	}{
		{10_000, 100, false}, // 1 million peers, as opentracker is compared with
		{100_000, 10, false},
		{1_000_000, 1, false},
		{10_000, 100, true},
	} {
		family := "v4"
		if shape.v6 {
			family = "v6"
		}
		name := fmt.Sprintf("Memory/%dx%d_%s", shape.torrents, shape.peersEach, family)
		b.Run(name, func(b *testing.B) { benchMemory(b, newStore, shape.torrents, shape.peersEach, shape.v6) })
	}
}

func fill(b *testing.B, s store.Store, torrents, peersEach int, v6 bool) {
	b.Helper()
	ctx := context.Background()
	var a store.Announce
	for t := range torrents {
		for p := range peersEach {
			a = leech(Hash(t), Peer4(p), 0)
			if v6 {
				a.Peer = Peer6(p)
			}
			if p%4 == 0 {
				a.Left = 0
			}
			if _, _, err := s.Announce(ctx, a, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchRefresh(b *testing.B, newStore NewFunc) {
	const torrents, peersEach = 10_000, 10
	s := newStore(store.Limits{})
	fill(b, s, torrents, peersEach, false)
	ctx := context.Background()
	buf := make([]netip.AddrPort, 0, 50)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		a := leech(Hash(i%torrents), Peer4((i/torrents)%peersEach), 50)
		var err error
		if buf, _, err = s.Announce(ctx, a, buf[:0]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchNewPeer(b *testing.B, newStore NewFunc) {
	s := newStore(store.Limits{MaxPeersPerTorrent: 1 << 30})
	ctx := context.Background()
	buf := make([]netip.AddrPort, 0, 50)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		a := leech(Hash(i%10_000), Peer4(i), 50)
		var err error
		if buf, _, err = s.Announce(ctx, a, buf[:0]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchParallel(b *testing.B, newStore NewFunc) {
	const torrents, peersEach = 10_000, 10
	s := newStore(store.Limits{})
	fill(b, s, torrents, peersEach, false)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]netip.AddrPort, 0, 50)
		i := int(next.Add(1_000_003))
		for pb.Next() {
			a := leech(Hash(i%torrents), Peer4((i/torrents)%peersEach), 50)
			var err error
			if buf, _, err = s.Announce(ctx, a, buf[:0]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func benchScrape(b *testing.B, newStore NewFunc) {
	s := newStore(store.Limits{})
	fill(b, s, 1000, 10, false)
	ctx := context.Background()
	hashes := make([]store.InfoHash, 10)
	out := make([]store.Counts, 0, 10)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		for j := range hashes {
			hashes[j] = Hash((i + j) % 1000)
		}
		var err error
		if out, err = s.Scrape(ctx, hashes, out[:0]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchMemory measures the heap a store needs per peer: "B/peer" counts the live objects,
// "inuse-B/peer" the heap spans holding them (live objects plus the free slots beside them:
// what the process keeps resident). It fills the store once per iteration; use -benchtime=1x.
func benchMemory(b *testing.B, newStore NewFunc, torrents, peersEach int, v6 bool) {
	for b.Loop() {
		before := heapStats()
		s := newStore(store.Limits{})
		fill(b, s, torrents, peersEach, v6)
		after := heapStats()
		runtime.KeepAlive(s)
		peers := float64(torrents * peersEach)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/peers, "B/peer")
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/peers, "inuse-B/peer")
	}
}

func heapStats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}
