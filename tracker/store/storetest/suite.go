// Package storetest is the conformance suite and the benchmarks every store.Store
// implementation runs, each with a one-line test:
//
//	func TestConformance(t *testing.T)    { storetest.Run(t, newStore) }
//	func BenchmarkStore(b *testing.B)     { storetest.Bench(b, newStore) }
//
// where newStore(store.Limits) returns an empty store. The suite checks the rules written in
// package store's comment, numbered the same way.
package storetest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"shoal/tracker/store"
)

// NewFunc returns an empty store with the given limits (zero fields: defaults).
type NewFunc func(store.Limits) store.Store

// Hash returns a distinct infohash for each i, its bytes spread as a real infohash's are
// (i times an odd constant, a bijection), so a store sharding by leading bytes sees as many
// shards as it would in use.
func Hash(i int) store.InfoHash {
	var h store.InfoHash
	binary.BigEndian.PutUint64(h[0:8], uint64(i)*0x9E3779B97F4A7C15)
	h[19] = 0xAB
	return h
}

// Peer4 returns a distinct IPv4 peer for each i (10.x.y.z, port 1024 + i%60000).
func Peer4(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), uint16(1024+i%60000))
}

// Peer6 returns a distinct IPv6 peer for each i.
func Peer6(i int) netip.AddrPort {
	var b [16]byte
	b[0], b[1] = 0x20, 0x01
	b[13], b[14], b[15] = byte(i>>16), byte(i>>8), byte(i)
	return netip.AddrPortFrom(netip.AddrFrom16(b), uint16(1024+i%60000))
}

// Run runs the conformance suite against stores made by newStore.
func Run(t *testing.T, newStore NewFunc) {
	t.Run("1_FamiliesApart", func(t *testing.T) { testFamiliesApart(t, newStore) })
	t.Run("2_NeverSelf", func(t *testing.T) { testNeverSelf(t, newStore) })
	t.Run("3_NumWantAndRandom", func(t *testing.T) { testNumWant(t, newStore) })
	t.Run("4_SeederCountedOnce", func(t *testing.T) { testSeederCountedOnce(t, newStore) })
	t.Run("5_Downloaded", func(t *testing.T) { testDownloaded(t, newStore) })
	t.Run("6_StoppedRemoves", func(t *testing.T) { testStopped(t, newStore) })
	t.Run("7_Expiry", func(t *testing.T) { testExpiry(t, newStore) })
	t.Run("7_ExpiryLongLived", func(t *testing.T) { testExpiryLongLived(t, newStore) })
	t.Run("8_MaxTorrents", func(t *testing.T) { testMaxTorrents(t, newStore) })
	t.Run("8_MaxPeersPerTorrent", func(t *testing.T) { testMaxPeers(t, newStore) })
	t.Run("9_ScrapeCreatesNothing", func(t *testing.T) { testScrape(t, newStore) })
	t.Run("10_Concurrent", func(t *testing.T) { testConcurrent(t, newStore) })
}

// announce is a test helper that fails the test on error.
func announce(t testing.TB, s store.Store, a store.Announce) ([]netip.AddrPort, store.Counts) {
	t.Helper()
	peers, c, err := s.Announce(context.Background(), a, nil)
	if err != nil {
		t.Fatalf("announce %+v: %v", a, err)
	}
	return peers, c
}

func leech(h store.InfoHash, p netip.AddrPort, numWant int) store.Announce {
	return store.Announce{InfoHash: h, Peer: p, Left: 1000, NumWant: numWant}
}

func seed(h store.InfoHash, p netip.AddrPort, numWant int) store.Announce {
	return store.Announce{InfoHash: h, Peer: p, Left: 0, NumWant: numWant}
}

func totals(t testing.TB, s store.Store) store.Totals {
	t.Helper()
	tot, err := s.Totals(context.Background())
	if err != nil {
		t.Fatalf("totals: %v", err)
	}
	return tot
}

func scrapeOne(t testing.TB, s store.Store, h store.InfoHash) store.Counts {
	t.Helper()
	c, err := s.Scrape(context.Background(), []store.InfoHash{h}, nil)
	if err != nil || len(c) != 1 {
		t.Fatalf("scrape %v: %v, %d results", h, err, len(c))
	}
	return c[0]
}

func testFamiliesApart(t *testing.T, newStore NewFunc) {
	s := newStore(store.Limits{})
	h := Hash(1)
	for i := range 3 {
		announce(t, s, leech(h, Peer4(i), 0))
		announce(t, s, leech(h, Peer6(i), 0))
	}
	peers, c := announce(t, s, leech(h, Peer4(99), 50))
	if len(peers) != 3 {
		t.Errorf("IPv4 requester got %d peers, want the 3 IPv4 ones: %v", len(peers), peers)
	}
	for _, p := range peers {
		if !p.Addr().Is4() {
			t.Errorf("IPv4 requester got IPv6 peer %v", p)
		}
	}
	if c.Incomplete != 7 {
		t.Errorf("incomplete = %d, want 7 (both families counted)", c.Incomplete)
	}
	peers, _ = announce(t, s, leech(h, Peer6(99), 50))
	if len(peers) != 3 {
		t.Errorf("IPv6 requester got %d peers, want the 3 IPv6 ones: %v", len(peers), peers)
	}
	for _, p := range peers {
		if !p.Addr().Is6() {
			t.Errorf("IPv6 requester got IPv4 peer %v", p)
		}
	}
}

func testNeverSelf(t *testing.T, newStore NewFunc) {
	s := newStore(store.Limits{})
	h := Hash(2)
	me := Peer4(7)
	if peers, _ := announce(t, s, leech(h, me, 50)); len(peers) != 0 {
		t.Errorf("first announce got %v, want nobody", peers)
	}
	if peers, _ := announce(t, s, leech(h, me, 50)); len(peers) != 0 {
		t.Errorf("second announce of the only peer got %v, want nobody (not itself)", peers)
	}
	other := Peer4(8)
	announce(t, s, leech(h, other, 0))
	// Same address, other port: a different peer.
	sameHost := netip.AddrPortFrom(me.Addr(), me.Port()+1)
	announce(t, s, leech(h, sameHost, 0))
	for range 20 {
		peers, _ := announce(t, s, leech(h, me, 1))
		if len(peers) != 1 || peers[0] == me {
			t.Fatalf("numwant 1 got %v, want one peer other than %v", peers, me)
		}
	}
}

func testNumWant(t *testing.T, newStore NewFunc) {
	s := newStore(store.Limits{})
	h := Hash(3)
	const n = 100
	for i := range n {
		announce(t, s, leech(h, Peer4(i), 0))
	}
	if peers, c := announce(t, s, leech(h, Peer4(0), 0)); len(peers) != 0 || c.Incomplete != n {
		t.Errorf("numwant 0: got %d peers and %d leechers, want 0 and %d", len(peers), c.Incomplete, n)
	}
	seen := map[netip.AddrPort]bool{}
	firstSets := map[netip.AddrPort]bool{}
	for try := range 50 {
		peers, _ := announce(t, s, leech(h, Peer4(0), 10))
		if len(peers) != 10 {
			t.Fatalf("numwant 10 of %d: got %d peers", n, len(peers))
		}
		distinct := map[netip.AddrPort]bool{}
		for _, p := range peers {
			if distinct[p] {
				t.Fatalf("peer %v returned twice in one reply", p)
			}
			distinct[p] = true
			seen[p] = true
		}
		if try == 0 {
			firstSets = distinct
		}
	}
	// 50 random draws of 10 out of 99 miss a given peer with probability (89/99)^50 ≈ 0.5%;
	// requiring 80 distinct peers leaves a wide margin while catching a fixed choice.
	if len(seen) < 80 {
		t.Errorf("50 draws of 10 saw only %d distinct peers out of 99: not random", len(seen))
	}
	if len(firstSets) != 10 {
		t.Errorf("first draw had %d distinct peers", len(firstSets))
	}
	if peers, _ := announce(t, s, leech(h, Peer4(0), 1000)); len(peers) != n-1 {
		t.Errorf("numwant 1000 of %d: got %d peers, want %d", n, len(peers), n-1)
	}
}

func testSeederCountedOnce(t *testing.T, newStore NewFunc) {
	s := newStore(store.Limits{})
	h := Hash(4)
	p := Peer4(1)
	if _, c := announce(t, s, leech(h, p, 0)); c != (store.Counts{Incomplete: 1}) {
		t.Errorf("after leech: %+v", c)
	}
	if _, c := announce(t, s, leech(h, p, 0)); c != (store.Counts{Incomplete: 1}) {
		t.Errorf("after second leech: %+v, want counted once", c)
	}
	a := seed(h, p, 0)
	a.Event = store.EventCompleted
	if _, c := announce(t, s, a); c != (store.Counts{Complete: 1, Downloaded: 1}) {
		t.Errorf("after completing: %+v, want one seeder, no leecher", c)
	}
	if got := totals(t, s); got != (store.Totals{Torrents: 1, Seeders: 1}) {
		t.Errorf("totals %+v", got)
	}
	if _, c := announce(t, s, leech(h, p, 0)); c != (store.Counts{Incomplete: 1, Downloaded: 1}) {
		t.Errorf("seeder announcing left>0 again: %+v, want one leecher", c)
	}
}

func testDownloaded(t *testing.T, newStore NewFunc) {
	s := newStore(store.Limits{})
	h := Hash(5)
	announce(t, s, leech(h, Peer4(1), 0))
	announce(t, s, seed(h, Peer4(1), 0)) // no event: still a completion
	done := seed(h, Peer4(1), 0)
	done.Event = store.EventCompleted
	announce(t, s, done) // a late "completed" from a known seeder: nothing new
	announce(t, s, seed(h, Peer4(2), 0))
	if c := scrapeOne(t, s, h); c != (store.Counts{Complete: 2, Downloaded: 1}) {
		t.Errorf("scrape %+v, want 2 seeders and 1 download", c)
	}
	unknown := seed(h, Peer4(3), 0)
	unknown.Event = store.EventCompleted
	if _, c := announce(t, s, unknown); c.Downloaded != 2 {
		t.Errorf("unknown peer announcing completed: downloaded %d, want 2", c.Downloaded)
	}
}

func testStopped(t *testing.T, newStore NewFunc) {
	s := newStore(store.Limits{})
	h := Hash(6)
	announce(t, s, leech(h, Peer4(1), 0))
	announce(t, s, seed(h, Peer4(2), 0))
	stop := leech(h, Peer4(1), 50)
	stop.Event = store.EventStopped
	peers, c := announce(t, s, stop)
	if len(peers) != 0 {
		t.Errorf("stopped announce got peers %v", peers)
	}
	if c != (store.Counts{Complete: 1}) {
		t.Errorf("after stop: %+v, want just the seeder", c)
	}
	if peers, _ := announce(t, s, leech(h, Peer4(3), 50)); len(peers) != 1 || peers[0] != Peer4(2) {
		t.Errorf("after stop, got %v, want only %v", peers, Peer4(2))
	}
	// Stopping an unknown peer of an unknown torrent creates nothing.
	stranger := leech(Hash(66), Peer4(1), 0)
	stranger.Event = store.EventStopped
	announce(t, s, stranger)
	if got := totals(t, s); got.Torrents != 1 {
		t.Errorf("torrents = %d after a stop for an unknown torrent, want 1", got.Torrents)
	}
	// The last peer stopping frees the torrent.
	for _, p := range []netip.AddrPort{Peer4(2), Peer4(3)} {
		a := leech(h, p, 0)
		a.Event = store.EventStopped
		announce(t, s, a)
	}
	if got := totals(t, s); got != (store.Totals{}) {
		t.Errorf("totals after every peer stopped: %+v, want zero", got)
	}
}

func testExpiry(t *testing.T, newStore NewFunc) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 10 * time.Minute
		s := newStore(store.Limits{TTL: ttl})
		ctx := context.Background()
		h := Hash(7)
		old, fresh, asker := Peer4(1), Peer4(2), Peer4(3)
		announce(t, s, seed(h, old, 0))
		time.Sleep(ttl / 2)
		announce(t, s, leech(h, fresh, 0))
		time.Sleep(ttl/2 - 10*time.Second)
		if peers, _ := announce(t, s, leech(h, asker, 50)); len(peers) != 2 {
			t.Errorf("just before the TTL: got %v, want both peers", peers)
		}
		time.Sleep(20 * time.Second)
		peers, _ := announce(t, s, leech(h, asker, 50))
		if len(peers) != 1 || peers[0] != fresh {
			t.Errorf("just after the TTL: got %v, want only %v", peers, fresh)
		}
		if err := s.Collect(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if c := scrapeOne(t, s, h); c != (store.Counts{Incomplete: 2}) {
			t.Errorf("after collect: %+v, want the 2 leechers only", c)
		}
		time.Sleep(ttl + 20*time.Second)
		if err := s.Collect(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := totals(t, s); got != (store.Totals{}) {
			t.Errorf("after everyone expired: %+v, want zero", got)
		}
	})
}

// testExpiryLongLived runs a swarm for many TTLs: peers re-announcing every third of the TTL
// stay, in both families and in their latest state, while peers that announced once expire,
// however long ago the swarm began (a store keeping time relative to the swarm must carry it
// forward).
func testExpiryLongLived(t *testing.T, newStore NewFunc) {
	synctest.Test(t, func(t *testing.T) {
		const ttl = 10 * time.Minute
		s := newStore(store.Limits{TTL: ttl})
		ctx := context.Background()
		h := Hash(11)
		stay4, stay6 := Peer4(1), Peer6(1)
		for round := range 60 { // 20 TTLs
			once4, once6 := Peer4(100+round), Peer6(100+round)
			announce(t, s, leech(h, once4, 0))
			announce(t, s, leech(h, once6, 0))
			stayer := leech
			if round%2 == 1 {
				stayer = seed
			}
			peers6, _ := announce(t, s, stayer(h, stay6, 50))
			peers4, c := announce(t, s, stayer(h, stay4, 50))
			// Live peers of each family other than its stayer: the one-shot peers of the last
			// TTL (3 rounds, this one included; the oldest may or may not have expired yet).
			for _, f := range []struct {
				family    string
				peers     []netip.AddrPort
				now, gone netip.AddrPort
			}{
				{"IPv4", peers4, once4, Peer4(100 + round - 4)},
				{"IPv6", peers6, once6, Peer6(100 + round - 4)},
			} {
				if n := len(f.peers); n < min(round+1, 3) || n > min(round+1, 4) || !slices.Contains(f.peers, f.now) {
					t.Fatalf("round %d: got %v, want this round's and the last 2 or 3 rounds' one-shot %s peers", round, f.peers, f.family)
				}
				if round >= 4 && slices.Contains(f.peers, f.gone) {
					t.Fatalf("round %d: got %v, holding an %s peer announced 4/3 TTL ago", round, f.peers, f.family)
				}
			}
			if round%2 == 1 && c.Complete != 2 || round%2 == 0 && c.Complete != 0 {
				t.Fatalf("round %d: counts %+v, want the two stayers as seeders on odd rounds only", round, c)
			}
			time.Sleep(ttl / 3)
			if round%6 == 5 {
				if err := s.Collect(ctx, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
		}
		time.Sleep(ttl + 20*time.Second)
		if err := s.Collect(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got := totals(t, s); got != (store.Totals{}) {
			t.Errorf("after everyone expired: %+v, want zero", got)
		}
	})
}

func testMaxTorrents(t *testing.T, newStore NewFunc) {
	s := newStore(store.Limits{MaxTorrents: 2})
	announce(t, s, leech(Hash(1), Peer4(1), 0))
	announce(t, s, leech(Hash(2), Peer4(1), 0))
	a := leech(Hash(3), Peer4(1), 0)
	_, _, err := s.Announce(context.Background(), a, nil)
	if !errors.Is(err, store.ErrTooManyTorrents) {
		t.Errorf("third torrent: err = %v, want ErrTooManyTorrents", err)
	}
	if got := totals(t, s); got.Torrents != 2 {
		t.Errorf("torrents = %d, want 2", got.Torrents)
	}
	announce(t, s, leech(Hash(2), Peer4(2), 0)) // known torrents still work
	stop := leech(Hash(1), Peer4(1), 0)
	stop.Event = store.EventStopped
	announce(t, s, stop)
	announce(t, s, leech(Hash(3), Peer4(1), 0)) // room again
}

func testMaxPeers(t *testing.T, newStore NewFunc) {
	s := newStore(store.Limits{MaxPeersPerTorrent: 3})
	h := Hash(8)
	announce(t, s, leech(h, Peer4(1), 0))
	announce(t, s, leech(h, Peer6(2), 0))
	announce(t, s, leech(h, Peer4(3), 0))
	peers, c := announce(t, s, leech(h, Peer4(4), 50))
	if len(peers) != 2 {
		t.Errorf("peer beyond the cap got %v, want the 2 IPv4 peers", peers)
	}
	if c.Incomplete != 3 {
		t.Errorf("incomplete = %d, want 3 (the 4th not recorded)", c.Incomplete)
	}
	if _, c := announce(t, s, seed(h, Peer4(1), 0)); c != (store.Counts{Complete: 1, Incomplete: 2, Downloaded: 1}) {
		t.Errorf("known peer in a full torrent: %+v, want its change recorded", c)
	}
}

func testScrape(t *testing.T, newStore NewFunc) {
	s := newStore(store.Limits{})
	announce(t, s, seed(Hash(1), Peer4(1), 0))
	announce(t, s, leech(Hash(1), Peer6(1), 0))
	got, err := s.Scrape(context.Background(), []store.InfoHash{Hash(9), Hash(1), Hash(9)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.Counts{{}, {Complete: 1, Incomplete: 1}, {}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("scrape = %v, want %v", got, want)
	}
	if tot := totals(t, s); tot.Torrents != 1 {
		t.Errorf("torrents = %d after scraping unknown ones, want 1", tot.Torrents)
	}
}

func testConcurrent(t *testing.T, newStore NewFunc) {
	s := newStore(store.Limits{})
	const workers, perWorker = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			var buf []netip.AddrPort
			for i := range perWorker {
				a := leech(Hash(i%50), Peer4(w*perWorker+i), 20)
				if i%3 == 0 {
					a.Left = 0
				}
				var err error
				if buf, _, err = s.Announce(context.Background(), a, buf[:0]); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Scrape(context.Background(), []store.InfoHash{a.InfoHash}, nil); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := totals(t, s)
	if got.Torrents != 50 || got.Seeders+got.Leechers != workers*perWorker {
		t.Errorf("totals %+v, want 50 torrents and %d peers", got, workers*perWorker)
	}
}
