package swarm

import (
	"sync"

	"github.com/RoaringBitmap/roaring/v2"
	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// completion is the piece-completion store every torrent's storage shares,
// wrapped around the library's buffered bolt store for two reasons:
//
//   - Closing one torrent's storage must not close the shared database, so
//     Close does nothing; the engine closes the underlying store.
//   - "Not complete" is kept in memory only and written to disk as
//     "unknown". The bolt store buffers "complete" for up to a second but
//     writes "not complete" at once, so after a kill -9 a piece verified in
//     that second would read back as known-incomplete and be downloaded
//     again. Stored as unknown, it is hashed at the next start instead, and
//     kept: a verified piece is never fetched twice.
type completion struct {
	under storage.PieceCompletion

	mu         sync.Mutex
	incomplete map[metainfo.Hash]*roaring.Bitmap
}

var _ interface {
	storage.PieceCompletion
	storage.PieceCompletionCheckpointer
	storage.PieceCompletionPersistenter
} = (*completion)(nil)

func newCompletion(under storage.PieceCompletion) *completion {
	return &completion{under: under, incomplete: map[metainfo.Hash]*roaring.Bitmap{}}
}

func (c *completion) Get(pk metainfo.PieceKey) (storage.Completion, error) {
	c.mu.Lock()
	bm := c.incomplete[pk.InfoHash]
	known := bm != nil && bm.Contains(uint32(pk.Index))
	c.mu.Unlock()
	if known {
		return storage.Completion{Ok: true, Complete: false}, nil
	}
	return c.under.Get(pk)
}

func (c *completion) Set(pk metainfo.PieceKey, complete g.Option[bool]) error {
	c.mu.Lock()
	bm := c.incomplete[pk.InfoHash]
	if complete.Ok && !complete.Value {
		if bm == nil {
			bm = roaring.New()
			c.incomplete[pk.InfoHash] = bm
		}
		bm.Add(uint32(pk.Index))
		c.mu.Unlock()
		return c.under.Set(pk, g.None[bool]())
	}
	if bm != nil {
		bm.Remove(uint32(pk.Index))
	}
	c.mu.Unlock()
	return c.under.Set(pk, complete)
}

// forget drops the in-memory state of a removed torrent.
func (c *completion) forget(ih metainfo.Hash) {
	c.mu.Lock()
	delete(c.incomplete, ih)
	c.mu.Unlock()
}

// Checkpoint must reach the buffered bolt store: without it, completions
// would live only in memory until Close.
func (c *completion) Checkpoint(keys []metainfo.PieceKey) error {
	if cp, ok := c.under.(storage.PieceCompletionCheckpointer); ok {
		return cp.Checkpoint(keys)
	}
	return nil
}

func (c *completion) Persistent() bool { return true }

// Close does nothing: see closeStore.
func (c *completion) Close() error { return nil }

// closeStore flushes and closes the underlying database.
func (c *completion) closeStore() error { return c.under.Close() }
