package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"shoal/swarm"
)

func newGetCmd() *cobra.Command {
	var sf swarmFlags
	var out string
	var seed bool
	var limit seedLimit
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "get SOURCE...",
		Short: "Download torrents headless; exit 0 once every piece is verified",
		Long: `Download one or more torrents and exit 0 once every piece is verified.

SOURCE is a magnet link, a .torrent file, an http(s) URL of a .torrent, or a
bare infohash (40 hex characters). Progress goes to stderr: a live bar on a
terminal, a line every few seconds otherwise. With --seed, shoal keeps
seeding after the download until interrupted, or until every torrent has
uploaded --seed-ratio times its size or seeded for --seed-time (either
implies --seed): how recipients of a folder sent with 'shoal seed' pass it
on to the others. A recipient that seeds also uploads to every peer while
it downloads, and prefers TCP to uTP so the links stay full.

Exit status: 0 every piece verified; 1 no peers or no progress before
--timeout, a disk error, or interrupted; 2 a bad source or flag.`,
		Example: `  shoal get 'magnet:?xt=urn:btih:...' -o ~/Downloads
  shoal get release.torrent --seed
  shoal get 'magnet:?xt=urn:btih:...' --seed-ratio 2 --seed-time 1h
  shoal get https://example.org/file.torrent --timeout 10m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return badInput(errors.New("get needs at least one SOURCE (magnet link, .torrent, URL or infohash)"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := sf.applyConfigFile(cmd); err != nil {
				return err
			}
			if out != "" {
				sf.Data = out
			}
			if err := limit.check(); err != nil {
				return err
			}
			return runGet(cmd.Context(), &sf, args, seed || limit.set(), timeout, limit)
		},
	}
	sf.register(cmd.Flags())
	cmd.Flags().StringVarP(&out, "output", "o", "", "folder to download into (overrides --data)")
	cmd.Flags().BoolVar(&seed, "seed", false, "keep seeding after the download completes, until interrupted")
	limit.register(cmd.Flags())
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up when nothing arrives for this long (0 = wait forever)")
	return cmd
}

func runGet(ctx context.Context, sf *swarmFlags, args []string, seedAfter bool, timeout time.Duration, limit seedLimit) error {
	cfg, err := sf.engineConfig()
	if err != nil {
		return err
	}
	// Parse every source before starting anything: a bad one writes nothing.
	httpClient := &http.Client{Timeout: time.Minute}
	limits := swarm.DefaultLimits()
	sources := make([]*swarm.Source, 0, len(args))
	for _, a := range args {
		src, err := swarm.ParseSource(ctx, a, limits, httpClient)
		if err != nil {
			return badInput(err)
		}
		sources = append(sources, src)
	}
	cfg.HTTPClient = httpClient
	if seedAfter {
		// A recipient that stays to seed is one of a fleet fed by one seed
		// (bench/swarm/RESULTS.md): it uploads to every peer while it still
		// downloads, so the ones ahead feed the ones behind, and it prefers
		// TCP, which fills the links where uTP yields. One that leaves when
		// done keeps the library's reciprocity, so a free-rider gets little.
		cfg.Strategy.Cooperative = true
		cfg.Strategy.PreferTCP = true
	}
	eng, err := swarm.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer eng.Close()

	rep := newReporter(sf.JSON)
	defer rep.finishLive()
	want := map[string]bool{}
	for _, src := range sources {
		ih, err := eng.Add(ctx, src, swarm.AddOptions{})
		if err != nil {
			return err
		}
		want[ih] = true
		rep.added(ih, src.DisplayName(), src.Raw)
	}

	// Stall detection: any progress (metadata, bytes) resets the clock.
	lastProgress := time.Now()
	var lastDone int64
	lastInfo := 0
	everPeers := false
	doneReported := false
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			rep.finishLive()
			if doneReported {
				return nil // seeding after a complete download: a clean stop
			}
			return &exitError{code: 1, err: errors.New("interrupted")}
		case <-eng.Changed():
		case <-tick.C:
		}
		snap := eng.Snapshot()
		rep.update(snap, want)
		var done int64
		info, complete := 0, 0
		for _, tv := range snap.Torrents {
			if !want[tv.InfoHash] {
				continue
			}
			if tv.State == swarm.StateError {
				rep.finishLive()
				return fmt.Errorf("%s: %s", tv.Name, tv.Err)
			}
			done += tv.Done
			if tv.HasInfo {
				info++
			}
			if tv.Complete() {
				complete++
			}
			if tv.PeersConnected > 0 {
				everPeers = true
			}
		}
		if complete == len(want) {
			if !doneReported {
				doneReported = true
				rep.finishLive()
				for _, tv := range snap.Torrents {
					if want[tv.InfoHash] && !sf.JSON {
						rep.human("done: %s (%s) in %s", tv.Name, tv.DataDir, tv.CompletedAt.Sub(tv.AddedAt).Round(time.Millisecond))
					}
				}
			}
			if !seedAfter {
				return nil
			}
			if limit.reachedAll(snap, want, time.Now()) {
				limit.report(rep, snap, want)
				return nil
			}
			continue
		}
		if done != lastDone || info != lastInfo {
			lastDone, lastInfo, lastProgress = done, info, time.Now()
		}
		if timeout > 0 && time.Since(lastProgress) > timeout {
			rep.finishLive()
			if !everPeers {
				return fmt.Errorf("no peers before --timeout %s", timeout)
			}
			return fmt.Errorf("no progress for --timeout %s (%d of %d torrents complete)", timeout, complete, len(want))
		}
	}
}
