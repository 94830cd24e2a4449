package testpeers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// File is one file of a test payload: a slash-separated path and a size in bytes.
type File struct {
	Path string
	Size int64
}

// MultiFile is the default folder payload (about 5 MiB). The sizes are odd on purpose so that
// pieces straddle file boundaries at every piece length a test picks, the last piece is short,
// and a one-byte file sits inside a piece; a nested folder and a name with a space check path
// handling. No empty files: BitTorrent clients disagree on whether to create them.
var MultiFile = []File{
	{"a.bin", 1<<20 + 7},
	{"sub/b c.bin", 300_001},
	{"sub/deeper/c.txt", 1},
	{"sub/deeper/d.bin", 2<<20 - 3},
	{"z.bin", 1<<20 + 65_537},
}

// SingleFileSize is the size of the default single-file payload: not a multiple of any piece
// length, so the last piece is short.
const SingleFileSize = 3<<20 + 12_345

// WriteTree writes files under root (created if needed) with pseudo-random content derived
// from seed: the same seed gives the same bytes, so a failure can be reproduced.
func WriteTree(t testing.TB, root string, files []File, seed uint64) {
	t.Helper()
	for i, f := range files {
		WriteFile(t, filepath.Join(root, filepath.FromSlash(f.Path)), f.Size, seed+uint64(i)*7919)
	}
}

// WriteFile writes one file of size pseudo-random bytes derived from seed.
func WriteFile(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	copy(key[:], strconv.FormatUint(seed, 16)+"shoal-testpeers")
	if _, err := io.CopyN(f, rand.NewChaCha8(key), size); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// entry is one regular file of a tree: its path relative to the root and its digest.
type entry struct {
	rel  string
	size int64
	sum  [32]byte
}

// manifest lists the regular files under root (root may itself be a file, listed as ".").
// Anything else — a symlink, a device — is an error: a download must produce plain files.
func manifest(root string) ([]entry, error) {
	var out []entry
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file (%v)", path, d.Type())
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		e := entry{rel: filepath.ToSlash(rel), size: n}
		h.Sum(e.sum[:0])
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}

// TreeSHA256 is one sha256 over a file, or over every regular file of a folder: relative path,
// size and content digest of each in path order. Two trees hash equal exactly when they hold the
// same files with the same bytes, whatever the root's own name.
func TreeSHA256(root string) (string, error) {
	m, err := manifest(root)
	if err != nil {
		return "", err
	}
	if len(m) == 0 {
		return "", fmt.Errorf("%s: no files", root)
	}
	h := sha256.New()
	for _, e := range m {
		fmt.Fprintf(h, "%s\x00%d\x00%x\n", e.rel, e.size, e.sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CompareTrees returns nil when got holds exactly the files of want with the same bytes, and
// otherwise an error naming every missing, extra or different file (with the first differing
// byte offset, which tells a bad piece from a truncated file).
func CompareTrees(want, got string) error {
	wm, err := manifest(want)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if len(wm) == 0 {
		return fmt.Errorf("source %s: no files", want)
	}
	gm, err := manifest(got)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	byRel := map[string]entry{}
	for _, e := range gm {
		byRel[e.rel] = e
	}
	var problems []string
	for _, w := range wm {
		g, ok := byRel[w.rel]
		delete(byRel, w.rel)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing %s", w.rel))
		case g.size != w.size:
			problems = append(problems, fmt.Sprintf("%s: size %d, want %d", w.rel, g.size, w.size))
		case g.sum != w.sum:
			off := firstDiff(filepath.Join(want, filepath.FromSlash(w.rel)), filepath.Join(got, filepath.FromSlash(g.rel)))
			problems = append(problems, fmt.Sprintf("%s: content differs from byte %d", w.rel, off))
		}
	}
	var extra []string
	for rel := range byRel {
		extra = append(extra, rel)
	}
	sort.Strings(extra)
	for _, rel := range extra {
		problems = append(problems, fmt.Sprintf("unexpected file %s", rel))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s differs from %s: %s", got, want, strings.Join(problems, "; "))
	}
	return nil
}

func firstDiff(a, b string) int64 {
	fa, err := os.ReadFile(a)
	if err != nil {
		return -1
	}
	fb, err := os.ReadFile(b)
	if err != nil {
		return -1
	}
	n := min(len(fa), len(fb))
	for i := 0; i < n; i += 4096 {
		j := min(i+4096, n)
		if !bytes.Equal(fa[i:j], fb[i:j]) {
			for k := i; k < j; k++ {
				if fa[k] != fb[k] {
					return int64(k)
				}
			}
		}
	}
	return int64(n)
}

// AssertSameTree fails the test unless got's sha256 (TreeSHA256) equals want's, logging both
// and, on a mismatch, which files differ.
func AssertSameTree(t testing.TB, want, got string) {
	t.Helper()
	ws, err := TreeSHA256(want)
	if err != nil {
		t.Fatalf("hash source: %v", err)
	}
	gs, err := TreeSHA256(got)
	if err != nil {
		t.Errorf("hash download: %v", err)
		return
	}
	if ws != gs {
		t.Errorf("sha256 of download %s = %s, want %s (source %s): %v", got, gs, ws, want, CompareTrees(want, got))
		return
	}
	t.Logf("sha256 %s matches the source", gs[:16])
}
