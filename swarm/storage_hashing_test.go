package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

const testBlock = 16 << 10

// hashingFixture is a two-file v1 torrent (pieces straddle the files, the
// last one short) opened in hashingStorage over the file storage, with the
// engine's completion wrapper.
type hashingFixture struct {
	cp     *checkpointRecorder
	info   *metainfo.Info
	data   []byte // the whole torrent's bytes
	dir    string
	client *hashingStorage
	tor    storage.TorrentImpl
}

func newHashingFixture(t *testing.T) *hashingFixture {
	t.Helper()
	src := filepath.Join(t.TempDir(), "t")
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{5*testBlock + 100, 3*testBlock + 7}
	var all []byte
	for i, n := range sizes {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		all = append(all, b...)
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, []string{"a.bin", "b.bin"}[i]), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	info := &metainfo.Info{PieceLength: 2 * testBlock}
	if err := info.BuildFromFilePath(src); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pc := &checkpointRecorder{PieceCompletion: newCompletion(storage.NewMapPieceCompletion())}
	opts := storage.NewFileClientOpts{
		ClientBaseDir:   dir,
		PieceCompletion: pc,
		DisableMmap:     true,
		Logger:          slog.New(slog.DiscardHandler),
	}
	plain := storage.NewFileOpts(opts)
	opts.PieceCompletion = noDataSync{pc}
	c := newHashingStorage(plain, storage.NewFileOpts(opts), pc, dir, nil)
	tor, err := c.OpenTorrent(context.Background(), info, metainfo.Hash{1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tor.Close(); c.Close() })
	return &hashingFixture{cp: pc, info: info, data: all, dir: dir, client: c, tor: tor}
}

// checkpointRecorder is a completion store that notes what is checkpointed.
type checkpointRecorder struct {
	storage.PieceCompletion
	mu   sync.Mutex
	keys []metainfo.PieceKey
}

func (c *checkpointRecorder) Checkpoint(keys []metainfo.PieceKey) error {
	c.mu.Lock()
	c.keys = append(c.keys, keys...)
	c.mu.Unlock()
	return nil
}

func (f *hashingFixture) piece(i int) storage.PieceImpl { return f.tor.Piece(f.info.Piece(i)) }

func (f *hashingFixture) pieceData(i int) []byte {
	p := f.info.Piece(i)
	return f.data[p.Offset() : p.Offset()+p.Length()]
}

// blocks splits a piece into (offset, length) blocks of the given size.
func blocks(length int64, size int) [][2]int64 {
	var out [][2]int64
	for off := int64(0); off < length; off += int64(size) {
		out = append(out, [2]int64{off, min(int64(size), length-off)})
	}
	return out
}

// checkHash asserts what the storage claims is the hash of what is on
// disk, and reports whether that equals the piece's expected hash.
func (f *hashingFixture) checkHash(t *testing.T, i int) bool {
	t.Helper()
	sh, ok := f.piece(i).(storage.SelfHashing)
	if !ok {
		t.Fatal("piece does not hash itself")
	}
	got, err := sh.SelfHash()
	if err != nil {
		t.Fatal(err)
	}
	p := f.info.Piece(i)
	disk := make([]byte, p.Length())
	n, _ := f.piece(i).ReadAt(disk, 0)
	if want := sha1.Sum(disk[:n]); got != want {
		t.Fatalf("piece %d: SelfHash %x, but the disk holds data hashing to %x", i, got, want)
	}
	return got == p.V1Hash().Unwrap()
}

func TestHashingStorageOrders(t *testing.T) {
	for _, order := range []string{"in order", "reverse", "shuffled", "duplicate", "corrupt then fixed", "fixed then corrupt", "odd sizes"} {
		t.Run(order, func(t *testing.T) {
			f := newHashingFixture(t)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range f.info.NumPieces() {
				p := f.info.Piece(i)
				want := f.pieceData(i)
				size := testBlock
				if order == "odd sizes" {
					size = 5000
				}
				bs := blocks(p.Length(), size)
				type write struct {
					off  int64
					data []byte
				}
				var ws []write
				for _, b := range bs {
					ws = append(ws, write{b[0], want[b[0] : b[0]+b[1]]})
				}
				bad := func(w write) write {
					d := bytes.Clone(w.data)
					d[0] ^= 0xff
					return write{w.off, d}
				}
				switch order {
				case "reverse":
					for a, b := 0, len(ws)-1; a < b; a, b = a+1, b-1 {
						ws[a], ws[b] = ws[b], ws[a]
					}
				case "shuffled":
					rng.Shuffle(len(ws), func(a, b int) { ws[a], ws[b] = ws[b], ws[a] })
				case "duplicate":
					ws = append(ws, ws[0])
				case "corrupt then fixed":
					ws = append([]write{bad(ws[len(ws)-1])}, ws...)
				case "fixed then corrupt":
					ws = append(ws, bad(ws[0]))
				}
				before := readBackHashes.Load()
				for _, w := range ws {
					n, err := f.piece(i).WriteAt(w.data, w.off)
					if err != nil || n != len(w.data) {
						t.Fatalf("write: %d, %v", n, err)
					}
				}
				good := f.checkHash(t, i)
				// In order or not, a piece written once is hashed as it
				// arrives; one written twice is read back.
				readBack := readBackHashes.Load() > before
				if wantReadBack := order == "duplicate" || strings.Contains(order, "corrupt"); readBack != wantReadBack {
					t.Fatalf("piece %d: read back = %v, want %v", i, readBack, wantReadBack)
				}
				if wantGood := order != "fixed then corrupt"; good != wantGood {
					t.Fatalf("piece %d: hash matches = %v, want %v", i, good, wantGood)
				}
			}
		})
	}
}

// A piece whose early blocks do not fit in memory is hashed from disk.
func TestHashingStorageNoMemoryForEarlyBlocks(t *testing.T) {
	saved := earlyBuffers
	earlyBuffers = newBlockBudget(0)
	defer func() { earlyBuffers = saved }()
	f := newHashingFixture(t)
	want := f.pieceData(0)
	bs := blocks(f.info.Piece(0).Length(), testBlock)
	for k := len(bs) - 1; k >= 0; k-- {
		b := bs[k]
		if _, err := f.piece(0).WriteAt(want[b[0]:b[0]+b[1]], b[0]); err != nil {
			t.Fatal(err)
		}
	}
	if !f.checkHash(t, 0) {
		t.Fatal("piece written in reverse without early-block memory does not verify")
	}
}

// The file storage's behaviour is kept: data in NAME.part until the file's
// pieces are all complete, then renamed; completion recorded.
func TestHashingStorageCompletesFiles(t *testing.T) {
	f := newHashingFixture(t)
	for i := range f.info.NumPieces() {
		want := f.pieceData(i)
		for _, b := range blocks(f.info.Piece(i).Length(), testBlock) {
			if _, err := f.piece(i).WriteAt(want[b[0]:b[0]+b[1]], b[0]); err != nil {
				t.Fatal(err)
			}
		}
		if !f.checkHash(t, i) {
			t.Fatalf("piece %d does not verify", i)
		}
		if i == 0 {
			if _, err := os.Stat(filepath.Join(f.dir, "t", "a.bin.part")); err != nil {
				t.Fatalf("no part file while downloading: %v", err)
			}
		}
		if err := f.piece(i).MarkComplete(); err != nil {
			t.Fatal(err)
		}
		if c := f.piece(i).Completion(); !c.Ok || !c.Complete {
			t.Fatalf("piece %d completion %+v after MarkComplete", i, c)
		}
	}
	for name, off := range map[string]int{"a.bin": 0, "b.bin": 5*testBlock + 100} {
		got, err := os.ReadFile(filepath.Join(f.dir, "t", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.data[off:off+len(got)]) {
			t.Fatalf("%s content differs", name)
		}
		if _, err := os.Stat(filepath.Join(f.dir, "t", name+".part")); !os.IsNotExist(err) {
			t.Fatalf("%s.part still there: %v", name, err)
		}
	}
	// Completions reach the store's checkpoint (at the latest on close).
	if err := f.tor.Close(); err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for _, k := range f.cp.keys {
		got[k.Index] = true
	}
	if len(got) != f.info.NumPieces() {
		t.Fatalf("checkpointed pieces %v, want all %d", got, f.info.NumPieces())
	}
}

// A write the disk refuses is the block's write error, and the piece is
// then hashed from what the disk really has.
func TestHashingStorageWriteError(t *testing.T) {
	f := newHashingFixture(t)
	// A folder where the part file should go makes every write fail.
	if err := os.MkdirAll(filepath.Join(f.dir, "t", "a.bin.part"), 0o755); err != nil {
		t.Fatal(err)
	}
	want := f.pieceData(0)
	// An early block is written at once.
	if _, err := f.piece(0).WriteAt(want[testBlock:], testBlock); err == nil {
		t.Fatal("write into a folder succeeded")
	}
	os.Remove(filepath.Join(f.dir, "t", "a.bin.part"))
	if _, err := f.piece(0).WriteAt(want[:testBlock], 0); err != nil {
		t.Fatal(err)
	}
	if f.checkHash(t, 0) {
		t.Fatal("piece with a failed block verifies")
	}
}

// After a piece is checked, checking it again reads the disk: a verify
// must see data changed behind our back.
func TestHashingStorageRecheckReadsDisk(t *testing.T) {
	f := newHashingFixture(t)
	want := f.pieceData(0)
	if _, err := f.piece(0).WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	if !f.checkHash(t, 0) {
		t.Fatal("piece does not verify")
	}
	if err := os.Truncate(filepath.Join(f.dir, "t", "a.bin.part"), 10); err != nil {
		t.Fatal(err)
	}
	if f.checkHash(t, 0) {
		t.Fatal("truncated piece still verifies")
	}
}

// Blocks held in a run are on disk before anything reads the piece.
func TestHashingStorageReadSeesRun(t *testing.T) {
	f := newHashingFixture(t)
	want := f.pieceData(0)
	if _, err := f.piece(0).WriteAt(want[:testBlock], 0); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, testBlock)
	if n, err := f.piece(0).ReadAt(got, 0); n != testBlock || !bytes.Equal(got, want[:testBlock]) {
		t.Fatalf("read back %d bytes (%v), equal %v", n, err, bytes.Equal(got, want[:testBlock]))
	}
	if _, err := f.piece(0).WriteAt(want[testBlock:], testBlock); err != nil {
		t.Fatal(err)
	}
	if !f.checkHash(t, 0) {
		t.Fatal("piece does not verify")
	}
}

// A run that cannot be written fails the write that flushes it, and the
// piece is then hashed from what the disk really has.
func TestHashingStorageRunWriteError(t *testing.T) {
	f := newHashingFixture(t)
	want := f.pieceData(0)
	if _, err := f.piece(0).WriteAt(want[:testBlock], 0); err != nil {
		t.Fatal(err) // held in the run: nothing written yet
	}
	part := filepath.Join(f.dir, "t", "a.bin.part")
	os.Remove(part)
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := f.piece(0).WriteAt(want[testBlock:], testBlock); err == nil {
		t.Fatal("the piece's last block wrote without error")
	}
	os.Remove(part)
	if _, err := f.piece(0).WriteAt(want[testBlock:], testBlock); err != nil {
		t.Fatal(err)
	}
	// The library counts the first block as written: the check must fail
	// with an error (a storage fault), not a mismatch (a peer's fault).
	if _, err := f.piece(0).(storage.SelfHashing).SelfHash(); err == nil {
		t.Fatal("hash check of a piece with lost blocks gave no error")
	}
	// Once the library starts the piece over, it verifies again.
	if err := f.piece(0).MarkNotComplete(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.piece(0).WriteAt(want, 0); err != nil {
		t.Fatal(err)
	}
	if !f.checkHash(t, 0) {
		t.Fatal("piece written again does not verify")
	}
}

// The torrent reader peers are served from reads across files, from part
// files and finished ones, and reports a truncated file as a short read.
func TestHashingStorageReader(t *testing.T) {
	f := newHashingFixture(t)
	if f.tor.NewReader == nil {
		t.Fatal("no torrent reader")
	}
	r := f.tor.NewReader()
	defer r.Close()
	check := func(off, n int64) {
		t.Helper()
		got := make([]byte, n)
		k, err := r.ReadAt(got, off)
		if err != nil || int64(k) != n || !bytes.Equal(got, f.data[off:off+n]) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v; equal %v", off, n, k, err, bytes.Equal(got[:k], f.data[off:off+int64(k)]))
		}
	}
	total := int64(len(f.data))
	for i := range f.info.NumPieces() {
		want := f.pieceData(i)
		for _, b := range blocks(f.info.Piece(i).Length(), testBlock) {
			if _, err := f.piece(i).WriteAt(want[b[0]:b[0]+b[1]], b[0]); err != nil {
				t.Fatal(err)
			}
		}
		if i == 1 {
			check(0, 2*f.info.PieceLength) // a.bin.part, through a kept handle
		}
		if !f.checkHash(t, i) {
			t.Fatalf("piece %d does not verify", i)
		}
		if err := f.piece(i).MarkComplete(); err != nil {
			t.Fatal(err)
		}
	}
	check(0, total)                 // both files, renamed from .part meanwhile
	check(5*testBlock, 2*testBlock) // across the boundary
	if err := os.Truncate(filepath.Join(f.dir, "t", "b.bin"), 10); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 100)
	k, err := r.ReadAt(got, total-100)
	if err == nil || k == len(got) {
		t.Fatalf("read of a truncated file = %d, %v; want a short read and an error", k, err)
	}
	if err := os.Remove(filepath.Join(f.dir, "t", "a.bin")); err != nil {
		t.Fatal(err)
	}
	r2 := f.tor.NewReader()
	defer r2.Close()
	// The kept handle still reads the removed file's data, which was
	// verified; a file that is gone for good errors once it is dropped.
	if k, err := r2.ReadAt(got, 0); err != nil || k != len(got) || !bytes.Equal(got, f.data[:len(got)]) {
		t.Fatalf("read of a removed file through its kept handle = %d, %v; equal %v", k, err, bytes.Equal(got[:k], f.data[:k]))
	}
	f.client.mu.Lock()
	for ht := range f.client.watched {
		ht.files.mu.Lock()
		ht.files.drop(0)
		ht.files.mu.Unlock()
	}
	f.client.mu.Unlock()
	if k, err := r2.ReadAt(got, 0); !errors.Is(err, io.ErrUnexpectedEOF) || k != 0 {
		t.Fatalf("read of a removed file once its handle is dropped = %d, %v; want 0, %v", k, err, io.ErrUnexpectedEOF)
	}
}

// checkEveryRead makes the change check stat a file on every read.
func checkEveryRead(t *testing.T) {
	saved := changeCheckInterval.Load()
	changeCheckInterval.Store(0)
	t.Cleanup(func() { changeCheckInterval.Store(saved) })
}

// A file rewritten on disk after its pieces were verified is noticed on
// the next read: its pieces are recorded incomplete and no longer read,
// the other file's pieces still are, and the storage reports it. Our own
// writes (a download in progress) are not taken for a change.
func TestHashingStorageNoticesChangedFile(t *testing.T) {
	checkEveryRead(t)
	f := newHashingFixture(t)
	hs := f.client
	var told [][2]int
	hs.onChange = func(ih metainfo.Hash, _ string, begin, end int) { told = append(told, [2]int{begin, end}) }
	r := f.tor.NewReader()
	defer r.Close()
	for i := range f.info.NumPieces() {
		want := f.pieceData(i)
		for _, b := range blocks(f.info.Piece(i).Length(), testBlock) {
			if _, err := f.piece(i).WriteAt(want[b[0]:b[0]+b[1]], b[0]); err != nil {
				t.Fatal(err)
			}
			// Reading while we write is no change.
			got := make([]byte, b[1])
			if _, err := r.ReadAt(got, f.info.Piece(i).Offset()+b[0]); err != nil {
				t.Fatalf("read during download: %v", err)
			}
		}
		if !f.checkHash(t, i) {
			t.Fatalf("piece %d does not verify", i)
		}
		if err := f.piece(i).MarkComplete(); err != nil {
			t.Fatal(err)
		}
	}
	if len(told) != 0 || hs.warning() != "" {
		t.Fatalf("our own writes reported as a change: %v, %q", told, hs.warning())
	}
	// Same size, one byte different, as an editor saving in place would.
	a := filepath.Join(f.dir, "t", "a.bin")
	os.Chmod(a, 0o644)
	data := bytes.Clone(f.data[:5*testBlock+100])
	data[2*testBlock+5] ^= 1 // in piece 1
	if err := os.WriteFile(a, data, 0o644); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := r.ReadAt(buf, 0); !errors.Is(err, errChangedOnDisk) {
		t.Fatalf("read of a changed file: %v, want errChangedOnDisk", err)
	}
	// a.bin is in pieces 0-2 (2 straddles into b.bin); piece 3 is b.bin's.
	if len(told) != 1 || told[0] != [2]int{0, 3} {
		t.Fatalf("onChange told %v, want pieces [0, 3)", told)
	}
	if w := hs.warning(); !strings.Contains(w, "a.bin") {
		t.Fatalf("warning %q does not name a.bin", w)
	}
	for i := range f.info.NumPieces() {
		c := f.piece(i).Completion()
		if want := i >= 3; c.Complete != want {
			t.Fatalf("piece %d complete = %v, want %v", i, c.Complete, want)
		}
		_, err := r.ReadAt(buf, f.info.Piece(i).Offset())
		if (err == nil) != (i >= 3) {
			t.Fatalf("read of piece %d: %v", i, err)
		}
	}
	// Checked again, piece 1 (holding the changed byte) fails; 0 passes
	// and is served again.
	if f.checkHash(t, 1) || !f.checkHash(t, 0) {
		t.Fatal("pieces 0 and 1 hash wrongly after the change")
	}
	if err := f.piece(0).MarkComplete(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(buf, 0); err != nil {
		t.Fatalf("piece 0 verified again but not served: %v", err)
	}
	// Piece 1 failed its check: still not served, nor piece 2, not checked
	// yet; b.bin's piece 3 still is.
	if err := f.piece(1).MarkNotComplete(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if _, err := r.ReadAt(buf, f.info.Piece(i).Offset()); !errors.Is(err, errChangedOnDisk) {
			t.Fatalf("read of piece %d, changed and not verified again: %v, want errChangedOnDisk", i, err)
		}
	}
	if _, err := r.ReadAt(buf, f.info.Piece(3).Offset()); err != nil {
		t.Fatalf("read of piece 3, in the unchanged file: %v", err)
	}
}

// A budget hands out no more than its limit, however many ask at once.
func TestHashingBlockBudgetLimit(t *testing.T) {
	const n, fit = 1000, 8
	b := newBlockBudget(fit * n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []*[]byte
	for range 64 {
		wg.Go(func() {
			if buf := b.get(n); buf != nil {
				if len(*buf) != n {
					t.Errorf("buffer of %d bytes, asked %d", len(*buf), n)
				}
				mu.Lock()
				got = append(got, buf)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(got) != fit {
		t.Fatalf("%d buffers of %d bytes from a budget of %d", len(got), n, fit*n)
	}
	for _, buf := range got {
		b.put(buf)
	}
	if b.used != 0 {
		t.Fatalf("%d bytes still counted used after every buffer came back", b.used)
	}
	if b.get(n) == nil {
		t.Fatal("no buffer after every buffer came back")
	}
}
