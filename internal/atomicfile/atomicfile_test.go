package atomicfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.torrent")
	if err := Write(path, []byte("first"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("second, longer"), 0o604); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte("second, longer")) {
		t.Errorf("content = %q", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o604 {
		t.Errorf("mode = %v, want 0604", fi.Mode().Perm())
	}
	assertOnly(t, dir, "x.torrent")
}

func TestWriteRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := Write("rel", []byte("r"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "rel")); string(got) != "r" {
		t.Errorf("content = %q", got)
	}
}

func TestWriteErrorsLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	// The target is a non-empty folder: the rename fails after the temp file was written.
	target := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(target, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, []byte("data"), 0o644); err == nil {
		t.Fatal("Write over a non-empty folder succeeded")
	}
	assertOnly(t, dir, "busy")
	if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
		t.Errorf("folder at target was disturbed: %v %v", fi, err)
	}

	// Missing parent folder: nothing can be created.
	if err := Write(filepath.Join(dir, "missing", "f"), []byte("data"), 0o644); err == nil {
		t.Fatal("Write into a missing folder succeeded")
	}
	assertOnly(t, dir, "busy")
}

func TestWriteKeepsOldFileOnError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores folder permissions")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "keep")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if err := Write(path, []byte("new"), 0o644); err == nil {
		t.Fatal("Write into a read-only folder succeeded")
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("old file changed to %q", got)
	}
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if len(got) != len(names) {
		t.Fatalf("folder holds %q, want %q (a temporary file was left behind?)", got, names)
	}
	for i := range got {
		if got[i] != names[i] {
			t.Fatalf("folder holds %q, want %q", got, names)
		}
	}
}
