package memory

import (
	"context"
	"encoding/binary"
	"testing"
	"unsafe"

	"shoal/tracker/store"
	"shoal/tracker/store/storetest"
)

// Infohashes crafted to agree on all but a few bytes (which a client may send) still spread
// over the shards, so no shard's sorted slice grows with the whole store.
func TestShardsSpreadCraftedHashes(t *testing.T) {
	s := New(store.Limits{})
	const n = 20_000
	for _, at := range []int{0, 8, 16} { // vary the first, a middle, then the last 4 bytes
		counts := make(map[*shard]int)
		for i := range n {
			var h store.InfoHash
			binary.BigEndian.PutUint32(h[at:], uint32(i))
			counts[s.shardOf(h)]++
		}
		most := 0
		for _, c := range counts {
			most = max(most, c)
		}
		// n/shardCount is about 20; a uniform spread makes the fullest shard about twice that.
		if len(counts) < shardCount*9/10 || most > 4*n/shardCount {
			t.Errorf("hashes varying in bytes %d-%d: %d shards used, fullest holds %d", at, at+3, len(counts), most)
		}
	}
}

// Infohashes that agree on their first 8 bytes, the part a shard's index keys hold, are told
// apart by the rest: announcing each twice, in two passes, finds the torrent made by the first.
func TestShardKeysTieOnPrefix(t *testing.T) {
	ctx := context.Background()
	s := New(store.Limits{})
	const n = 5000
	for range 2 {
		for i := range n {
			var h store.InfoHash
			binary.BigEndian.PutUint16(h[18:], uint16(i))
			if _, _, err := s.Announce(ctx, store.Announce{InfoHash: h, Peer: storetest.Peer4(1), Left: 1}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if tot, _ := s.Totals(ctx); tot.Torrents != n || tot.Leechers != n {
		t.Errorf("after announcing %d hashes twice: %+v, want %d torrents of one leecher", n, tot, n)
	}
}

// The torrents of a shard stay sorted and findable through inserts and removals.
func TestShardSortedThroughChurn(t *testing.T) {
	s := New(store.Limits{})
	ctx := context.Background()
	const n = 5000
	for i := range n {
		if _, _, err := s.Announce(ctx, store.Announce{InfoHash: storetest.Hash(i), Peer: storetest.Peer4(1), Left: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 2 { // stop every other torrent's only peer
		a := store.Announce{InfoHash: storetest.Hash(i), Peer: storetest.Peer4(1), Event: store.EventStopped}
		if _, _, err := s.Announce(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range s.shards {
		ix := s.shards[i].index
		for j := 1; j < len(ix); j++ {
			a, b := ix[j-1], ix[j]
			if a.prefix() > b.prefix() || a.prefix() == b.prefix() && string(s.table.at(a.slot).hashTail[:]) >= string(s.table.at(b.slot).hashTail[:]) {
				t.Fatalf("shard %d out of order at %d", i, j)
			}
		}
	}
	got, err := s.Scrape(ctx, []store.InfoHash{storetest.Hash(0), storetest.Hash(1), storetest.Hash(n - 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != (store.Counts{}) || got[1].Incomplete != 1 || got[2].Incomplete != 1 {
		t.Errorf("scrape after churn = %v, want torrent 0 gone and 1, %d held", got, n-1)
	}
	if tot, _ := s.Totals(ctx); tot.Torrents != n/2 {
		t.Errorf("torrents = %d, want %d", tot.Torrents, n/2)
	}
}

// A record's size is the store's memory per peer; a torrent's, per torrent.
func TestRecordSizes(t *testing.T) {
	if n := unsafe.Sizeof(torrent{}); n != torrentSize {
		t.Errorf("torrent is %d bytes, want %d", n, torrentSize)
	}
	if n := unsafe.Sizeof(torrentKey{}); n != 12 {
		t.Errorf("torrentKey is %d bytes, want 12", n)
	}
	if n := unsafe.Sizeof(peer4{}); n != 7 {
		t.Errorf("peer4 is %d bytes, want 7", n)
	}
	if n := unsafe.Sizeof(peer6{}); n != 19 {
		t.Errorf("peer6 is %d bytes, want 19", n)
	}
}
