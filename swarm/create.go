package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"shoal/internal/atomicfile"
)

// CreateOptions says how Create builds a torrent.
type CreateOptions struct {
	// Trackers are announce URLs: the first is "announce", and all of them go in
	// "announce-list", one tier each (BEP 12), so every one is announced to.
	Trackers []string
	// WebSeeds are BEP 19 web seed URLs ("url-list").
	WebSeeds []string
	// Private sets the BEP 27 flag: peers only from the torrent's trackers.
	Private bool
	// PieceLength in bytes, a power of two from 16 KiB to 64 MiB; 0 picks one from the total
	// size (see choosePieceLength).
	PieceLength int64
	Comment     string
	// CreatedBy names the program; empty means "shoal".
	CreatedBy string
	// Hybrid makes a BEP 52 hybrid torrent: v2 hashes (file tree, piece layers) beside the v1
	// pieces, every file starting a piece, BEP 47 pad files between them (see hybrid.go). Peers
	// with v2 use per-file SHA-256 merkle trees; v1-only peers see an ordinary torrent.
	Hybrid bool
	// Progress, if set, is called after each batch of pieces with the bytes hashed so far and
	// the total. Calls are serialised but come from hashing goroutines: keep it quick.
	Progress func(hashed, total int64)
}

// Created is a torrent made by Create.
type Created struct {
	// Bytes is the bencoded .torrent.
	Bytes []byte
	Meta  TorrentMeta
	// Root is the absolute path of the file or folder that was hashed; seed it with storage
	// rooted at filepath.Dir(Root).
	Root string

	src *Source
}

// WriteFile writes the .torrent to path atomically (see atomicfile.Write).
func (c *Created) WriteFile(path string) error {
	return atomicfile.Write(path, c.Bytes, 0o644)
}

// Source returns the created torrent as a parsed Source, ready to add to an engine.
func (c *Created) Source() *Source { return c.src }

// createFile is a regular file to hash, as the walk saw it.
type createFile struct {
	rel    []string // path components below the root; nil for a single-file torrent
	key    string   // rel joined by "/", the sort key
	path   string   // absolute path on disk
	size   int64
	offset int64 // of its first byte in the torrent
	stat   os.FileInfo
}

// Create hashes a file or folder into a v1 torrent, or with opts.Hybrid a hybrid v1+v2 one.
//
// The folder is walked without following symlinks; symlinks (which could publish a private key
// from elsewhere), devices, FIFOs and sockets are refused, all of them named in one error. An
// empty folder, or one whose files are all empty, is refused. Files are ordered by their
// "/"-joined path compared bytewise, the order mktorrent and anacrolix use, so the same folder
// gives the same infohash with them. root itself may be a symlink: the user named it.
//
// Hashing runs on GOMAXPROCS goroutines, each reading batches of whole pieces (a few MiB, across
// file boundaries) with ReadAt into a reused buffer. A file that is replaced, changes size or
// modification time between the walk and the end of hashing makes Create fail, as does ctx.
func Create(ctx context.Context, root string, opts CreateOptions) (*Created, error) {
	lim := DefaultLimits()
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("create torrent of %s: %w", quote(root), err)
	}
	if err := checkCreateOptions(opts, lim); err != nil {
		return nil, fmt.Errorf("create torrent: %w", err)
	}
	name := filepath.Base(abs)
	files, err := walkForCreate(ctx, abs)
	if err != nil {
		return nil, fmt.Errorf("create torrent of %s: %w", quote(abs), err)
	}
	if opts.Hybrid {
		// A hybrid torrent lists its files in file-tree order, not the walk's.
		sortFileTreeOrder(files)
	}
	var total int64
	for _, f := range files {
		f.offset = total
		total += f.size
	}
	if total == 0 {
		if len(files) == 1 && files[0].rel == nil {
			return nil, fmt.Errorf("create torrent of %s: the file is empty; a torrent needs at least one byte", quote(abs))
		}
		return nil, fmt.Errorf("create torrent of %s: all %d files are empty; a torrent needs at least one byte", quote(abs), len(files))
	}
	pl := opts.PieceLength
	if pl == 0 {
		pl = choosePieceLength(total)
	}

	var infoBytes []byte
	var pieceLayers map[string]string
	if opts.Hybrid {
		infoBytes, pieceLayers, err = buildHybrid(ctx, name, files, total, pl, opts, lim)
	} else {
		infoBytes, err = buildV1(ctx, name, files, total, pl, opts, lim)
	}
	if err != nil {
		return nil, fmt.Errorf("create torrent of %s: %w", quote(abs), err)
	}
	mi := metainfo.MetaInfo{
		InfoBytes:    infoBytes,
		Comment:      opts.Comment,
		CreatedBy:    opts.CreatedBy,
		CreationDate: time.Now().Unix(),
		UrlList:      opts.WebSeeds,
		PieceLayers:  pieceLayers,
	}
	if mi.CreatedBy == "" {
		mi.CreatedBy = "shoal"
	}
	if len(opts.Trackers) > 0 {
		mi.Announce = opts.Trackers[0]
		for _, u := range opts.Trackers {
			mi.AnnounceList = append(mi.AnnounceList, []string{u})
		}
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		return nil, fmt.Errorf("create torrent: encode: %w", err)
	}
	// Parse our own output as any received .torrent is parsed: what we publish must pass it.
	src, err := sourceFromTorrentBytes(buf.Bytes(), lim)
	if err != nil {
		return nil, fmt.Errorf("create torrent of %s: the result does not parse: %w", quote(abs), err)
	}
	src.Kind = SourceTorrentFile
	src.Raw = abs
	meta, _ := src.View()
	return &Created{Bytes: buf.Bytes(), Meta: meta, Root: abs, src: src}, nil
}

// buildV1 hashes files (sorted, offsets set) into a v1 info dictionary.
func buildV1(ctx context.Context, name string, files []*createFile, total, pl int64, opts CreateOptions, lim Limits) ([]byte, error) {
	info := metainfo.Info{Name: name, PieceLength: pl}
	if opts.Private {
		private := true
		info.Private = &private
	}
	if files[0].rel == nil {
		info.Length = total
	} else {
		info.Files = make([]metainfo.FileInfo, len(files))
		for i, f := range files {
			info.Files[i] = metainfo.FileInfo{Path: f.rel, Length: f.size}
		}
	}
	// Refuse before hashing what the parser would refuse after: odd names, too many files or
	// pieces. Pieces are filled with zeros for the check.
	numPieces := (total + pl - 1) / pl
	if numPieces > int64(lim.MaxPieces) {
		return nil, fmt.Errorf("%d pieces of %d bytes, over the limit of %d; choose a larger piece length",
			numPieces, pl, lim.MaxPieces)
	}
	info.Pieces = make([]byte, numPieces*20)
	if err := checkInfo(&info, lim); err != nil {
		return nil, err
	}

	if err := hashPieces(ctx, files, total, pl, info.Pieces, opts.Progress); err != nil {
		return nil, err
	}
	if err := checkUnchanged(files); err != nil {
		return nil, err
	}

	infoBytes, err := bencode.Marshal(&info)
	if err != nil {
		return nil, fmt.Errorf("encode info: %w", err)
	}
	return infoBytes, nil
}

func checkCreateOptions(opts CreateOptions, lim Limits) error {
	if pl := opts.PieceLength; pl != 0 {
		if pl < lim.MinPieceLength || pl > lim.MaxPieceLength || bits.OnesCount64(uint64(pl)) != 1 {
			return fmt.Errorf("piece length %d: want a power of two from %d to %d", pl, lim.MinPieceLength, lim.MaxPieceLength)
		}
	}
	for _, u := range opts.Trackers {
		if err := checkURL(u, "http", "https", "udp", "ws", "wss"); err != nil {
			return fmt.Errorf("tracker %s: %w", quote(u), err)
		}
	}
	for _, u := range opts.WebSeeds {
		if err := checkURL(u, "http", "https"); err != nil {
			return fmt.Errorf("web seed %s: %w", quote(u), err)
		}
	}
	return nil
}

// choosePieceLength picks the smallest power of two from 16 KiB to 16 MiB that makes at most
// 2,000 pieces, so a torrent has 1,000 to 2,000 pieces unless it is tiny or over 32 GiB.
func choosePieceLength(total int64) int64 {
	pl := int64(16 << 10)
	for pl < 16<<20 && (total+pl-1)/pl > 2000 {
		pl *= 2
	}
	return pl
}

// walkForCreate lists the regular files under root (or root itself), sorted, refusing anything
// else and an empty folder.
func walkForCreate(ctx context.Context, root string) ([]*createFile, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if st.Mode().IsRegular() {
		return []*createFile{{path: root, size: st.Size(), stat: st}}, nil
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("not a regular file or folder (%s)", fileKind(st.Mode()))
	}
	var files []*createFile
	var refused []string
	nRefused := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err // a huge folder takes a while to list
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		relSlash := filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t.IsDir():
			return nil
		case t.IsRegular():
			fi, err := d.Info() // an lstat: the walk never follows links
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				break // replaced since the folder was read; refused below
			}
			files = append(files, &createFile{rel: strings.Split(relSlash, "/"), key: relSlash, path: p, size: fi.Size(), stat: fi})
			return nil
		}
		nRefused++
		if len(refused) < 10 {
			refused = append(refused, fmt.Sprintf("%s (%s)", quote(relSlash), fileKind(d.Type())))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if nRefused > 0 {
		more := ""
		if nRefused > len(refused) {
			more = fmt.Sprintf(" and %d more", nRefused-len(refused))
		}
		return nil, fmt.Errorf("refusing to publish %d item(s) that are not regular files: %s%s; symlinks are never followed (they could publish files from outside the folder); remove them or share a folder without them",
			nRefused, strings.Join(refused, ", "), more)
	}
	if len(files) == 0 {
		return nil, errors.New("the folder has no files; nothing to share")
	}
	// Sort by the "/"-joined path, bytewise: mktorrent's strcmp order and anacrolix's.
	slices.SortFunc(files, func(a, b *createFile) int { return strings.Compare(a.key, b.key) })
	return files, nil
}

func fileKind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t&fs.ModeSymlink != 0:
		return "symlink"
	case t&fs.ModeNamedPipe != 0:
		return "named pipe"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "device"
	}
	return "irregular file"
}

// readChunk is how much a hashing worker reads at a time: small enough that the bytes pread
// copies in are still in the core's L2 cache when SHA-1 reads them (a 4 MiB buffer measured
// ~10% more CPU than mktorrent on a folder of 512 KiB pieces), big enough for few syscalls.
var readChunk int64 = 256 << 10

// hashPieces fills pieces with the SHA-1 of each piece of the files' concatenation.
func hashPieces(ctx context.Context, files []*createFile, total, pl int64, pieces []byte, progress func(int64, int64)) error {
	numPieces := (total + pl - 1) / pl
	// Whole pieces per job, about 4 MiB, so the job counter and the progress callback are
	// touched rarely even with 16 KiB pieces.
	batch := max(1, (4<<20)/pl)
	numJobs := (numPieces + batch - 1) / batch
	chunk := readChunk
	if pl < chunk {
		chunk = chunk / pl * pl // whole small pieces per read
	}

	of := newOpenFiles(files)
	defer of.closeAll()
	return hashJobs(ctx, numJobs, total, progress, func() func(job int64) (int64, error) {
		buf := make([]byte, chunk)
		h := sha1.New()
		return func(job int64) (int64, error) {
			p := job * batch
			pos := p * pl
			end := min((p+batch)*pl, total)
			pieceEnd := min(pos+pl, total)
			for pos < end {
				b := buf[:min(chunk, end-pos)]
				if err := of.readAt(b, pos); err != nil {
					return 0, err
				}
				for len(b) > 0 {
					n := min(int64(len(b)), pieceEnd-pos)
					h.Write(b[:n])
					b, pos = b[n:], pos+n
					if pos == pieceEnd {
						h.Sum(pieces[p*20 : p*20])
						h.Reset()
						p++
						pieceEnd = min(pos+pl, total)
					}
				}
			}
			return end - job*batch*pl, nil
		}
	})
}

// hashJobs runs jobs 0 to numJobs-1 on up to GOMAXPROCS goroutines, each with its own worker
// from newWorker (buffers and hash state reused across that goroutine's jobs). A job returns
// the bytes it hashed, for progress; the first error or ctx's end stops every worker.
func hashJobs(ctx context.Context, numJobs, total int64, progress func(int64, int64), newWorker func() func(job int64) (int64, error)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := int(min(int64(runtime.GOMAXPROCS(0)), numJobs))
	var next atomic.Int64
	var progressMu sync.Mutex
	var hashed int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work := newWorker()
			for {
				job := next.Add(1) - 1
				if job >= numJobs || ctx.Err() != nil {
					return
				}
				n, err := work(job)
				if err != nil {
					cancel(err)
					return
				}
				if progress != nil {
					progressMu.Lock()
					hashed += n
					progress(hashed, total)
					progressMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

// openFiles opens files lazily as hashing reaches them and closes each once all its bytes are
// read, so a folder of many files never holds more than a few descriptors.
type openFiles struct {
	files     []*createFile
	mu        sync.Mutex
	open      []*os.File
	remaining []atomic.Int64 // bytes not yet read, per file
}

func newOpenFiles(files []*createFile) *openFiles {
	of := &openFiles{files: files, open: make([]*os.File, len(files)), remaining: make([]atomic.Int64, len(files))}
	for i, f := range files {
		of.remaining[i].Store(f.size)
	}
	return of
}

// readAt fills b with the torrent's bytes from offset off, across file boundaries.
func (of *openFiles) readAt(b []byte, off int64) error {
	i := sort.Search(len(of.files), func(i int) bool { return of.files[i].offset+of.files[i].size > off })
	for len(b) > 0 {
		if i >= len(of.files) {
			return errors.New("internal error: read past the last file")
		}
		f := of.files[i]
		if f.size == 0 || off >= f.offset+f.size {
			i++
			continue
		}
		n := min(int64(len(b)), f.offset+f.size-off)
		fh, err := of.get(i)
		if err != nil {
			return err
		}
		got, err := fh.ReadAt(b[:n], off-f.offset)
		if int64(got) < n {
			if err == nil || errors.Is(err, io.EOF) {
				return fmt.Errorf("%s changed while it was being hashed: it is shorter than when listed", quote(f.path))
			}
			return fmt.Errorf("read %s: %w", quote(f.path), err)
		}
		if of.remaining[i].Add(-n) == 0 {
			if err := of.finish(i); err != nil {
				return err
			}
		}
		b, off = b[n:], off+n
		i++
	}
	return nil
}

func (of *openFiles) get(i int) (*os.File, error) {
	of.mu.Lock()
	defer of.mu.Unlock()
	if fh := of.open[i]; fh != nil {
		return fh, nil
	}
	f := of.files[i]
	// syscall.Open and os.NewFile rather than os.Open: a regular file gains nothing from the
	// network poller, and registering (then failing to register) it costs five syscalls per
	// file, which shows on a folder of many files.
	fd, err := syscall.Open(f.path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", quote(f.path), &os.PathError{Op: "open", Path: f.path, Err: err})
	}
	fh := os.NewFile(uintptr(fd), f.path)
	of.open[i] = fh
	return fh, nil
}

// finish closes file i once all of it is read, checking with one fstat that it is the file
// the walk saw (not, say, a symlink swapped in since: its target must not be published) and
// that it did not change up to the last byte read.
func (of *openFiles) finish(i int) error {
	of.mu.Lock()
	fh := of.open[i]
	of.open[i] = nil
	of.mu.Unlock()
	if fh == nil {
		return nil
	}
	st, err := fh.Stat()
	fh.Close()
	if err != nil {
		return fmt.Errorf("stat %s: %w", quote(of.files[i].path), err)
	}
	return unchanged(of.files[i], st)
}

func (of *openFiles) close(i int) {
	of.mu.Lock()
	defer of.mu.Unlock()
	if fh := of.open[i]; fh != nil {
		fh.Close()
		of.open[i] = nil
	}
}

func (of *openFiles) closeAll() {
	for i := range of.open {
		of.close(i)
	}
}

// checkUnchanged checks the empty files, which hashing never opens, against what the walk saw;
// finish checks the others as their last byte is read.
func checkUnchanged(files []*createFile) error {
	for _, f := range files {
		if f.size != 0 {
			continue
		}
		st, err := os.Lstat(f.path)
		if err != nil {
			return fmt.Errorf("%s changed while it was being hashed: %w", quote(f.path), err)
		}
		if err := unchanged(f, st); err != nil {
			return err
		}
	}
	return nil
}

// unchanged compares a file's current state with the walk's: same file, size and modification
// time. (Rewriting a file in place, keeping its size, within the file system's timestamp
// granularity of the walk is the one change this cannot see.)
func unchanged(f *createFile, st os.FileInfo) error {
	if !os.SameFile(st, f.stat) {
		return fmt.Errorf("%s was replaced while the torrent was being made", quote(f.path))
	}
	if st.Size() != f.size || !st.ModTime().Equal(f.stat.ModTime()) {
		return fmt.Errorf("%s changed while it was being hashed (size %d → %d, modified %s → %s); try again once it is stable",
			quote(f.path), f.size, st.Size(), f.stat.ModTime().Format(time.RFC3339Nano), st.ModTime().Format(time.RFC3339Nano))
	}
	return nil
}
