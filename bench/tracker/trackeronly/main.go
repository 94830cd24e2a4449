// Command trackeronly is shoal's tracker in a binary of its own, for the memory comparison in
// bench/tracker/RESULTS.md: the same tracker package and defaults as `shoal tracker`, without
// the rest of shoal linked in. It takes the same --http and --udp flags, nothing else.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"shoal/tracker"
	"shoal/tracker/memtrim"
)

func main() {
	cfg := tracker.DefaultConfig()
	fs := flag.NewFlagSet("trackeronly", flag.ExitOnError)
	fs.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, "HTTP listen address")
	fs.StringVar(&cfg.UDPAddr, "udp", cfg.UDPAddr, "UDP listen address")
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "tracker" { // accept `trackeronly tracker …` like `shoal tracker …`
		args = args[1:]
	}
	fs.Parse(args)
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(20)
	}
	srv, err := tracker.New(cfg)
	if err != nil {
		cfg.Logger.Error("tracker", "err", err)
		os.Exit(1)
	}
	// As `shoal tracker` does (cmd/shoal/tracker.go).
	memtrim.ReleaseExecutable()
	go (&memtrim.HeapTrimmer{MinBytes: 1 << 20}).Every(context.Background(), 10*time.Second)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx); err != nil {
		cfg.Logger.Error("tracker", "err", err)
		os.Exit(1)
	}
}
