package swarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// testConfig is an engine that sends nothing off the machine: loopback
// only, no DHT, LSD or UPnP.
func testConfig(t testing.TB, ip string) Config {
	t.Helper()
	return Config{
		DataDir:        t.TempDir(),
		StateDir:       t.TempDir(),
		ListenAddr:     ip + ":0",
		NoDHT:          true,
		NoLSD:          true,
		NoUPnP:         true,
		SampleInterval: 50 * time.Millisecond,
		Logger:         slog.New(slog.DiscardHandler),
	}
}

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// leechFrom starts an engine with cfg that dials peers directly and adds the
// torrent of source (a magnet link or a .torrent file, as ParseSource takes);
// it returns the engine and the torrent's infohash.
func leechFrom(t testing.TB, cfg Config, source string, peers ...string) (*Engine, string) {
	t.Helper()
	cfg.Peers = peers
	e := newEngine(t, cfg)
	ih, err := e.Add(context.Background(), parse(t, source), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return e, ih
}

// seedFrom writes files of the given sizes (makeFolder; paths relative to a
// new temporary folder), starts an engine with cfg that seeds name there (one
// of the files, or a folder holding some) with opts, and waits until it
// seeds. It returns the engine, the torrent and the path seeded.
func seedFrom(t testing.TB, cfg Config, name string, files map[string]int64, opts CreateOptions) (*Engine, *Seeded, string) {
	t.Helper()
	dir := t.TempDir()
	makeFolder(t, dir, files)
	content := filepath.Join(dir, name)
	e := newEngine(t, cfg)
	seeded, err := e.SeedPath(context.Background(), content, opts)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, e, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })
	return e, seeded, content
}

// makeFolder writes files of the given sizes with random content.
func makeFolder(t testing.TB, root string, sizes map[string]int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(len(sizes)), 7))
	for name, size := range sizes {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, size)
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// treeHash is a sha256 over every file's relative path and content.
func treeHash(t testing.TB, root string) string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(h, f)
		f.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

func waitFor(t testing.TB, e *Engine, ih string, timeout time.Duration, cond func(TorrentView) bool) TorrentView {
	t.Helper()
	deadline := time.After(timeout)
	for {
		for _, tv := range e.Snapshot().Torrents {
			if tv.InfoHash == ih && cond(tv) {
				return tv
			}
		}
		select {
		case <-deadline:
			for _, tv := range e.Snapshot().Torrents {
				if tv.InfoHash == ih {
					t.Fatalf("timed out: %s state=%s done=%d/%d peers=%d err=%q", tv.Name, tv.State, tv.Done, tv.Wanted, tv.PeersConnected, tv.Err)
				}
			}
			t.Fatalf("timed out: torrent %s not in engine", ih)
		case <-e.Changed():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func parse(t testing.TB, raw string) *Source {
	t.Helper()
	src, err := ParseSource(context.Background(), raw, DefaultLimits(), http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestSeedAndGetByMagnet(t *testing.T) {
	seeder, seeded, content := seedFrom(t, testConfig(t, "127.0.0.2"), "release",
		map[string]int64{"release/a.bin": 3<<20 + 17, "release/sub/b.txt": 100_000, "release/sub/deeper/c": 1}, CreateOptions{})

	cfg := testConfig(t, "127.0.0.3")
	leecher, ih := leechFrom(t, cfg, seeded.Magnet, seeder.ListenAddr())
	if ih != seeded.InfoHash {
		t.Fatalf("leecher infohash %s, seeder %s", ih, seeded.InfoHash)
	}
	tv := waitFor(t, leecher, ih, 60*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	if tv.State != StateSeeding || tv.Done != tv.Size {
		t.Fatalf("complete torrent in state %s with %d of %d bytes", tv.State, tv.Done, tv.Size)
	}
	if got, want := treeHash(t, filepath.Join(cfg.DataDir, "release")), treeHash(t, content); got != want {
		t.Fatalf("downloaded tree hash %s, want %s", got, want)
	}
	if tv.PeersFound["direct"] != 1 {
		t.Errorf("peers found %v: want the seeder counted once as direct", tv.PeersFound)
	}
}

// A finished seed restarts without hashing anything again, and a leecher
// restarted after a partial download keeps every verified piece.
func TestRestartKeepsVerifiedPieces(t *testing.T) {
	seedCfg := testConfig(t, "127.0.0.4")
	seedCfg.UpLimit = 2 << 20 // slow enough to stop half way
	seeder, seeded, content := seedFrom(t, seedCfg, "data.bin", map[string]int64{"data.bin": 8 << 20}, CreateOptions{PieceLength: 64 << 10})

	cfg := testConfig(t, "127.0.0.5")
	cfg.RestoreSession = true
	leecher, ih := leechFrom(t, cfg, seeded.Magnet, seeder.ListenAddr())
	half := waitFor(t, leecher, ih, 30*time.Second, func(tv TorrentView) bool { return tv.Done >= 3<<20 })
	partial := 0 // pieces with unverified blocks when the leecher stops
	for _, p := range leecher.Snapshot().Torrents[0].Pieces {
		if p == PiecePartial {
			partial++
		}
	}
	if err := leecher.Close(); err != nil {
		t.Fatal(err)
	}
	// The session brings the torrent back by itself. With no peers (cfg
	// has none), what it has after checking is what survived the restart.
	leecher2 := newEngine(t, cfg)
	if n := len(leecher2.Snapshot().Torrents); n != 1 {
		t.Fatalf("restored %d torrents, want 1", n)
	}
	before := waitFor(t, leecher2, ih, 10*time.Second, func(tv TorrentView) bool {
		return tv.HasInfo && tv.State == StateDownloading && tv.PiecesHashing == 0
	})
	if before.Done < half.Done {
		t.Fatalf("after restart %d bytes verified, before %d", before.Done, half.Done)
	}
	if err := leecher2.AddPeers(ih, []string{seeder.ListenAddr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, leecher2, ih, 60*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	// The seeder sent each byte about once: no verified piece was fetched again.
	up := waitFor(t, seeder, seeded.InfoHash, 5*time.Second, func(TorrentView) bool { return true }).Uploaded
	// Blocks of pieces not yet verified at the close are lost (the library
	// keeps no block-level progress); verified pieces are not.
	if limit := int64(8<<20) + int64(partial+8)*64<<10; up > limit {
		t.Errorf("seeder uploaded %d bytes for an 8 MiB torrent (limit %d): pieces were fetched twice", up, limit)
	}
	if got, want := treeHash(t, filepath.Join(cfg.DataDir, "data.bin")), treeHash(t, content); got != want {
		t.Fatal("downloaded data differs")
	}

	// The seeder restarts: same torrent from the cache, nothing hashed.
	seeder.Close()
	seedCfg.UpLimit = 0
	seeder2 := newEngine(t, seedCfg)
	again, err := seeder2.SeedPath(context.Background(), content, CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Reused || again.InfoHash != seeded.InfoHash {
		t.Fatalf("restarted seed: reused=%v infohash %s, want reused %s", again.Reused, again.InfoHash, seeded.InfoHash)
	}
	tv := waitFor(t, seeder2, again.InfoHash, 5*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })
	if tv.Hashed != 0 {
		t.Errorf("restarted seed hashed %d bytes, want 0", tv.Hashed)
	}
}

// The choking policy: while downloading, a leecher uploads to a peer only
// while that peer gives back. Leechers that trade finish before a
// free-rider that never uploads, when the seed is slow.
func TestTitForTatFreeRiderFinishesLast(t *testing.T) {
	if testing.Short() {
		t.Skip("swarm of five engines")
	}
	seedCfg := testConfig(t, "127.0.0.10")
	seedCfg.UpLimit = 256 << 10
	seeder, seeded, _ := seedFrom(t, seedCfg, "f.bin", map[string]int64{"f.bin": 6 << 20}, CreateOptions{PieceLength: 32 << 10})

	ips := []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"} // the last is the free-rider
	engines := make([]*Engine, len(ips))
	for i, ip := range ips {
		cfg := testConfig(t, ip)
		cfg.NoUpload = i == len(ips)-1
		// Leechers have upload links of their own, as slow as the seed's:
		// once a trader is done and seeds to everyone, the free-rider still
		// has most of the file to fetch through them.
		cfg.UpLimit = 256 << 10
		engines[i] = newEngine(t, cfg)
	}
	for i, e := range engines {
		peers := []string{seeder.ListenAddr()}
		for j, o := range engines {
			if j != i {
				peers = append(peers, o.ListenAddr())
			}
		}
		e.cfg.Peers = peers
	}
	for _, e := range engines {
		if _, err := e.Add(context.Background(), parse(t, seeded.Magnet), AddOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// While each trader downloads, note what it sends the free-rider and
	// the other traders (per connection, as the library counts).
	freeIP := ips[len(ips)-1]
	toFree := make([]map[string]int64, len(engines)-1)
	toTraders := make([]map[string]int64, len(engines)-1)
	done := make([]time.Time, len(engines))
	// Everyone's share of the torrent when the first trader completes.
	var firstTraderDone time.Time
	var progressAtFirst []float64
	deadline := time.Now().Add(120 * time.Second)
	for slices.Contains(done, time.Time{}) {
		if time.Now().After(deadline) {
			t.Fatalf("swarm did not complete: completion times %v", done)
		}
		for i, e := range engines {
			if !done[i].IsZero() {
				continue
			}
			for _, tv := range e.Snapshot().Torrents {
				if tv.Complete() {
					done[i] = tv.CompletedAt
					if i < len(engines)-1 && firstTraderDone.IsZero() {
						firstTraderDone = tv.CompletedAt
						progressAtFirst = progress(engines)
					}
					continue
				}
				if i == len(engines)-1 {
					continue
				}
				if toFree[i] == nil {
					toFree[i], toTraders[i] = map[string]int64{}, map[string]int64{}
				}
				for _, p := range tv.Peers {
					switch {
					case strings.HasPrefix(p.Addr, freeIP+":"):
						toFree[i][p.Addr] = max(toFree[i][p.Addr], p.Uploaded)
					case !strings.HasPrefix(p.Addr, "127.0.0.10:"):
						toTraders[i][p.Addr] = max(toTraders[i][p.Addr], p.Uploaded)
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Reciprocity: a leecher gives a peer that gives nothing back at most
	// 100 KiB (plus a block in flight) per connection, and trades freely
	// with peers that give back.
	var traded int64
	for i := range toFree {
		for addr, n := range toFree[i] {
			if n > 100<<10+16<<10 {
				t.Errorf("trader %d sent the free-rider %d bytes on %s while leeching", i, n, addr)
			}
		}
		for _, n := range toTraders[i] {
			traded += n
		}
	}
	if traded < 1<<20 {
		t.Errorf("traders sent each other only %d bytes while leeching", traded)
	}
	// And so, while everyone leeches, the traders get ahead of the
	// free-rider, which has the seed's share and little else: when the
	// first trader completes, every other trader holds more than the
	// free-rider, and the free-rider completes after that trader. (Once a
	// trader is complete it uploads to everyone, so which of the rest
	// finishes first is then a matter of timing, not of the policy.)
	free := progressAtFirst[len(progressAtFirst)-1]
	for i, p := range progressAtFirst[:len(progressAtFirst)-1] {
		if p <= free {
			t.Errorf("when the first trader completed, trader %d had %.0f%%, the free-rider %.0f%%", i, 100*p, 100*free)
		}
	}
	if !done[len(done)-1].After(firstTraderDone) {
		t.Errorf("the free-rider completed before any trader")
	}
	start := engines[0].Snapshot().Torrents[0].AddedAt
	t.Logf("completion after add: traders %v, free-rider %v; shares when the first trader completed %.2f; traders traded %d bytes",
		sinceAll(done[:len(done)-1], engines[0]), done[len(done)-1].Sub(start).Round(time.Millisecond), progressAtFirst, traded)
}

// progress is each engine's share of its (only) torrent verified.
func progress(engines []*Engine) []float64 {
	out := make([]float64, len(engines))
	for i, e := range engines {
		for _, tv := range e.Snapshot().Torrents {
			if tv.Wanted > 0 {
				out[i] = float64(tv.Done) / float64(tv.Wanted)
			}
		}
	}
	return out
}

func sinceAll(ts []time.Time, e *Engine) []time.Duration {
	start := e.Snapshot().Torrents[0].AddedAt
	out := make([]time.Duration, len(ts))
	for i, t := range ts {
		out[i] = t.Sub(start).Round(time.Millisecond)
	}
	return out
}

func TestPauseResumeRemove(t *testing.T) {
	content := filepath.Join(t.TempDir(), "p")
	makeFolder(t, content, map[string]int64{"x": 1 << 20, "y/z": 5000})
	e := newEngine(t, testConfig(t, "127.0.0.20"))
	seeded, err := e.SeedPath(context.Background(), content, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ih := seeded.InfoHash
	waitFor(t, e, ih, 5*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })
	if err := e.Pause(ih); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e, ih, 5*time.Second, func(tv TorrentView) bool { return tv.State == StatePaused })
	if err := e.Resume(ih); err != nil {
		t.Fatal(err)
	}
	waitFor(t, e, ih, 5*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })
	if err := e.Pause("00"); err == nil {
		t.Error("Pause of a bad infohash succeeded")
	}

	// A planted symlink outside the torrent's files is never followed.
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "keep"), []byte("precious"), 0o644)
	if err := e.Remove(context.Background(), ih, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(content, "x")); !os.IsNotExist(err) {
		t.Errorf("file x still there after remove with data: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("file outside the torrent was touched: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.Snapshot().Torrents) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("removed torrent still in snapshots")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
