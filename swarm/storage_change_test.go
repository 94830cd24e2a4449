package swarm

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 7: a file of a seeded folder rewritten while it is seeded is
// noticed; its changed piece is no longer served (the leecher sees no
// hash failure from us), its unchanged pieces are checked again and still
// served, and the seed reports it; the leecher gets every other piece.
func TestSeedStopsServingChangedFile(t *testing.T) {
	checkEveryRead(t)
	content := filepath.Join(t.TempDir(), "release")
	const size = 4 << 20
	makeFolder(t, content, map[string]int64{"a.bin": size, "b.bin": 1 << 20})
	scfg := testConfig(t, "127.0.0.2")
	if os.Getenv("SHOAL_TEST_VERBOSE") != "" {
		scfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	seeder := newEngine(t, scfg)
	seeded, err := seeder.SeedPath(context.Background(), content, CreateOptions{PieceLength: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, seeder, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })

	// Rewrite a.bin in place with one byte changed, in its third piece.
	a := filepath.Join(content, "a.bin")
	data, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	const changed = 2*(256<<10) + 1000
	data[changed] ^= 0xff
	if err := os.WriteFile(a, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Make the change visible even on a file system with coarse times.
	later := time.Now().Add(time.Minute)
	os.Chtimes(a, later, later)

	cfg := testConfig(t, "127.0.0.3")
	cfg.Peers = []string{seeder.ListenAddr()}
	if os.Getenv("SHOAL_TEST_VERBOSE") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", "leecher")
	}
	leecher := newEngine(t, cfg)
	ih, err := leecher.Add(context.Background(), parse(t, seeded.Magnet), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := seeder.get(seeded.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	// The leecher's first requests make the seed read a.bin and notice.
	bad := changed / (256 << 10)
	sv := waitFor(t, seeder, seeded.InfoHash, 30*time.Second, func(tv TorrentView) bool {
		return tv.HasInfo && tv.Pieces[bad] != PieceComplete && storageWarning(m.store) != ""
	})
	if w := storageWarning(m.store); !strings.Contains(w, "a.bin") || !strings.Contains(w, "changed on disk") {
		t.Fatalf("seed's storage warning %q does not report a.bin changed", w)
	}
	// Pieces of the changed file that still match are checked again and
	// kept; only the changed one is lost.
	sv = waitFor(t, seeder, seeded.InfoHash, 30*time.Second, func(tv TorrentView) bool { return tv.HasInfo && tv.Done == tv.Size-tv.PieceLength })
	for i, p := range sv.Pieces {
		if (p == PieceComplete) == (i == bad) {
			t.Fatalf("seed piece %d state %v; only piece %d changed", i, p, bad)
		}
	}
	// Whatever the leecher got, none of it failed its hash check, and it
	// got no block of the changed piece.
	lv := waitFor(t, leecher, ih, 10*time.Second, func(tv TorrentView) bool { return tv.HasInfo })
	if n := leecherHashFailures(t, leecher, ih); n != 0 {
		t.Fatalf("leecher saw %d pieces fail their hash check", n)
	}
	if lv.Pieces[bad] != PieceMissing {
		t.Fatalf("leecher's copy of the changed piece %d is %v, want missing", bad, lv.Pieces[bad])
	}
	// The seed's rejects of requests for the changed piece do not stop the leecher asking it
	// for the others: it gets every piece but that one.
	lv = waitFor(t, leecher, ih, 30*time.Second, func(tv TorrentView) bool { return tv.HasInfo && tv.Done == tv.Size-tv.PieceLength })
	if lv.Pieces[bad] == PieceComplete {
		t.Fatalf("leecher completed the changed piece %d", bad)
	}
	if n := leecherHashFailures(t, leecher, ih); n != 0 {
		t.Fatalf("leecher saw %d pieces fail their hash check", n)
	}
	// The seed goes on seeding, with a warning rather than an error (`shoal seed` would stop).
	sv = waitFor(t, seeder, seeded.InfoHash, 5*time.Second, func(tv TorrentView) bool { return strings.Contains(tv.Warning, "no longer match") })
	if sv.State != StateSeeding || sv.Err != "" || !strings.Contains(sv.Warning, "a.bin") {
		t.Fatalf("seed after the change: state %s, err %q, warning %q; want seeding with a warning about a.bin", sv.State, sv.Err, sv.Warning)
	}
	assertUserFileKept(t, a, data)
}

// assertUserFileKept checks that the seeded file at path still has its name and content.
func assertUserFileKept(t *testing.T, path string, content []byte) {
	t.Helper()
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("the seeded %s after the change: %v (content kept: %v)", path, err, err == nil && bytes.Equal(got, content))
	}
	if _, err := os.Stat(path + ".part"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s.part exists (%v): the seed renamed the user's file", path, err)
	}
}

// leecherHashFailures counts pieces that failed their hash check.
func leecherHashFailures(t *testing.T, e *Engine, ih string) int64 {
	t.Helper()
	m, err := e.get(ih)
	if err != nil {
		t.Fatal(err)
	}
	st := m.t.Stats()
	return st.PiecesDirtiedBad.Int64()
}

// A seeded folder restored from the session after a restart, with a file changed while shoal
// was not running: the change is found (the folder's fingerprint differs, so the data is
// checked again), the changed piece is not served, the others are, and the user's file keeps
// its name.
func TestRestoredSeedNoticesChangedFile(t *testing.T) {
	content := filepath.Join(t.TempDir(), "release")
	makeFolder(t, content, map[string]int64{"a.bin": 1 << 20, "b.bin": 300_000})
	scfg := testConfig(t, "127.0.0.2")
	scfg.RestoreSession = true
	seeder, err := New(context.Background(), scfg)
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := seeder.SeedPath(context.Background(), content, CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, seeder, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })
	if err := seeder.Close(); err != nil {
		t.Fatal(err)
	}

	a := filepath.Join(content, "a.bin")
	data, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	data[100] ^= 0xff // in the first piece
	if err := os.WriteFile(a, data, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(a, later, later)

	restarted := newEngine(t, scfg)
	sv := waitFor(t, restarted, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateError })
	if !strings.Contains(sv.Err, "changed on disk") || sv.Pieces[0] == PieceComplete || sv.Done != sv.Size-sv.PieceLength {
		t.Fatalf("restored seed: err %q, piece 0 %v, done %d of %d: want the change reported and only piece 0 lost", sv.Err, sv.Pieces[0], sv.Done, sv.Size)
	}
	cfg := testConfig(t, "127.0.0.3")
	leecher, ih := leechFrom(t, cfg, seeded.Magnet, restarted.ListenAddr())
	lv := waitFor(t, leecher, ih, 30*time.Second, func(tv TorrentView) bool { return tv.HasInfo && tv.Done == tv.Size-tv.PieceLength })
	if lv.Pieces[0] == PieceComplete {
		t.Fatalf("leecher completed the changed piece 0")
	}
	if n := leecherHashFailures(t, leecher, ih); n != 0 {
		t.Fatalf("leecher saw %d pieces fail their hash check: the restored seed served changed data", n)
	}
	assertUserFileKept(t, a, data)
}

// A seeded file with a NAME.part beside it (a stale download of the user's, say) is served
// from NAME: seeded files have no part files, so NAME.part is none of shoal's business.
func TestSeedIgnoresStalePartFile(t *testing.T) {
	dir := t.TempDir()
	makeFolder(t, dir, map[string]int64{"movie.bin": 1 << 20, "movie.bin.part": 1 << 20})
	seeder := newEngine(t, testConfig(t, "127.0.0.2"))
	seeded, err := seeder.SeedPath(context.Background(), filepath.Join(dir, "movie.bin"), CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, seeder, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })
	leecher, ih := leechFrom(t, testConfig(t, "127.0.0.3"), seeded.Magnet, seeder.ListenAddr())
	waitFor(t, leecher, ih, 30*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	if n := leecherHashFailures(t, leecher, ih); n != 0 {
		t.Fatalf("leecher saw %d pieces fail their hash check: the seed served movie.bin.part", n)
	}
}

// `shoal seed X.torrent --data DIR` seeds the user's files too: data that does not match is
// reported and not served, never downloaded over, the files keep their names, and file
// priorities cannot be set.
func TestSeedTorrentDataIsOnlyRead(t *testing.T) {
	content := filepath.Join(t.TempDir(), "release")
	makeFolder(t, content, map[string]int64{"a.bin": 1 << 20, "b.bin": 300_000})
	torrentFile := filepath.Join(t.TempDir(), "release.torrent")
	created, err := Create(context.Background(), content, CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(torrentFile, created.Bytes, 0o644); err != nil {
		t.Fatal(err)
	}
	// A full copy elsewhere, so the changed piece would be there to download.
	other := newEngine(t, testConfig(t, "127.0.0.4"))
	if _, err := other.SeedPath(context.Background(), content, CreateOptions{PieceLength: 64 << 10}); err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(content, "a.bin")
	data, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(t.TempDir(), "data")
	if err := os.CopyFS(filepath.Join(changed, "release"), os.DirFS(content)); err != nil {
		t.Fatal(err)
	}
	data[70_000] ^= 0xff // in piece 1
	ca := filepath.Join(changed, "release", "a.bin")
	if err := os.WriteFile(ca, data, 0o644); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(t, "127.0.0.2")
	cfg.Peers = []string{other.ListenAddr()}
	seeder := newEngine(t, cfg)
	ih, err := seeder.SeedTorrent(context.Background(), parse(t, torrentFile), changed)
	if err != nil {
		t.Fatal(err)
	}
	sv := waitFor(t, seeder, ih, 20*time.Second, func(tv TorrentView) bool { return tv.State == StateError })
	if !strings.Contains(sv.Err, "do not match") || sv.Pieces[1] == PieceComplete {
		t.Fatalf("seed of changed data: err %q, piece 1 %v", sv.Err, sv.Pieces[1])
	}
	if err := seeder.SetFilePriority(ih, 0, PriorityHigh); err == nil {
		t.Errorf("setting a file priority on a seeded torrent was accepted")
	}
	time.Sleep(2 * time.Second) // time enough to download 64 KiB from the peer, were it allowed
	if tv := seeder.Snapshot().Torrents[0]; tv.Pieces[1] == PieceComplete {
		t.Fatalf("the seed downloaded the changed piece over the user's file")
	}
	assertUserFileKept(t, ca, data)
}
