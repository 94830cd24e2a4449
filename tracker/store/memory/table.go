package memory

import (
	"math/bits"
	"sync"
)

// torrentTable holds every torrent of a store at a fixed slot, in chunks of chunkLen that are
// allocated when first needed and never move. Shards find their torrents through small sorted
// indexes of slot numbers (shard.index).
//
// Why not the torrents themselves in each shard's sorted slice: a shard's slice is reallocated
// as it grows, and a thousand shards growing at different times leave the freed arrays of every
// size scattered through the heap's spans, which the Go allocator cannot give back while one
// live object shares their span. That was 0.9 MiB, as much as the torrents themselves, at
// 10,000 torrents (bench/tracker/RESULTS.md). Here a torrent's 64 bytes sit in a chunk of 64 KiB
// that is either in use or freed whole, and the shards' indexes, 12 bytes a torrent, are what
// fragments.
//
// Slots are handed out lowest first, so the slots in use stay packed at the bottom of the table;
// chunks wholly above the highest slot in use are dropped. After many torrents were dropped,
// Store.Collect moves torrents down into free slots (compact) so that the top chunks empty.
// The table also enforces the store's MaxTorrents: it is the one place that counts torrents.
//
// Concurrency: the chunk directory has a fixed length (enough for MaxTorrents) and a chunk is
// set or dropped under mu, by the goroutine that allocates or frees a slot in it. A slot's
// torrent is read and written only by the holder of the lock of the shard whose index holds
// the slot.
type torrentTable struct {
	mu     sync.Mutex
	chunks []*tableChunk // directory: chunk c holds slots [c·chunkLen, (c+1)·chunkLen)
	top    uint32        // one more than the highest slot in use (0 when none is)
	hint   int           // no chunk below this one has a free slot
	inUse  int
	max    int // slots in use at most (the store's MaxTorrents)
}

const (
	chunkBits = 10
	chunkLen  = 1 << chunkBits
)

type tableChunk struct {
	used     [chunkLen / 64]uint64 // a bit per slot
	n        int                   // slots in use
	torrents [chunkLen]torrent
}

func newTorrentTable(maxTorrents int) torrentTable {
	return torrentTable{chunks: make([]*tableChunk, (maxTorrents+chunkLen-1)/chunkLen), max: maxTorrents}
}

// at returns the torrent in slot; the caller holds the lock of the shard that indexes it.
func (tb *torrentTable) at(slot uint32) *torrent {
	return &tb.chunks[slot>>chunkBits].torrents[slot&(chunkLen-1)]
}

// alloc hands out the lowest free slot, zeroed. It reports false when max slots are in use.
func (tb *torrentTable) alloc() (uint32, bool) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.inUse >= tb.max {
		return 0, false
	}
	return tb.lowestFree(), true
}

// lowestFree marks the lowest free slot used and returns it; the caller holds mu and has
// checked that fewer than max slots are in use (so one is free: the directory holds max).
func (tb *torrentTable) lowestFree() uint32 {
	for c := tb.hint; ; c++ {
		ch := tb.chunks[c]
		if ch == nil {
			ch = new(tableChunk)
			tb.chunks[c] = ch
		}
		if ch.n == chunkLen {
			continue
		}
		for w, word := range ch.used {
			if word == ^uint64(0) {
				continue
			}
			b := bits.TrailingZeros64(^word)
			ch.used[w] |= 1 << b
			ch.n++
			tb.inUse++
			tb.hint = c
			slot := uint32(c<<chunkBits + w*64 + b)
			tb.top = max(tb.top, slot+1)
			return slot
		}
	}
}

// release frees slot, clearing its torrent so its peer lists can be collected.
func (tb *torrentTable) release(slot uint32) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.releaseLocked(slot)
}

// len returns the slots in use.
func (tb *torrentTable) len() int {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.inUse
}

func (tb *torrentTable) releaseLocked(slot uint32) {
	c := int(slot >> chunkBits)
	ch := tb.chunks[c]
	i := slot & (chunkLen - 1)
	ch.torrents[i] = torrent{}
	ch.used[i/64] &^= 1 << (i % 64)
	ch.n--
	tb.inUse--
	tb.hint = min(tb.hint, c)
	if slot+1 == tb.top {
		tb.lowerTop()
	}
}

// lowerTop moves top down past free slots and drops the chunks wholly above it.
func (tb *torrentTable) lowerTop() {
	for tb.top > 0 {
		s := tb.top - 1
		ch := tb.chunks[s>>chunkBits]
		if ch.n == 0 { // the whole chunk is free
			tb.top = s &^ (chunkLen - 1)
			continue
		}
		if i := s & (chunkLen - 1); ch.used[i/64]&(1<<(i%64)) != 0 {
			break
		}
		tb.top--
	}
	for c := (int(tb.top) + chunkLen - 1) >> chunkBits; c < len(tb.chunks) && tb.chunks[c] != nil; c++ {
		tb.chunks[c] = nil
	}
}

// collect frees the slots of a shard's dropped torrents and, when fewer than half the slots
// up to top are in use and at least two chunks would be given back, moves the shard's kept
// torrents into lower free slots, updating their keys. One lock for the whole shard; the caller
// holds the shard's lock (shard, then table, as in Announce).
func (tb *torrentTable) collect(dropped []uint32, kept []torrentKey) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, slot := range dropped {
		tb.releaseLocked(slot)
	}
	if int(tb.top) <= 2*chunkLen || tb.inUse >= int(tb.top)/2 {
		return
	}
	for i, k := range kept {
		if tb.hint >= int(k.slot>>chunkBits) && !tb.freeBelow(k.slot) {
			continue
		}
		to := tb.lowestFree()
		if to > k.slot { // no free slot below it after all
			tb.releaseLocked(to)
			continue
		}
		*tb.at(to) = *tb.at(k.slot)
		tb.releaseLocked(k.slot)
		kept[i].slot = to
	}
}

// freeBelow reports whether a slot below slot, in slot's own chunk, is free.
func (tb *torrentTable) freeBelow(slot uint32) bool {
	ch := tb.chunks[slot>>chunkBits]
	i := slot & (chunkLen - 1)
	for w := range i / 64 {
		if ch.used[w] != ^uint64(0) {
			return true
		}
	}
	mask := uint64(1)<<(i%64) - 1
	return ch.used[i/64]&mask != mask
}
