// Package trackercmd is the tracker's command line, shared by `shoal tracker` and the
// tracker-only binary `shoal-tracker` (cmd/shoal-tracker), which leaves the client and the
// terminal UI out: 40% of the executable, and 2 MiB less resident memory, for a server
// that only tracks (bench/tracker/RESULTS.md).
package trackercmd

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"shoal/tracker"
	"shoal/tracker/memtrim"
)

// New returns the tracker command (`shoal tracker`): the headless HTTP + UDP tracker.
func New() *cobra.Command {
	cfg := tracker.DefaultConfig()
	var trustedProxies []string
	cmd := &cobra.Command{
		Use:   "tracker",
		Short: "Run a headless HTTP and UDP BitTorrent tracker",
		Long: `Run a BitTorrent tracker answering HTTP (BEP 3, 23, 7, 48) and UDP (BEP 15)
announces and scrapes until SIGINT or SIGTERM. SIGHUP re-reads --allow and --passkeys.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, p := range trustedProxies {
				prefix, err := netip.ParsePrefix(p)
				if err != nil {
					return fmt.Errorf("--trusted-proxy %q: want a CIDR such as 10.0.0.0/8: %w", p, err)
				}
				cfg.TrustedProxies = append(cfg.TrustedProxies, prefix.Masked())
			}
			if cfg.Logger == nil {
				cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runTracker(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.HTTPAddr, "http", cfg.HTTPAddr, `HTTP listen address ("" turns HTTP off)`)
	f.StringVar(&cfg.UDPAddr, "udp", cfg.UDPAddr, `UDP listen address ("" turns UDP off)`)
	f.DurationVar(&cfg.Interval, "interval", cfg.Interval, "re-announce interval sent to clients")
	f.DurationVar(&cfg.MinInterval, "min-interval", cfg.MinInterval, "minimum re-announce interval sent to clients")
	f.DurationVar(&cfg.PeerTTL, "peer-ttl", 0, "forget a peer this long after its last announce (default 1.5 × --interval)")
	f.IntVar(&cfg.MaxNumWant, "max-numwant", cfg.MaxNumWant, "most peers sent in one reply")
	f.IntVar(&cfg.MaxTorrents, "max-torrents", cfg.MaxTorrents, "most torrents tracked at once")
	f.IntVar(&cfg.MaxPeersPerTorrent, "max-peers-per-torrent", cfg.MaxPeersPerTorrent, "most peers recorded per torrent")
	f.StringVar(&cfg.AllowFile, "allow", "", "serve only the infohashes listed in `FILE` (40 hex digits a line; re-read on SIGHUP)")
	f.StringVar(&cfg.PasskeyFile, "passkeys", "", "private tracker: serve only /<passkey>/announce for passkeys listed in `FILE` (re-read on SIGHUP)")
	f.BoolVar(&cfg.TrustIPParam, "trust-ip-param", false, "record the address given in ip= (HTTP) or the IP field (UDP) instead of the sender's")
	f.StringArrayVar(&trustedProxies, "trusted-proxy", nil, "believe X-Forwarded-For from this `CIDR` (repeatable)")
	f.StringVar(&cfg.MetricsAddr, "metrics", "", "serve /stats (JSON) and /metrics (Prometheus) on `ADDR`")
	f.BoolVar(&cfg.Pprof, "pprof", false, "also serve /debug/pprof/ on the --metrics address")
	f.BoolVar(&cfg.LogClientErrors, "log-rejects", false, "log every rejected request (one line each)")
	f.MarkHidden("pprof")
	return cmd
}

// trackerGCPercent is the GC target `shoal tracker` runs with unless GOGC is set. The tracker's
// heap is almost all pointer-free peer lists, which the collector does not scan, so collecting
// at 20% growth instead of Go's default 100% costs little CPU and keeps resident memory near
// the live peers (measured in bench/tracker/RESULTS.md).
const trackerGCPercent = 20

// The command keeps its resident memory near what it uses (bench/tracker/RESULTS.md): once
// serving, it gives back the pages of the shoal binary that only start-up touched (the package
// initialisation of everything else shoal links in), and every trimPeriod it collects and
// returns free heap pages to the system if trimMinBytes or more (and an eighth of the heap)
// were allocated since the last time, as when swarms grow in bulk.
const (
	trimPeriod   = 10 * time.Second
	trimMinBytes = 1 << 20
)

// runTracker serves until ctx is done, re-reading the access lists on SIGHUP.
func runTracker(ctx context.Context, cfg tracker.Config) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(trackerGCPercent)
	}
	if !cfg.Pprof {
		// Heap profiling samples an allocation every 512 KiB and keeps a record per call
		// stack, in a hash table whose pages the records scatter over: 0.4 MiB resident
		// after a million peers were announced (bench/tracker/RESULTS.md). Nobody can read
		// the profile without --pprof, so it is off.
		runtime.MemProfileRate = 0
	}
	srv, err := tracker.New(cfg)
	if err != nil {
		return err
	}
	if st, err := memtrim.ReleaseExecutable(); err != nil {
		cfg.Logger.Debug("tracker: releasing start-up pages failed", "err", err)
	} else {
		cfg.Logger.Debug("tracker: released start-up pages", "mappings", st.Mappings, "bytes", st.Bytes)
	}
	trimCtx, stopTrim := context.WithCancel(ctx)
	defer stopTrim()
	go (&memtrim.HeapTrimmer{MinBytes: trimMinBytes}).Every(trimCtx, trimPeriod)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := srv.Reload(); err != nil {
					cfg.Logger.Error("tracker: reload on SIGHUP failed; keeping the lists in force", "err", err)
				} else {
					cfg.Logger.Info("tracker: access lists reloaded")
				}
			}
		}
	}()
	return srv.Run(ctx)
}
