package swarm

import (
	"context"
	"fmt"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// newStorage is the storage for torrents whose files live under dataDir;
// it records completion in the engine's shared database. It is the
// library's file storage behind hashingStorage (storage_hashing.go), which
// hashes each piece as its blocks arrive (so pieces are not read back to
// be checked), writes consecutive blocks in runs, persists completion
// after syncing the data off the download's path, serves peers through
// kept file handles, and notices files changed on disk after they were
// verified.
//
// ownFiles is for a folder seeded as it is (SeedPath, and its session
// record after a restart): its files are the user's, complete, and keep
// their names even if one changes on disk and its pieces are lost;
// otherwise an incomplete file is named NAME.part until its last piece is
// verified.
func (e *Engine) newStorage(dataDir string, ownFiles bool) storage.ClientImplCloser {
	opts := storage.NewFileClientOpts{
		UsePartFiles:    g.Some(!ownFiles),
		ClientBaseDir:   dataDir,
		PieceCompletion: e.completion,
		// Plain reads, not mmap: a seeded file that someone truncates
		// must give an error, not SIGBUS the whole process.
		DisableMmap: true,
		Logger:      e.log,
		// Single-file v2 and hybrid torrents where v1 and libtorrent keep
		// them (hybrid_paths.go).
		FilePathMaker: filePathMaker,
	}
	plain := storage.NewFileOpts(opts)
	if plainFileStorage {
		return plain
	}
	opts.PieceCompletion = noDataSync{e.completion}
	hs := newHashingStorage(plain, storage.NewFileOpts(opts), e.completion, dataDir, e.reverify)
	hs.noPartFiles = ownFiles
	return hs
}

// reverify has the library hash pieces again whose file changed on disk
// after they were verified: those that still match are served again, the
// rest stay incomplete. A seed of the user's files goes on seeding the rest
// with a warning (it downloads nothing anyway); any other torrent that was
// complete stops downloading and reports the change as an error: fetching
// the old content from peers would overwrite what the user just wrote.
func (e *Engine) reverify(ih metainfo.Hash, file string, begin, end int) {
	// Called from a storage read: look the torrent up without holding the
	// library's locks up.
	go func() {
		e.mu.Lock()
		m := e.torrents[ih]
		e.mu.Unlock()
		if m == nil {
			return
		}
		m.mu.Lock()
		wasComplete, seeded := !m.completedAt.IsZero(), m.record.Seeded
		m.mu.Unlock()
		e.log.Warn("data changed on disk after it was verified: checking it again", "torrent", ih.HexString(), "file", file, "pieces", end-begin)
		bad := 0
		for i := begin; i < end; i++ {
			p := m.t.Piece(i)
			if err := p.VerifyDataContext(m.ctx); err != nil {
				if m.ctx.Err() != nil {
					return
				}
			} else if settledComplete(m.ctx, p) {
				continue
			}
			bad++
		}
		hs, _ := m.store.(*hashingStorage)
		switch {
		case seeded && hs != nil && bad > 0:
			hs.setProblem(fmt.Sprintf("%s changed on disk while seeding: %d pieces no longer match the torrent and are not served; the others still are (seed the folder again to share the new content)", file, bad))
		case bad > 0 && wasComplete:
			m.fail(fmt.Errorf("%s changed on disk while seeding: %d pieces no longer match the torrent and are not served (seed the folder again to share the new content)", file, bad))
		}
	}()
}

// settledComplete reports whether p is complete once the library has
// recorded its latest hash check: VerifyDataContext returns when the hash
// is known, a moment before the piece's state says what it found.
func settledComplete(ctx context.Context, p torrent.Piece) bool {
	var st torrent.PieceState
	untilSettled(ctx, func() bool {
		st = p.State()
		return !hashPending(st)
	})
	return st.Complete
}

// hashPending reports whether a piece in state st has a hash check not yet
// recorded in its state.
func hashPending(st torrent.PieceState) bool { return st.Hashing || st.QueuedForHash || st.Marking }

// untilSettled calls settled every few milliseconds until it reports true,
// for at most 10 s or until ctx ends.
func untilSettled(ctx context.Context, settled func() bool) {
	for deadline := time.Now().Add(10 * time.Second); !settled() && time.Now().Before(deadline) && ctx.Err() == nil; {
		time.Sleep(5 * time.Millisecond)
	}
}

// storageWarning says what went wrong with a torrent's data on disk while
// it was served (a file changed after it was verified), or "".
func storageWarning(s storage.ClientImplCloser) string {
	if hs, ok := s.(*hashingStorage); ok {
		return hs.warning()
	}
	return ""
}

// watchFiles looks for files of a complete torrent changed on disk while
// it seeds, every few seconds, so the change is noticed and reported
// before a peer asks for the data (reads check as well).
func (m *managed) watchFiles() {
	hs, ok := m.store.(*hashingStorage)
	if !ok {
		return
	}
	select {
	case <-m.t.Complete().On():
	case <-m.ctx.Done():
		return
	}
	tick := time.NewTicker(watchInterval(len(m.t.Files())))
	defer tick.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
			hs.checkFiles()
		}
	}
}

// watchInterval stats a few files every few seconds and many files less
// often.
func watchInterval(files int) time.Duration {
	return min(max(2*time.Second, time.Duration(files/1000)*time.Second), time.Minute)
}

// plainFileStorage makes newStorage return the library's file storage
// alone. It is set only in builds with -tags shoal_plainstorage, which
// bench/throughput uses to measure what hashingStorage gains.
var plainFileStorage = false
