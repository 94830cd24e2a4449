package swarm

import (
	"context"
	"log/slog"
	"os"
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
				return
			}
		}
	}
}
