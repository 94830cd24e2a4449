package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// writeTree creates files (path → size) under a new folder named name, with pseudo-random
// content, and returns the folder.
func writeTree(t testing.TB, name string, files map[string]int) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), name)
	rng := rand.New(rand.NewPCG(1, 2))
	for p, n := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(files) == 0 {
		os.MkdirAll(root, 0o755)
	}
	return root
}

// trickyTree has names whose order differs between "sort the joined path" and "walk sorted
// folders depth first" (' ' and '-' sort before '/'), zero-length files, and files that cross
// piece and batch boundaries.
var trickyTree = map[string]int{
	"a/x":          70_000,
	"a b/x":        5,
	"a-b":          16 << 10,
	"a/y/z":        0,
	"A":            1,
	"empty":        0,
	"big.bin":      9 << 20,
	"deep/d/e/f/g": 33_333,
	".hidden":      10,
	"ünïcödé.txt":  100,
	"z/last":       1 << 20,
}

func TestCreateRoundTrip(t *testing.T) {
	root := writeTree(t, "release", trickyTree)
	var calls, last, total int64
	opts := CreateOptions{
		Trackers:    []string{"http://t1.test/announce", "udp://t2.test:6969/announce"},
		WebSeeds:    []string{"http://ws.test/release/"},
		Private:     true,
		PieceLength: 32 << 10,
		Comment:     "made in a test",
		CreatedBy:   "shoal test",
		Progress: func(hashed, tot int64) {
			calls++
			if hashed < last {
				t.Errorf("progress went back: %d after %d", hashed, last)
			}
			last, total = hashed, tot
		},
	}
	c, err := Create(context.Background(), root, opts)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, n := range trickyTree {
		want += int64(n)
	}
	if calls == 0 || last != want || total != want {
		t.Errorf("progress: %d calls, last %d/%d, want %d", calls, last, total, want)
	}
	if c.Root != root {
		t.Errorf("Root = %q", c.Root)
	}

	out := filepath.Join(t.TempDir(), "release.torrent")
	if err := c.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	src, err := ParseSource(context.Background(), out, DefaultLimits(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if src.InfoHash() != c.Meta.InfoHashV1 || c.Source().InfoHash() != src.InfoHash() {
		t.Errorf("infohash: parsed %s, created %s", src.InfoHash(), c.Meta.InfoHashV1)
	}
	m, _ := src.View()
	eq(t, "Name", m.Name, "release")
	eq(t, "Size", fmt.Sprint(m.Size), fmt.Sprint(want))
	eq(t, "Private", fmt.Sprint(m.Private), "true")
	eq(t, "Comment", m.Comment, "made in a test")
	eq(t, "CreatedBy", m.CreatedBy, "shoal test")
	eq(t, "Trackers", fmt.Sprint(m.Trackers), "[[http://t1.test/announce] [udp://t2.test:6969/announce]]")
	eq(t, "WebSeeds", fmt.Sprint(m.WebSeeds), "[http://ws.test/release/]")
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	eq(t, "file order", strings.Join(paths, "|"),
		".hidden|A|a b/x|a-b|a/x|a/y/z|big.bin|deep/d/e/f/g|empty|z/last|ünïcödé.txt")
	if time.Since(m.CreationDate) > time.Minute {
		t.Errorf("CreationDate = %v", m.CreationDate)
	}

	var mi metainfo.MetaInfo
	if err := bencode.Unmarshal(c.Bytes, &mi); err != nil {
		t.Fatal(err)
	}
	eq(t, "announce", mi.Announce, "http://t1.test/announce")
}

// TestCreateMatchesAnacrolix compares the piece hashes with anacrolix's single-threaded
// BuildFromFilePath, an implementation we did not write.
func TestCreateMatchesAnacrolix(t *testing.T) {
	for _, pl := range []int64{16 << 10, 64 << 10, 4 << 20} {
		t.Run(fmt.Sprint(pl), func(t *testing.T) {
			root := writeTree(t, "tree", trickyTree)
			c, err := Create(context.Background(), root, CreateOptions{PieceLength: pl})
			if err != nil {
				t.Fatal(err)
			}
			ref := metainfo.Info{PieceLength: pl}
			if err := ref.BuildFromFilePath(root); err != nil {
				t.Fatal(err)
			}
			info := c.Source().info
			if !bytes.Equal(info.Pieces, ref.Pieces) {
				t.Fatalf("pieces differ from anacrolix (%d vs %d bytes)", len(info.Pieces), len(ref.Pieces))
			}
			for i := range ref.Files {
				if strings.Join(info.Files[i].Path, "/") != strings.Join(ref.Files[i].Path, "/") {
					t.Fatalf("file %d: %q, anacrolix %q", i, info.Files[i].Path, ref.Files[i].Path)
				}
			}
		})
	}
	t.Run("single file", func(t *testing.T) {
		root := writeTree(t, "d", map[string]int{"one.bin": 3<<20 + 7})
		f := filepath.Join(root, "one.bin")
		c, err := Create(context.Background(), f, CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		info := c.Source().info
		ref := metainfo.Info{PieceLength: info.PieceLength}
		if err := ref.BuildFromFilePath(f); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(info.Pieces, ref.Pieces) || info.Length != ref.Length || len(info.Files) != 0 || info.Name != "one.bin" {
			t.Fatalf("single-file torrent differs from anacrolix")
		}
	})
}

// TestCreateMatchesMktorrent compares infohashes with mktorrent's for the same folder and
// options: the info dict covers name, piece length, pieces, files and private, all of which
// mktorrent writes deterministically (its created by and creation date are outside info).
func TestCreateMatchesMktorrent(t *testing.T) {
	mk, err := exec.LookPath("mktorrent")
	if err != nil {
		if os.Getenv("SHOAL_REQUIRE_PEERS") == "1" {
			t.Fatal("mktorrent not installed")
		}
		t.Skip("mktorrent not installed")
	}
	root := writeTree(t, "shared", trickyTree)
	single := filepath.Join(writeTree(t, "s", map[string]int{"file.iso": 5<<20 + 1}), "file.iso")
	tests := []struct {
		name   string
		target string
		log2   int
		args   []string
		opts   CreateOptions
	}{
		{"folder", root, 15, nil, CreateOptions{}},
		{"folder private with tracker", root, 18, []string{"-p", "-a", "http://t.test/a"}, CreateOptions{Private: true, Trackers: []string{"http://t.test/a"}}},
		{"single file", single, 16, nil, CreateOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "mk.torrent")
			args := append([]string{"-l", fmt.Sprint(tt.log2), "-o", out}, tt.args...)
			args = append(args, tt.target)
			if b, err := exec.Command(mk, args...).CombinedOutput(); err != nil {
				t.Fatalf("mktorrent: %v\n%s", err, b)
			}
			mi, err := metainfo.LoadFromFile(out)
			if err != nil {
				t.Fatal(err)
			}
			tt.opts.PieceLength = 1 << tt.log2
			c, err := Create(context.Background(), tt.target, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := c.Meta.InfoHashV1, mi.HashInfoBytes().HexString(); got != want {
				t.Errorf("infohash %s, mktorrent %s", got, want)
			}
		})
	}
}

func TestCreateRefuses(t *testing.T) {
	t.Run("symlink", func(t *testing.T) {
		root := writeTree(t, "r", map[string]int{"ok": 10, "sub/ok2": 10})
		secret := filepath.Join(t.TempDir(), "id_ed25519")
		os.WriteFile(secret, []byte("PRIVATE KEY"), 0o600)
		os.Symlink(secret, filepath.Join(root, "sub", "key"))
		os.Symlink("/", filepath.Join(root, "rootlink"))
		_, err := Create(context.Background(), root, CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `"rootlink" (symlink), "sub/key" (symlink)`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		root := writeTree(t, "r", map[string]int{"ok": 10})
		mkfifo(t, filepath.Join(root, "pipe"))
		_, err := Create(context.Background(), root, CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `"pipe" (named pipe)`) {
			t.Fatalf("err = %v", err)
		}
		_, err = Create(context.Background(), filepath.Join(root, "pipe"), CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "not a regular file or folder (named pipe)") {
			t.Fatalf("fifo as root: err = %v", err)
		}
	})
	t.Run("socket", func(t *testing.T) {
		root := writeTree(t, "r", map[string]int{"ok": 10})
		l, err := net.Listen("unix", filepath.Join(root, "sock"))
		if err != nil {
			t.Skip("no unix sockets:", err)
		}
		defer l.Close()
		_, err = Create(context.Background(), root, CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `"sock" (socket)`) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("device", func(t *testing.T) {
		_, err := Create(context.Background(), "/dev/null", CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "character device") {
			t.Fatalf("err = %v", err)
		}
	})
	tests := []struct {
		name    string
		files   map[string]int
		target  string
		opts    CreateOptions
		wantErr string
	}{
		{"empty folder", map[string]int{}, "", CreateOptions{}, "the folder has no files"},
		{"empty subfolders only", map[string]int{}, "", CreateOptions{}, "the folder has no files"},
		{"all files empty", map[string]int{"a": 0, "b/c": 0}, "", CreateOptions{}, "all 2 files are empty"},
		{"single empty file", map[string]int{"a": 0}, "a", CreateOptions{}, "the file is empty"},
		{"control character in a name", map[string]int{"bad\x1b[2Jname": 1}, "", CreateOptions{}, `contains control character '\x1b'`},
		{"piece length not a power of two", map[string]int{"a": 1}, "", CreateOptions{PieceLength: 3 << 14}, "piece length 49152: want a power of two"},
		{"piece length too small", map[string]int{"a": 1}, "", CreateOptions{PieceLength: 8192}, "want a power of two from 16384"},
		{"bad tracker", map[string]int{"a": 1}, "", CreateOptions{Trackers: []string{"ftp://t.test/"}}, `tracker "ftp://t.test/": scheme "ftp" not supported`},
		{"bad web seed", map[string]int{"a": 1}, "", CreateOptions{WebSeeds: []string{"udp://x:1"}}, `web seed "udp://x:1": scheme "udp" not supported`},
		{"missing", nil, "nope", CreateOptions{}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, "r", tt.files)
			if tt.name == "empty subfolders only" {
				os.MkdirAll(filepath.Join(root, "x", "y"), 0o755)
			}
			_, err := Create(context.Background(), filepath.Join(root, tt.target), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestCreateDetectsChange changes a file while it is being hashed.
func TestCreateDetectsChange(t *testing.T) {
	changes := map[string]func(path string) error{
		"mtime": func(p string) error {
			return os.Chtimes(p, time.Now(), time.Now().Add(time.Hour))
		},
		"truncated": func(p string) error { return os.Truncate(p, 10) },
		"grown": func(p string) error {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.Write([]byte("more"))
			return err
		},
		"replaced": func(p string) error {
			tmp := p + ".new"
			if err := os.WriteFile(tmp, make([]byte, 4<<20), 0o644); err != nil {
				return err
			}
			return os.Rename(tmp, p)
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			root := writeTree(t, "r", map[string]int{"a": 8 << 20, "b": 8 << 20, "c": 4 << 20})
			var once sync.Once
			_, err := Create(context.Background(), root, CreateOptions{
				PieceLength: 16 << 10,
				Progress: func(int64, int64) {
					once.Do(func() {
						if err := change(filepath.Join(root, "c")); err != nil {
							t.Error(err)
						}
					})
				},
			})
			if err == nil || !(strings.Contains(err.Error(), "changed while it was being hashed") || strings.Contains(err.Error(), "was replaced")) {
				t.Fatalf("err = %v", err)
			}
			if !strings.Contains(err.Error(), `/c"`) {
				t.Errorf("error does not name the file: %v", err)
			}
		})
	}
}

// TestCreateCancel: cancelling stops hashing, v1 or hybrid, with the context's error.
func TestCreateCancel(t *testing.T) {
	root := writeTree(t, "r", map[string]int{"a": 16 << 20})
	for _, hybrid := range []bool{false, true} {
		t.Run(fmt.Sprintf("hybrid=%v", hybrid), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			calls := 0
			_, err := Create(ctx, root, CreateOptions{Hybrid: hybrid, PieceLength: 16 << 10, Progress: func(int64, int64) {
				calls++
				cancel()
			}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v", err)
			}
			if calls > runtime.GOMAXPROCS(0) { // each worker finishes at most the batch it is in
				t.Errorf("hashing went on after cancel: %d progress calls", calls)
			}
		})
	}
}

func TestChoosePieceLength(t *testing.T) {
	tests := []struct{ total, want int64 }{
		{1, 16 << 10},
		{32 << 20, 32 << 10},        // 2,048 of 16 KiB would be too many: 1,024
		{40 << 20, 32 << 10},        // 1,280
		{512 << 20, 512 << 10},      // 1,024
		{1 << 30, 1 << 20},          // 1,024
		{1<<30 + 1, 1 << 20},        // 1,025
		{4 << 30, 4 << 20},          // 1,024
		{32 << 30, 16 << 20},        // 2,048, at the 16 MiB cap
		{1 << 40, 16 << 20},         // capped
		{2000 * 16 << 10, 16 << 10}, // exactly 2,000
	}
	for _, tt := range tests {
		if got := choosePieceLength(tt.total); got != tt.want {
			t.Errorf("choosePieceLength(%d) = %d, want %d", tt.total, got, tt.want)
		}
	}
	for total := int64(64 << 20); total < 30<<30; total = total*3/2 + 12345 {
		pl := choosePieceLength(total)
		n := (total + pl - 1) / pl
		if n < 1000 || n > 2000 {
			t.Errorf("total %d: %d pieces of %d", total, n, pl)
		}
	}
}

// BenchmarkCreate1GiB hashes a 1 GiB file (written once, then in the page cache).
func BenchmarkCreate1GiB(b *testing.B) {
	f := filepath.Join(b.TempDir(), "1GiB.bin")
	w, err := os.Create(f)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1024 {
		for i := 0; i < len(chunk); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				chunk[i+j] = byte(v >> (8 * j))
			}
		}
		w.Write(chunk)
	}
	w.Close()
	b.SetBytes(1 << 30)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Create(context.Background(), f, CreateOptions{PieceLength: 1 << 20}); err != nil {
			b.Fatal(err)
		}
	}
}

// mkfifo makes a named pipe with the mkfifo command, which keeps the tests building where
// syscall.Mkfifo does not exist.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("mkfifo", path).CombinedOutput(); err != nil {
		t.Skipf("mkfifo: %v %s", err, out)
	}
}
