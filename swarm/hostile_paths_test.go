package swarm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// TestCheckStoragePathsSymlinks: links planted in the download folder
// where a torrent's files or folders go are refused before storage opens;
// links elsewhere, and a download folder that is itself a link, are fine.
func TestCheckStoragePathsSymlinks(t *testing.T) {
	multi := &metainfo.Info{Name: "release", PieceLength: 16 * kib, Files: []metainfo.FileInfo{
		{Path: []string{"a.txt"}, Length: 1}, {Path: []string{"sub", "b.txt"}, Length: 1},
	}}
	single := &metainfo.Info{Name: "one.iso", PieceLength: 16 * kib, Length: 5}
	tests := []struct {
		name    string
		info    *metainfo.Info
		setup   func(t *testing.T, data, outside string)
		wantErr string
	}{
		{"nothing there yet", multi, func(*testing.T, string, string) {}, ""},
		{"files already there", multi, func(t *testing.T, data, _ string) {
			must(t, os.MkdirAll(filepath.Join(data, "release", "sub"), 0o755))
			must(t, os.WriteFile(filepath.Join(data, "release", "sub", "b.txt.part"), nil, 0o644))
		}, ""},
		{"unrelated symlink", multi, func(t *testing.T, data, outside string) {
			must(t, os.Symlink(outside, filepath.Join(data, "elsewhere")))
		}, ""},
		{"torrent folder is a symlink", multi, func(t *testing.T, data, outside string) {
			must(t, os.Symlink(outside, filepath.Join(data, "release")))
		}, `refusing to write through symlink "DATA/release"`},
		{"subfolder is a symlink", multi, func(t *testing.T, data, outside string) {
			must(t, os.MkdirAll(filepath.Join(data, "release"), 0o755))
			must(t, os.Symlink(outside, filepath.Join(data, "release", "sub")))
		}, `symlink "DATA/release/sub"`},
		{"file is a symlink", multi, func(t *testing.T, data, outside string) {
			must(t, os.MkdirAll(filepath.Join(data, "release"), 0o755))
			must(t, os.Symlink(filepath.Join(outside, "victim"), filepath.Join(data, "release", "a.txt")))
		}, `symlink "DATA/release/a.txt"`},
		{"part file is a dangling symlink", single, func(t *testing.T, data, outside string) {
			must(t, os.Symlink(filepath.Join(outside, "new"), filepath.Join(data, "one.iso.part")))
		}, `symlink "DATA/one.iso.part"`},
		{"file where a folder goes", multi, func(t *testing.T, data, _ string) {
			must(t, os.MkdirAll(filepath.Join(data, "release"), 0o755))
			must(t, os.WriteFile(filepath.Join(data, "release", "sub"), nil, 0o644))
		}, `"DATA/release/sub": it exists and is not a folder`},
		{"folder where a file goes", single, func(t *testing.T, data, _ string) {
			must(t, os.MkdirAll(filepath.Join(data, "one.iso"), 0o755))
		}, `"DATA/one.iso": it exists and is not a regular file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, outside := t.TempDir(), t.TempDir()
			tt.setup(t, data, outside)
			err := checkStoragePaths(data, tt.info)
			want := strings.ReplaceAll(tt.wantErr, "DATA", data)
			switch {
			case want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Fatalf("err = %v, want it to contain %q", err, want)
			}
		})
	}
	// The download folder itself may be a link.
	real, link := t.TempDir(), filepath.Join(t.TempDir(), "downloads")
	must(t, os.Symlink(real, link))
	if err := checkStoragePaths(link, multi); err != nil {
		t.Errorf("download folder behind a symlink refused: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDownloadRefusesPlantedSymlink: end to end, a download whose folder
// holds a link where the torrent's file goes stops with an error and
// writes nothing through the link.
func TestDownloadRefusesPlantedSymlink(t *testing.T) {
	seeder, seeded, _ := seedFrom(t, testConfig(t, "127.0.0.2"), "payload.bin", map[string]int64{"payload.bin": 200_000}, CreateOptions{})
	cfg := testConfig(t, "127.0.0.3")
	victim := filepath.Join(t.TempDir(), "authorized_keys")
	must(t, os.WriteFile(victim, []byte("precious"), 0o600))
	must(t, os.Symlink(victim, filepath.Join(cfg.DataDir, "payload.bin.part")))
	leecher, ih := leechFrom(t, cfg, seeded.Magnet, seeder.ListenAddr())
	tv := waitFor(t, leecher, ih, 20*time.Second, func(tv TorrentView) bool { return tv.State == StateError })
	if !strings.Contains(tv.Err, "refusing to write through symlink") {
		t.Errorf("error: %q", tv.Err)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "precious" {
		t.Errorf("file behind the link changed: %q, %v", b, err)
	}
}
