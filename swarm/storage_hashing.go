package swarm

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/segments"
	"github.com/anacrolix/torrent/storage"
)

// hashingStorage wraps the library's file storage so that each piece is
// hashed as its blocks are written, and the library's hash check
// (storage.SelfHashing) gets the running digest instead of reading the
// whole piece back from disk; and so that blocks arriving in order reach
// the disk in runs of several blocks per write call. For a 1 GiB download
// that saves 1 GiB of reads and most of 65,536 write calls.
//
// The disk, part files, paths and completion (recorded through the
// engine's completion store) are the file storage's: this only changes
// when a block is written and how a piece is hashed.
//
//   - A block that continues the piece's hashed prefix is added to the
//     piece's run, a buffer of consecutive blocks not yet written. Once
//     written, the run is hashed on a goroutine of the piece's own (feed),
//     so SHA-1 runs beside the connection's read loop, not in it.
//     The run is written when full, when the next block does not follow
//     it, when the piece's last block arrives (so a piece is always on
//     disk before the library hashes it), and before anything looks at the
//     disk (reads, hash checks, marking the piece, closing).
//   - A block that arrives early (past the hashed prefix) is written at
//     once and a copy kept until the blocks before it are in.
//   - If the digest cannot vouch for what is on disk (a block written
//     twice, a failed write, no memory for an early block, a piece not
//     downloaded here), the piece is read back and hashed as the library
//     would.
//
// A failed write of a run is the write error of the block that caused it,
// and the piece is then hashed from disk, so lost blocks fail its check.
//
// Torrents with v2 hashes use the file storage unchanged: their v1 piece
// hash covers padding the storage never sees.
type hashingStorage struct {
	plain storage.ClientImplCloser // for torrents with v2 hashes
	under storage.ClientImplCloser // the file storage over noDataSync
	cp    checkpointedCompletion
	dir   string // where both keep torrents' files
	// noPartFiles: the file storages were made without part files (seeded
	// folders), so a file is always at its own name.
	noPartFiles bool

	// onChange, if not nil, is told which pieces of a torrent were marked
	// incomplete because a file changed on disk, so it can have the
	// library check them again.
	onChange func(ih metainfo.Hash, file string, begin, end int)

	mu      sync.Mutex
	problem string // the latest file found changed on disk, for the user
	watched map[*hashingTorrent]bool
}

// checkpointedCompletion is the engine's completion store: one that
// buffers completions until they are checkpointed.
type checkpointedCompletion interface {
	storage.PieceCompletion
	storage.PieceCompletionCheckpointer
}

// checkFiles looks for files changed on disk in every open torrent, as a
// read of them would, so a change is noticed while nobody downloads.
func (s *hashingStorage) checkFiles() {
	s.mu.Lock()
	ts := make([]*hashingTorrent, 0, len(s.watched))
	for t := range s.watched {
		ts = append(ts, t)
	}
	s.mu.Unlock()
	for _, t := range ts {
		for i := range t.files.paths {
			t.files.check(i)
		}
	}
}

// warning says what went wrong with the data on disk, or "".
func (s *hashingStorage) warning() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.problem
}

// newHashingStorage wraps two file storages for dir, made with the same
// path maker as newTorrentFiles and the same completion store cp: plain
// with cp itself, for torrents this cannot hash; under with noDataSync{cp},
// for the rest, whose completions hashingStorage checkpoints itself.
// onChange (may be nil) is hashingStorage.onChange.
func newHashingStorage(plain, under storage.ClientImplCloser, cp checkpointedCompletion, dir string, onChange func(ih metainfo.Hash, file string, begin, end int)) *hashingStorage {
	return &hashingStorage{plain: plain, under: under, cp: cp, dir: dir, onChange: onChange}
}

func (s *hashingStorage) Close() error { return errors.Join(s.under.Close(), s.plain.Close()) }

func (s *hashingStorage) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	if !info.HasV1() || info.HasV2() {
		return s.plain.OpenTorrent(ctx, info, ih)
	}
	// The file storage refuses such a path too: this is a backstop.
	files, err := newTorrentFiles(s.dir, info, s.noPartFiles)
	if err != nil {
		return storage.TorrentImpl{}, err
	}
	ut, err := s.under.OpenTorrent(ctx, info, ih)
	if err != nil {
		return ut, err
	}
	// The file storage sets only Piece, Close and CloseWriters: reads go
	// through files.
	t := &hashingTorrent{s: s, under: ut, files: files, pieces: make(map[int]*pieceHash), recheck: make(map[int]bool), ih: ih, lastCheckpoint: time.Now(), info: info}
	files.onChange = t.fileChanged
	files.stampAll()
	s.mu.Lock()
	if s.watched == nil {
		s.watched = map[*hashingTorrent]bool{}
	}
	s.watched[t] = true
	s.mu.Unlock()
	return storage.TorrentImpl{
		Piece:        t.piece,
		Close:        t.close,
		CloseWriters: t.closeWriters,
		NewReader:    t.newReader,
	}, nil
}

// newReader reads the torrent's files through kept handles, after writing
// out any run the bytes read may be in.
func (t *hashingTorrent) newReader() storage.TorrentReader { return hashingReader{t} }

type hashingReader struct{ t *hashingTorrent }

func (r hashingReader) ReadAt(b []byte, off int64) (int, error) {
	t := r.t
	if len(b) > 0 {
		pl := t.info.PieceLength
		for i := int(off / pl); i <= int((off+int64(len(b))-1)/pl); i++ {
			t.mu.Lock()
			w, changed := t.pieces[i], t.recheck[i]
			t.mu.Unlock()
			if changed {
				// Its file changed: served again only once it verifies.
				return 0, fmt.Errorf("piece %d: %w", i, errChangedOnDisk)
			}
			if w != nil {
				if err := w.flush(); err != nil {
					return 0, err
				}
			}
		}
	}
	return t.files.ReadAt(b, off)
}

// fileChanged runs when file i changed on disk after it was verified: its
// pieces are recorded as incomplete (so reads of them fail and the library
// stops serving them), the user is told, and onChange can have them
// checked again.
func (t *hashingTorrent) fileChanged(i int, why string) {
	name, _ := filepath.Rel(t.s.dir, t.files.paths[i])
	fi := &t.files.infos[i]
	begin, end := fi.BeginPieceIndex(t.info.PieceLength), fi.EndPieceIndex(t.info.PieceLength)
	for p := begin; p < end; p++ {
		t.setRecheck(p, true)
		if err := t.s.cp.Set(metainfo.PieceKey{InfoHash: t.ih, Index: p}, g.Some(false)); err != nil {
			t.setRecheck(p, false) // still recorded complete
			t.s.setProblem(fmt.Sprintf("%s changed on disk (%s); recording its pieces as incomplete failed: %v", name, why, err))
			return
		}
	}
	t.s.setProblem(fmt.Sprintf("%s changed on disk after it was verified (%s): its %d pieces are not served until they verify again", name, why, end-begin))
	if t.s.onChange != nil {
		t.s.onChange(t.ih, name, begin, end)
	}
}

// setRecheck records whether piece p waits to verify again after its file
// changed on disk (fileChanged); reads of it fail until it does.
func (t *hashingTorrent) setRecheck(p int, on bool) {
	t.mu.Lock()
	if on {
		t.recheck[p] = true
	} else {
		delete(t.recheck, p)
	}
	t.mu.Unlock()
}

func (s *hashingStorage) setProblem(p string) {
	s.mu.Lock()
	s.problem = p
	s.mu.Unlock()
}

func (hashingReader) Close() error { return nil }

type hashingTorrent struct {
	s     *hashingStorage
	ih    metainfo.Hash
	info  *metainfo.Info
	under storage.TorrentImpl
	files *torrentFiles

	mu     sync.Mutex
	pieces map[int]*pieceHash // pieces being written
	// recheck holds the pieces fileChanged recorded incomplete, until they
	// verify again (MarkComplete): reads of them fail.
	recheck map[int]bool

	cpMu           sync.Mutex
	pending        []metainfo.PieceKey // completions to persist
	lastCheckpoint time.Time
	syncing        bool           // a checkpoint runs in the background
	syncMu         sync.Mutex     // held by the checkpoint that runs
	syncWG         sync.WaitGroup // background checkpoints
}

// pieceHash is a piece being written: its running hash and unwritten run.
type pieceHash struct {
	mu    sync.Mutex
	up    storage.PieceImpl // the file storage's piece
	files *torrentFiles     // told of our writes
	off   int64             // the piece's first byte in the torrent
	// hashed counts the piece's first bytes given to the digest: hashed
	// already, or queued for hashLoop in buffers of our own.
	hashed int64
	hmu    sync.Mutex
	hcond  sync.Cond // hmu; signalled when hashLoop stops
	h      hash.Hash // hashLoop's while it runs
	hq     []hashJob
	hrun   bool // hashLoop is running
	// run holds blocks from runOff on, in the digest but not yet written.
	run    *[]byte
	runOff int64
	early  []earlyBlock // blocks past `hashed`, written, copied for hashing
	// broken: the digest cannot vouch for the disk; hash by reading back.
	broken bool
	// lost: a run failed to reach the disk, so blocks the library counts
	// as written are missing. The hash check then fails with an error
	// (not a mismatch, for which the library would ban the sending peer).
	lost error
	dead bool // forgotten by the torrent: look it up again
}

// hashJob is a buffer to hash, then give back to its budget.
type hashJob struct {
	buf    *[]byte
	budget *blockBudget
}

// feed queues a buffer of the hashed prefix for hashing. The hashing runs
// on a goroutine of its own, so that the connection's read loop, which
// writes the blocks, is not held up by SHA-1: with one fast peer that loop
// is the bottleneck (it ran 77% of the download's CPU when it hashed too).
func (w *pieceHash) feed(buf *[]byte, budget *blockBudget) {
	w.hmu.Lock()
	w.hq = append(w.hq, hashJob{buf, budget})
	start := !w.hrun
	w.hrun = true
	w.hmu.Unlock()
	if start {
		go w.hashLoop()
	}
}

func (w *pieceHash) hashLoop() {
	for {
		w.hmu.Lock()
		if len(w.hq) == 0 {
			w.hrun = false
			w.hcond.Broadcast()
			w.hmu.Unlock()
			return
		}
		j := w.hq[0]
		w.hq[0] = hashJob{}
		w.hq = w.hq[1:]
		w.hmu.Unlock()
		w.h.Write(*j.buf)
		j.budget.put(j.buf)
	}
}

// waitHashed waits until everything fed is hashed; w.h is then ours.
func (w *pieceHash) waitHashed() {
	w.hmu.Lock()
	for w.hrun {
		w.hcond.Wait()
	}
	w.hmu.Unlock()
}

type earlyBlock struct {
	off int64
	buf *[]byte
}

func (t *hashingTorrent) piece(p metainfo.Piece) storage.PieceImpl {
	return &hashingPiece{t: t, p: p}
}

func (t *hashingTorrent) state(hp *hashingPiece, create bool) *pieceHash {
	i := hp.p.Index()
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.pieces[i]
	if w == nil && create {
		w = &pieceHash{h: sha1.New(), up: hp.under(), files: t.files, off: hp.p.Offset()}
		w.hcond.L = &w.hmu
		t.pieces[i] = w
	}
	return w
}

// flush writes out a piece's run, if it has one.
func (t *hashingTorrent) flush(i int) error {
	t.mu.Lock()
	w := t.pieces[i]
	t.mu.Unlock()
	if w == nil {
		return nil
	}
	return w.flush()
}

// flush writes out the run, if there is one.
func (w *pieceHash) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushRun()
}

// forget writes out a piece's run and drops its state: the next write
// starts a new one.
func (t *hashingTorrent) forget(i int) error {
	t.mu.Lock()
	w := t.pieces[i]
	delete(t.pieces, i)
	t.mu.Unlock()
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dead = true
	w.dropEarly()
	return w.flushRun()
}

func (t *hashingTorrent) forgetAll() error {
	t.mu.Lock()
	is := make([]int, 0, len(t.pieces))
	for i := range t.pieces {
		is = append(is, i)
	}
	t.mu.Unlock()
	var errs []error
	for _, i := range is {
		if err := t.forget(i); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (t *hashingTorrent) close() error {
	t.s.mu.Lock()
	delete(t.s.watched, t)
	t.s.mu.Unlock()
	t.syncWG.Wait()
	err := errors.Join(t.forgetAll(), t.checkpoint())
	t.files.close()
	return errors.Join(err, t.under.Close())
}

// closeWriters runs when the download completes: a good time to persist
// the last completions too.
func (t *hashingTorrent) closeWriters() error {
	return errors.Join(t.forgetAll(), t.checkpoint(), t.under.CloseWriters())
}

type hashingPiece struct {
	t  *hashingTorrent
	p  metainfo.Piece
	up storage.PieceImpl // the file storage's piece, made when needed
}

var _ interface {
	storage.PieceImpl
	storage.SelfHashing
	io.WriterTo
} = (*hashingPiece)(nil)

func (hp *hashingPiece) under() storage.PieceImpl {
	if hp.up == nil {
		hp.up = hp.t.under.Piece(hp.p)
	}
	return hp.up
}

func (hp *hashingPiece) WriteAt(b []byte, off int64) (int, error) {
	for {
		w := hp.t.state(hp, true)
		w.mu.Lock()
		if w.dead {
			w.mu.Unlock()
			continue
		}
		n, err := w.write(b, off, hp.p.Length())
		w.mu.Unlock()
		return n, err
	}
}

// write takes a block of a piece of the given length.
func (w *pieceHash) write(b []byte, off, length int64) (int, error) {
	end := off + int64(len(b))
	if w.run != nil && (off != w.runOff+int64(len(*w.run)) || len(*w.run)+len(b) > cap(*w.run)) {
		// The block does not follow the run or fit in it.
		if err := w.flushRun(); err != nil {
			return 0, err
		}
	}
	if !w.broken && off == w.hashed {
		// The next block of the hashed prefix.
		if w.run == nil && len(b) <= runSize {
			if w.run = runBuffers.get(runSize); w.run != nil {
				*w.run = (*w.run)[:0]
				w.runOff = off
			}
		}
		if w.run != nil {
			// Hashed when the run is written (flushRun).
			*w.run = append(*w.run, b...)
		} else {
			if n, err := w.writeDisk(b, off); err != nil || n != len(b) {
				w.breakDigest()
				return n, err
			}
			// No memory for a run: hash here, after what is queued.
			w.waitHashed()
			w.h.Write(b)
		}
		w.hashed = end
		if err := w.drainEarly(); err != nil {
			return 0, err
		}
		if w.hashed == length {
			// The piece is complete: on disk before anyone hashes it.
			if err := w.flushRun(); err != nil {
				return 0, err
			}
		}
		return len(b), nil
	}
	// Anything else goes straight to disk, after the run so a later block
	// never lands under an earlier one.
	if err := w.flushRun(); err != nil {
		return 0, err
	}
	n, err := w.writeDisk(b, off)
	if err != nil || n != len(b) {
		// What reached the disk is unknown.
		w.breakDigest()
		return n, err
	}
	if w.broken {
		return n, nil
	}
	if off < w.hashed {
		// Over data already hashed (a block from a second peer): the
		// digest no longer speaks for the disk.
		w.breakDigest()
		return n, nil
	}
	for _, e := range w.early {
		if e.off == off {
			// The same block again: the copy may be stale.
			w.breakDigest()
			return n, nil
		}
	}
	buf := earlyBuffers.get(len(b))
	if buf == nil {
		w.breakDigest()
		return n, nil
	}
	earlyBlocks.Add(1)
	copy(*buf, b)
	w.early = append(w.early, earlyBlock{off, buf})
	return n, nil
}

// flushRun writes the run to disk. If that fails, the digest is no longer
// trusted: blocks the library counts as written may be missing.
func (w *pieceHash) flushRun() error {
	if w.run == nil {
		return nil
	}
	r := *w.run
	var err error
	if len(r) > 0 {
		var n int
		n, err = w.writeDisk(r, w.runOff)
		if err == nil && n != len(r) {
			err = io.ErrShortWrite
		}
	}
	if w.broken || err != nil {
		runBuffers.put(w.run)
	} else {
		w.feed(w.run, runBuffers)
	}
	w.run = nil
	if err != nil {
		w.breakDigest()
		if w.lost == nil {
			w.lost = fmt.Errorf("blocks %d-%d of the piece were not written: %w", w.runOff, w.runOff+int64(len(r)), err)
		}
	}
	return err
}

// writeDisk writes to the file storage, then notes the write so the
// change check does not take it for someone else's.
func (w *pieceHash) writeDisk(b []byte, off int64) (int, error) {
	// Noted before as well as after: a change check between the write and
	// the note would take our write for someone else's.
	w.files.wrote(w.off+off, w.off+off+int64(len(b)))
	n, err := w.up.WriteAt(b, off)
	w.files.wrote(w.off+off, w.off+off+int64(len(b)))
	return n, err
}

func (w *pieceHash) breakDigest() {
	w.broken = true
	w.dropEarly()
}

// drainEarly hashes early blocks that now follow the hashed prefix. They
// are on disk already.
func (w *pieceHash) drainEarly() error {
	for again := true; again && len(w.early) > 0; {
		again = false
		for i, e := range w.early {
			if e.off != w.hashed {
				continue
			}
			// The run's bytes come first in the digest.
			if err := w.flushRun(); err != nil {
				return err
			}
			w.feed(e.buf, earlyBuffers)
			w.hashed += int64(len(*e.buf))
			w.early[i] = w.early[len(w.early)-1]
			w.early = w.early[:len(w.early)-1]
			again = true
			break
		}
	}
	for _, e := range w.early {
		if e.off < w.hashed {
			// Overlaps what was hashed: blocks of another size.
			w.breakDigest()
			return nil
		}
	}
	return nil
}

func (w *pieceHash) dropEarly() {
	for _, e := range w.early {
		earlyBuffers.put(e.buf)
	}
	w.early = nil
}

// SelfHash answers the library's hash check: the running digest when the
// whole piece was written through here, otherwise the hash of the piece
// read back from disk.
func (hp *hashingPiece) SelfHash() (sum metainfo.Hash, err error) {
	i := hp.p.Index()
	if w := hp.t.state(hp, false); w != nil {
		w.mu.Lock()
		// Once the whole piece is hashed, its run is written (write).
		ok := !w.dead && !w.broken && w.hashed == hp.p.Length()
		if ok {
			w.waitHashed()
			w.h.Sum(sum[:0])
		}
		lost := w.lost
		w.mu.Unlock()
		// Used once: any later check (a verify) reads the disk.
		if err := hp.t.forget(i); err != nil {
			return sum, err
		}
		if lost != nil {
			return sum, lost
		}
		if ok {
			digestHashes.Add(1)
			return sum, nil
		}
	}
	readBackHashes.Add(1)
	h := sha1.New()
	if _, err := hp.WriteTo(h); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

func (hp *hashingPiece) WriteTo(dst io.Writer) (int64, error) {
	if err := hp.t.flush(hp.p.Index()); err != nil {
		return 0, err
	}
	if wt, ok := hp.under().(io.WriterTo); ok {
		return wt.WriteTo(dst)
	}
	return io.Copy(dst, io.NewSectionReader(hp.under(), 0, hp.p.Length()))
}

func (hp *hashingPiece) ReadAt(b []byte, off int64) (int, error) {
	if err := hp.t.flush(hp.p.Index()); err != nil {
		return 0, err
	}
	return hp.under().ReadAt(b, off)
}

func (hp *hashingPiece) MarkComplete() error {
	if err := hp.t.forget(hp.p.Index()); err != nil {
		return err
	}
	if err := hp.under().MarkComplete(); err != nil {
		return err
	}
	hp.t.setRecheck(hp.p.Index(), false) // verified again
	hp.t.queueCheckpoint(hp.p.Index())
	return nil
}

// queueCheckpoint persists a piece's completion with others, about once a
// second, in the background: see checkpoint.
func (t *hashingTorrent) queueCheckpoint(i int) {
	t.cpMu.Lock()
	t.pending = append(t.pending, metainfo.PieceKey{InfoHash: t.ih, Index: i})
	start := !t.syncing && time.Since(t.lastCheckpoint) >= checkpointInterval
	if start {
		t.syncing = true
		t.syncWG.Add(1)
	}
	t.cpMu.Unlock()
	if start {
		go func() {
			defer t.syncWG.Done()
			if err := t.checkpoint(); err != nil {
				t.s.setProblem(err.Error())
			}
			t.cpMu.Lock()
			t.syncing = false
			t.cpMu.Unlock()
		}()
	}
}

// checkpoint makes the pending completions durable: it first syncs the
// files their pieces are in, then records them, so a completion on disk
// never speaks for data still only in the page cache (a power cut would
// otherwise leave pieces recorded complete that hold zeros). It runs off
// the download's path and syncs with handles of its own: the file storage
// syncs under its I/O lock, every second, which stalled all writes and
// slowed downloads by a fifth to a third on the machines measured.
func (t *hashingTorrent) checkpoint() error {
	t.syncMu.Lock()
	defer t.syncMu.Unlock()
	t.cpMu.Lock()
	keys := t.pending
	t.pending = nil
	t.lastCheckpoint = time.Now()
	t.cpMu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	err := t.syncData(keys)
	if err == nil {
		err = t.s.cp.Checkpoint(keys)
	}
	if err != nil {
		t.cpMu.Lock()
		t.pending = append(t.pending, keys...)
		t.cpMu.Unlock()
		return fmt.Errorf("record completed pieces: %w", err)
	}
	return nil
}

// syncData flushes to disk the files that hold the given pieces.
func (t *hashingTorrent) syncData(keys []metainfo.PieceKey) error {
	files := map[int]bool{}
	for _, k := range keys {
		p := t.info.Piece(k.Index)
		for i := range t.files.index.LocateIter(segments.Extent{Start: p.Offset(), Length: p.Length()}) {
			files[i] = true
		}
	}
	var errs []error
	for i := range files {
		errs = append(errs, syncPath(t.files.paths[i], t.files.noPartFiles))
	}
	return errors.Join(errs...)
}

// syncPath fsyncs a torrent file wherever the file storage keeps it.
func syncPath(path string, noPartFiles bool) error {
	f, err := onDisk(path, noPartFiles, os.Open)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

// checkpointInterval is how often completions are persisted, as the file
// storage does.
const checkpointInterval = time.Second

// noDataSync is the completion store as the file storage under
// hashingStorage sees it: the same store, but neither a checkpointer nor
// persistent, so the file storage never syncs the torrent's files itself
// (see checkpoint: hashingTorrent does it, off the download's path).
type noDataSync struct{ storage.PieceCompletion }

func (noDataSync) Persistent() bool { return false }

func (hp *hashingPiece) MarkNotComplete() error {
	err := hp.t.forget(hp.p.Index())
	return errors.Join(err, hp.under().MarkNotComplete())
}

func (hp *hashingPiece) Completion() storage.Completion { return hp.under().Completion() }

// runSize is how many bytes of consecutive blocks are written in one call.
// In profiles on 2-core VMs during development, 64 KiB runs used the least
// CPU; 256 KiB and 1 MiB writes cost more system time there (not
// re-measured in bench/throughput/RESULTS.md).
const runSize = 64 << 10

// readBackHashes, digestHashes and earlyBlocks count pieces hashed by
// reading them back (checks of data already on disk, and downloads the
// digest cannot vouch for), pieces answered from the running digest, and
// blocks that arrived early (for tests and benchmarks).
var readBackHashes, digestHashes, earlyBlocks atomic.Int64

// Memory for runs and early blocks, shared by every torrent; past these
// limits blocks are written one by one, or pieces hashed by reading back.
var (
	runBuffers   = newBlockBudget(16 << 20)
	earlyBuffers = newBlockBudget(32 << 20)
)

type blockBudget struct {
	mu    sync.Mutex
	used  int64
	limit int64
	pool  sync.Pool
}

func newBlockBudget(limit int64) *blockBudget { return &blockBudget{limit: limit} }

// get returns a buffer of n bytes, or nil if the budget is spent. The
// check and the reservation are one locked step, so that callers at once
// cannot all pass the check.
func (b *blockBudget) get(n int) *[]byte {
	b.mu.Lock()
	if b.used+int64(n) > b.limit {
		b.mu.Unlock()
		return nil
	}
	v, ok := b.pool.Get().(*[]byte)
	if !ok || cap(*v) < n {
		v = nil // too small: made below, outside the lock
		b.used += int64(n)
	} else {
		b.used += int64(cap(*v))
	}
	b.mu.Unlock()
	if v == nil {
		buf := make([]byte, n) // cap n, as reserved
		v = &buf
	}
	*v = (*v)[:n]
	return v
}

func (b *blockBudget) put(buf *[]byte) {
	b.mu.Lock()
	b.used -= int64(cap(*buf))
	b.mu.Unlock()
	b.pool.Put(buf)
}
