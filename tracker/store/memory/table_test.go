package memory

import (
	"context"
	"testing"
	"time"

	"shoal/tracker/store"
	"shoal/tracker/store/storetest"
)

func chunksHeld(tb *torrentTable) int {
	n := 0
	for _, c := range tb.chunks {
		if c != nil {
			n++
		}
	}
	return n
}

// Slots go lowest first, a freed slot is reused before a new one, and the chunks above the
// highest slot in use are dropped.
func TestTableSlots(t *testing.T) {
	tb := newTorrentTable(10 * chunkLen)
	for want := range uint32(3 * chunkLen) {
		if got, ok := tb.alloc(); !ok || got != want {
			t.Fatalf("alloc = %d, %v; want %d", got, ok, want)
		}
	}
	if n := chunksHeld(&tb); n != 3 {
		t.Fatalf("%d chunks held for 3 chunks of slots", n)
	}
	tb.release(5)
	tb.release(chunkLen + 7)
	if got, _ := tb.alloc(); got != 5 {
		t.Errorf("alloc after releasing 5 = %d", got)
	}
	if got, _ := tb.alloc(); got != chunkLen+7 {
		t.Errorf("next alloc = %d, want %d", got, chunkLen+7)
	}
	for s := uint32(chunkLen); s < 3*chunkLen; s++ {
		tb.release(s)
	}
	if tb.top != chunkLen || chunksHeld(&tb) != 1 {
		t.Errorf("after freeing the top two chunks: top %d, %d chunks held; want %d, 1", tb.top, chunksHeld(&tb), chunkLen)
	}
	tb.release(chunkLen - 1)
	if tb.top != chunkLen-1 {
		t.Errorf("top = %d after freeing the highest slot, want %d", tb.top, chunkLen-1)
	}
}

// The table hands out at most max slots, and a released one again.
func TestTableFull(t *testing.T) {
	tb := newTorrentTable(3)
	for range 3 {
		if _, ok := tb.alloc(); !ok {
			t.Fatal("a table for 3 torrents refused one of the first 3")
		}
	}
	if s, ok := tb.alloc(); ok {
		t.Fatalf("a table for 3 torrents handed out a 4th slot, %d", s)
	}
	tb.release(1)
	if s, ok := tb.alloc(); !ok || s != 1 {
		t.Errorf("after releasing slot 1: alloc = %d, %v", s, ok)
	}
}

// After most torrents are dropped, Collect moves the rest down and the table gives back its
// upper chunks; the moved torrents keep their peers and counts.
func TestCollectCompactsTable(t *testing.T) {
	ctx := context.Background()
	s := New(store.Limits{TTL: time.Hour})
	const n = 20 * chunkLen
	for i := range n {
		a := store.Announce{InfoHash: storetest.Hash(i), Peer: storetest.Peer4(1), Left: uint64(i % 2)}
		if _, _, err := s.Announce(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := chunksHeld(&s.table)
	for i := range n {
		if i%10 == 0 {
			continue // keep a tenth, spread over the whole table
		}
		a := store.Announce{InfoHash: storetest.Hash(i), Peer: storetest.Peer4(1), Event: store.EventStopped}
		if _, _, err := s.Announce(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Collect(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	after := chunksHeld(&s.table)
	if want := n/10/chunkLen + 1; after > want {
		t.Errorf("chunks held: %d with %d torrents, %d after keeping %d; want at most %d", before, n, after, n/10, want)
	}
	var hashes []store.InfoHash
	for i := 0; i < n; i += 10 {
		hashes = append(hashes, storetest.Hash(i))
	}
	counts, err := s.Scrape(ctx, hashes, nil)
	if err != nil {
		t.Fatal(err)
	}
	for j, c := range counts {
		i := j * 10
		want := store.Counts{Incomplete: i % 2, Complete: 1 - i%2}
		if c != want {
			t.Fatalf("torrent %d after compaction: %+v, want %+v", i, c, want)
		}
	}
	if tot, _ := s.Totals(ctx); tot.Torrents != n/10 {
		t.Errorf("torrents = %d, want %d", tot.Torrents, n/10)
	}
	// Announcing again finds the moved torrents (no duplicate is created).
	for _, h := range hashes {
		if _, _, err := s.Announce(ctx, store.Announce{InfoHash: h, Peer: storetest.Peer4(1), Left: 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if tot, _ := s.Totals(ctx); tot.Torrents != n/10 || tot.Seeders+tot.Leechers != n/10 {
		t.Errorf("after re-announcing: %+v, want %d torrents and peers", tot, n/10)
	}
}
