package swarm

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"shoal/internal/testpeers"
)

// TestThroughputFromSeed downloads a torrent in-process from a running
// seed, so the engine can be profiled (go test -cpuprofile). It runs only
// when told where the seed is; bench/throughput/profile.sh starts one:
//
//	SHOAL_BENCH_TORRENT=/tmp/x/tp.torrent SHOAL_BENCH_PEER=127.0.0.2:7000 \
//	  go test ./swarm/ -run TestThroughputFromSeed -count=1 -v -cpuprofile cpu.out
func TestThroughputFromSeed(t *testing.T) {
	tor, peer := os.Getenv("SHOAL_BENCH_TORRENT"), os.Getenv("SHOAL_BENCH_PEER")
	if tor == "" || peer == "" {
		t.Skip("set SHOAL_BENCH_TORRENT and SHOAL_BENCH_PEER to download from a running seed")
	}
	ctx := context.Background()
	cfg := testConfig(t, "127.0.0.3")
	cfg.NoPEX = true
	cfg.Peers = []string{peer}
	cfg.SampleInterval = time.Second
	if os.Getenv("SHOAL_BENCH_VERBOSE") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	src, err := ParseSource(ctx, tor, DefaultLimits(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e := newEngine(t, cfg)
	ih, err := e.Add(ctx, src, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SHOAL_BENCH_STATUS") != "" {
		// The library's view of the connection mid-download: requests in
		// flight, rates.
		go func() {
			time.Sleep(2 * time.Second)
			e.cl.WriteStatus(os.Stderr)
		}()
	}
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case <-e.Changed():
		case <-time.After(time.Second):
		case <-deadline:
			t.Fatal("timed out")
		}
		for _, tv := range e.Snapshot().Torrents {
			if tv.InfoHash != ih {
				continue
			}
			if tv.Err != "" {
				t.Fatal(tv.Err)
			}
			if tv.Complete() {
				d := time.Since(start)
				t.Logf("%d bytes in %v: %.1f MiB/s", tv.Size, d.Round(time.Millisecond), float64(tv.Size)/(1<<20)/d.Seconds())
				t.Logf("pieces hashed from the digest: %d; read back (including the initial check of empty files): %d; blocks that arrived early: %d", digestHashes.Load(), readBackHashes.Load(), earlyBlocks.Load())
				return
			}
		}
	}
}

// TestSeedThroughputToLibtorrent seeds a torrent in-process to a libtorrent
// leecher (the tests' libtorrent driver), so seeding can be profiled. It
// runs only when told where the torrent and its data are:
//
//	SHOAL_BENCH_TORRENT=/tmp/x/tp.torrent SHOAL_BENCH_DATA=/tmp/x/seed \
//	  go test ./swarm/ -run TestSeedThroughputToLibtorrent -count=1 -v -cpuprofile cpu.out
func TestSeedThroughputToLibtorrent(t *testing.T) {
	tor, data := os.Getenv("SHOAL_BENCH_TORRENT"), os.Getenv("SHOAL_BENCH_DATA")
	if tor == "" || data == "" {
		t.Skip("set SHOAL_BENCH_TORRENT and SHOAL_BENCH_DATA to seed to a libtorrent leecher")
	}
	ctx := context.Background()
	cfg := testConfig(t, "127.0.0.7")
	cfg.DataDir = data
	cfg.NoPEX = true
	cfg.SampleInterval = time.Second
	src, err := ParseSource(ctx, tor, DefaultLimits(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, cfg)
	ih, err := e.Add(ctx, src, AddOptions{DataDir: data, verified: true})
	if err != nil {
		t.Fatal(err)
	}
	for ready := false; !ready; {
		select {
		case <-e.Changed():
		case <-time.After(time.Second):
		}
		for _, tv := range e.Snapshot().Torrents {
			if tv.InfoHash == ih && tv.Complete() {
				ready = true
			}
		}
	}
	dest := t.TempDir()
	start := time.Now()
	lt := testpeers.StartLibtorrent(t, ctx, testpeers.LTOptions{Torrent: tor, Save: dest,
		Listen: "127.0.0.8:0", Peers: []string{e.ListenAddr()}, Timeout: 10 * time.Minute})
	out, err := lt.WaitDone(ctx)
	if err != nil {
		t.Fatalf("libtorrent leecher: %v", err)
	}
	d := time.Since(start)
	t.Logf("libtorrent leeched in %v (%.1f MiB/s): %v", d.Round(time.Millisecond), float64(src.info.TotalLength())/(1<<20)/d.Seconds(), out)
}
