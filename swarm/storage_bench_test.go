package swarm

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"
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
	cfg := Config{
		DataDir:        t.TempDir(),
		StateDir:       t.TempDir(),
		ListenAddr:     "127.0.0.3:0",
		NoDHT:          true,
		NoLSD:          true,
		NoUPnP:         true,
		NoPEX:          true,
		Peers:          []string{peer},
		SampleInterval: time.Second,
		Logger:         slog.New(slog.DiscardHandler),
	}
	if os.Getenv("SHOAL_BENCH_VERBOSE") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	src, err := ParseSource(ctx, tor, DefaultLimits(), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
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
// leecher (bench/throughput/lt_client.py), so seeding can be profiled. It
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
	cfg := Config{
		DataDir:        data,
		StateDir:       t.TempDir(),
		ListenAddr:     "127.0.0.7:0",
		NoDHT:          true,
		NoLSD:          true,
		NoUPnP:         true,
		NoPEX:          true,
		SampleInterval: time.Second,
		Logger:         slog.New(slog.DiscardHandler),
	}
	src, err := ParseSource(ctx, tor, DefaultLimits(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
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
	cmd := exec.Command("/usr/bin/python3", "../bench/throughput/lt_client.py", "--torrent", tor,
		"--save", dest, "--listen", "127.0.0.8:0", "--peer", e.ListenAddr())
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("libtorrent leecher: %v", err)
	}
	d := time.Since(start)
	t.Logf("libtorrent leeched in %v (%.1f MiB/s): %s", d.Round(time.Millisecond), float64(src.info.TotalLength())/(1<<20)/d.Seconds(), out)
}
