package swarm

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs with the given options on a fresh folder, or
// skips the test (mounting needs root, or a user namespace).
func mountTmpfs(t *testing.T, opts string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "shoal-test", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for this test (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			exec.Command("umount", "-l", dir).Run()
			t.Logf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestDiskFullPausesAndResumes is issue 8 point 5: a download into an
// 8 MiB tmpfs stops with a visible "disk full" error, keeps the pieces it
// verified, and once the tmpfs grows it continues by itself to correct
// data, without the seed sending verified pieces again or being banned for
// blocks our disk lost.
func TestDiskFullPausesAndResumes(t *testing.T) {
	dir := mountTmpfs(t, "size=8m")
	const size = 24 << 20
	content := filepath.Join(t.TempDir(), "big.bin")
	makeFolder(t, filepath.Dir(content), map[string]int64{"big.bin": size})
	seeder := newEngine(t, testConfig(t, "127.0.0.2"))
	seeded, err := seeder.SeedPath(context.Background(), content, CreateOptions{PieceLength: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, seeder, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })

	cfg := testConfig(t, "127.0.0.3")
	cfg.DataDir = dir
	leecher, ih := leechFrom(t, cfg, seeded.Magnet, seeder.ListenAddr())
	failed := waitFor(t, leecher, ih, 30*time.Second, func(tv TorrentView) bool { return tv.State == StateError })
	if !strings.Contains(failed.Err, "disk full") || !strings.Contains(failed.Err, "no space left on device") {
		t.Errorf("error shown: %q, want it to say the disk is full", failed.Err)
	}
	if failed.Done > 8<<20 {
		t.Fatalf("%d bytes verified in an 8 MiB tmpfs", failed.Done)
	}
	// While the disk stays full, the torrent stays stopped and keeps what
	// it verified. (Asserting that nothing happens takes some waiting.)
	for range 3 {
		time.Sleep(500 * time.Millisecond)
		tv := waitFor(t, leecher, ih, time.Second, func(TorrentView) bool { return true })
		if tv.State != StateError || tv.Done < failed.Done || tv.Done > 8<<20 {
			t.Fatalf("disk still full: state %s, %d bytes verified (had %d)", tv.State, tv.Done, failed.Done)
		}
	}
	if out, err := exec.Command("mount", "-o", "remount,size=64m", dir).CombinedOutput(); err != nil {
		t.Fatalf("grow tmpfs: %v: %s", err, out)
	}
	waitFor(t, leecher, ih, 30*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	if got, want := treeHash(t, filepath.Join(dir, "big.bin")), treeHash(t, content); got != want {
		t.Fatal("data differs after the disk-full pause")
	}
	// Verified pieces were not fetched again: the seed sent the torrent
	// once plus at most what the full disk lost (under 8 MiB).
	up := waitFor(t, seeder, seeded.InfoHash, time.Second, func(TorrentView) bool { return true }).Uploaded
	if up > size+8<<20 {
		t.Errorf("seed sent %d bytes for a %d-byte torrent", up, size)
	}
	if slices.ContainsFunc(leecher.cl.BadPeerIPs(), func(ip string) bool { return strings.Contains(ip, "127.0.0.2") }) {
		t.Error("the seed was banned for blocks the full disk lost")
	}
	t.Logf("stopped at %d bytes verified; seed sent %d bytes in all for %d", failed.Done, up, size)
}

// TestReadOnlyFolderClearError: downloading into a read-only folder stops
// with an error that says so.
func TestReadOnlyFolderClearError(t *testing.T) {
	dir := mountTmpfs(t, "ro,size=1m")
	content := filepath.Join(t.TempDir(), "f.bin")
	makeFolder(t, filepath.Dir(content), map[string]int64{"f.bin": 1 << 20})
	seeder := newEngine(t, testConfig(t, "127.0.0.4"))
	seeded, err := seeder.SeedPath(context.Background(), content, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "127.0.0.5")
	cfg.DataDir = dir
	leecher, ih := leechFrom(t, cfg, seeded.Magnet, seeder.ListenAddr())
	tv := waitFor(t, leecher, ih, 30*time.Second, func(tv TorrentView) bool { return tv.State == StateError })
	if !strings.Contains(tv.Err, "read-only file system") || !strings.Contains(tv.Err, dir) {
		t.Errorf("error shown: %q, want the folder and \"read-only file system\"", tv.Err)
	}
	if tv.Done != 0 {
		t.Errorf("%d bytes verified in a read-only folder", tv.Done)
	}
}
