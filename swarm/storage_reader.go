package swarm

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/segments"
)

// torrentFiles reads a torrent's data for peers (and the library's readers)
// through file handles kept open, where the file storage opens and closes
// a file for every 16 KiB block it sends: four system calls become one.
// It finds a file where the file storage puts it (NAME.part while
// incomplete, then NAME) and reads with pread, so a file truncated under
// us gives a short read, never a fault. Handles are dropped when the
// torrent's storage closes.
//
// It also notices a file that changes on disk after it was verified (a
// seeded folder someone edits): before reading a file it compares the
// file's size, modification time and inode with what they were, at most
// once per changeCheckInterval, and calls onChange if another program
// changed them. Our own writes re-stamp the file instead (see wrote).
type torrentFiles struct {
	paths []string            // each file's final path
	infos []metainfo.FileInfo // each file's, from UpvertedFiles (TorrentOffset set)
	index segments.Index
	// noPartFiles: the file storage keeps every file at its own name, never
	// NAME.part (seeded folders).
	noPartFiles bool

	mu   sync.Mutex
	open map[int]*os.File

	watch    []fileWatch // one per file
	onChange func(file int, why string)
}

// fileWatch is what a file looked like when last checked.
type fileWatch struct {
	mu      sync.Mutex
	stamp   diskStamp
	stamped bool
	checked time.Time
	// ours: we wrote to the file since it was stamped, so the next check
	// takes a new stamp rather than comparing. Set after each write.
	ours atomic.Bool
}

type diskStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

// changeCheckInterval bounds how often a file being read is stat'ed to
// see whether it changed on disk (nanoseconds; tests set it to 0).
var changeCheckInterval atomic.Int64

func init() { changeCheckInterval.Store(int64(time.Second)) }

// errChangedOnDisk fails reads of data that changed on disk after it was
// verified, so the library stops serving it (it rejects the request and
// reloads the piece's completion, which then says incomplete).
var errChangedOnDisk = errors.New("data changed on disk since it was verified")

// maxOpenReadFiles bounds the handles a torrent keeps for reading.
const maxOpenReadFiles = 64

// newTorrentFiles lays out a torrent's files under dir as the file
// storage's path maker (filePathMaker) does. A path that would leave dir
// is an error (the engine refuses such torrents before opening storage,
// and so does the file storage).
func newTorrentFiles(dir string, info *metainfo.Info, noPartFiles bool) (*torrentFiles, error) {
	tf := &torrentFiles{infos: info.UpvertedFiles(), index: info.FileSegmentsIndex(), noPartFiles: noPartFiles, open: make(map[int]*os.File)}
	for i := range tf.infos {
		p := filepath.Join(dir, filepath.Join(torrentFilePath(info, &tf.infos[i])...))
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == ".." || len(rel) > 2 && rel[:3] == ".."+string(filepath.Separator) {
			return nil, fmt.Errorf("file %d: path %q is outside %q", i, p, dir)
		}
		tf.paths = append(tf.paths, p)
	}
	tf.watch = make([]fileWatch, len(tf.paths))
	return tf, nil
}

// onDisk applies op (os.Open, os.Stat) to the torrent file at path where
// the file storage keeps it: NAME.part while incomplete, else NAME; always
// NAME without part files (a seeded folder's NAME.part, if any, is some
// other file of the user's and never served).
func onDisk[T any](path string, noPartFiles bool, op func(string) (T, error)) (T, error) {
	if !noPartFiles {
		v, err := op(path + ".part")
		if !errors.Is(err, fs.ErrNotExist) {
			return v, err
		}
	}
	return op(path)
}

// stat describes file i where the file storage keeps it.
func (tf *torrentFiles) stat(i int) (diskStamp, error) {
	fi, err := onDisk(tf.paths[i], tf.noPartFiles, os.Stat)
	if err != nil {
		return diskStamp{}, err
	}
	st := diskStamp{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = uint64(sys.Ino)
	}
	return st, nil
}

// stampAll records every file as it is now: called when the storage
// opens, right after the data was verified (or recorded as verified).
func (tf *torrentFiles) stampAll() {
	now := time.Now()
	for i := range tf.watch {
		w := &tf.watch[i]
		if st, err := tf.stat(i); err == nil {
			w.mu.Lock()
			w.stamp, w.stamped, w.checked = st, true, now
			w.mu.Unlock()
		}
	}
}

// wrote notes that we wrote to the files under torrent bytes [off, end).
func (tf *torrentFiles) wrote(off, end int64) {
	for i := range tf.index.LocateIter(segments.Extent{Start: off, Length: end - off}) {
		tf.watch[i].ours.Store(true)
	}
}

// check reports whether file i changed on disk since it was stamped,
// looking at most once per changeCheckInterval. A missing file is left to
// the read, which fails on its own.
func (tf *torrentFiles) check(i int) bool {
	w := &tf.watch[i]
	now := time.Now()
	w.mu.Lock()
	if w.stamped && !w.ours.Load() && now.Sub(w.checked) < time.Duration(changeCheckInterval.Load()) {
		w.mu.Unlock()
		return false
	}
	w.checked = now
	// Cleared before the stat: a write that lands after it sets it again.
	ours := w.ours.Swap(false)
	st, err := tf.stat(i)
	if err != nil {
		w.stamped = false
		w.mu.Unlock()
		return false
	}
	old, was := w.stamp, w.stamped
	w.stamp, w.stamped = st, true
	w.mu.Unlock()
	if !was || ours || st == old {
		return false
	}
	var why string
	switch {
	case st.ino != old.ino:
		why = "replaced"
	case st.size != old.size:
		why = fmt.Sprintf("size %d, was %d", st.size, old.size)
	default:
		why = "modified " + st.mtime.UTC().Format(time.RFC3339)
	}
	if tf.onChange != nil {
		tf.onChange(i, why)
	}
	return true
}

func (tf *torrentFiles) file(i int) (*os.File, error) {
	tf.mu.Lock()
	defer tf.mu.Unlock()
	if f := tf.open[i]; f != nil {
		return f, nil
	}
	if tf.open == nil {
		return nil, fs.ErrClosed
	}
	f, err := onDisk(tf.paths[i], tf.noPartFiles, os.Open)
	if err != nil {
		return nil, err
	}
	if len(tf.open) >= maxOpenReadFiles {
		for j := range tf.open {
			// A read in flight on it gets ErrClosed and opens it again.
			tf.drop(j)
			break
		}
	}
	tf.open[i] = f
	return f, nil
}

// drop closes file i's kept handle, if any; tf.mu is held.
func (tf *torrentFiles) drop(i int) {
	if f := tf.open[i]; f != nil {
		f.Close()
		delete(tf.open, i)
	}
}

// forget drops a cached handle that failed, so the next read opens the
// file again.
func (tf *torrentFiles) forget(i int, f *os.File) {
	tf.mu.Lock()
	if tf.open[i] == f {
		tf.drop(i)
	}
	tf.mu.Unlock()
}

func (tf *torrentFiles) close() {
	tf.mu.Lock()
	for _, f := range tf.open {
		f.Close()
	}
	tf.open = nil
	tf.mu.Unlock()
}

// ReadAt reads torrent bytes from off. A missing or short file is
// io.ErrUnexpectedEOF; reading up to the torrent's end is io.EOF only when
// fewer bytes than asked were there.
func (tf *torrentFiles) ReadAt(b []byte, off int64) (n int, err error) {
	for i, e := range tf.index.LocateIter(segments.Extent{Start: off, Length: int64(len(b))}) {
		n1, err := tf.readFile(i, b[:e.Length], e.Start)
		n += n1
		b = b[n1:]
		if err != nil {
			return n, err
		}
	}
	if len(b) != 0 {
		return n, io.EOF
	}
	return n, nil
}

func (tf *torrentFiles) readFile(i int, b []byte, off int64) (int, error) {
	if tf.check(i) {
		// Drop the handle too: the file may have been replaced.
		tf.mu.Lock()
		tf.drop(i)
		tf.mu.Unlock()
		return 0, fmt.Errorf("%s: %w", filepath.Base(tf.paths[i]), errChangedOnDisk)
	}
	for try := 0; ; try++ {
		f, err := tf.file(i)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return 0, io.ErrUnexpectedEOF
			}
			return 0, err
		}
		n, err := f.ReadAt(b, off)
		if errors.Is(err, fs.ErrClosed) && try == 0 {
			continue
		}
		if err != nil || n < len(b) {
			// Open it afresh next time: it may have been replaced.
			tf.forget(i, f)
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
		}
		return n, err
	}
}
