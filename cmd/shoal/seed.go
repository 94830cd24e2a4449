package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"shoal/internal/atomicfile"
	"shoal/internal/byterate"
	"shoal/swarm"
	"shoal/tracker"
)

type seedFlags struct {
	swarmFlags
	webSeeds     []string
	private      bool
	pieceLength  string
	comment      string
	torrentOut   string
	serveTracker string
	qr           bool
	hybrid       bool
	limit        seedLimit
}

func newSeedCmd() *cobra.Command {
	var f seedFlags
	cmd := &cobra.Command{
		Use:   "seed PATH|FILE.torrent",
		Short: "Seed a file or folder (making its torrent) or a .torrent's data; print the magnet link",
		Long: `Seed a file or folder, or the data of a .torrent, until interrupted.

Given a file or folder, shoal makes a v1 torrent of it (--hybrid: v1+v2;
hashing on every core; reused on the next run if no file changed) and seeds it from where it
is. Given a .torrent, it checks the data in --data and seeds it.
The magnet link is the first line on stdout once shoal can serve (--qr also
draws it as a QR code on stderr). With --serve-tracker the tracker runs in
this process and its URL goes in the torrent, so recipients need only the
link; --webseed adds BEP 19 web seeds to the torrent and the link. Peer
connections prefer TCP to uTP, to fill the links.
Seeding runs only while shoal runs: until interrupted, or until it has
uploaded --seed-ratio times the torrent's size (and every piece is also
held by a connected peer, so the others can finish without it) or seeded
for --seed-time. Recipients started with 'shoal get --seed' pass the
folder on to each other; give them --seed-ratio or --seed-time too.`,
		Example: `  shoal seed ./release
  shoal seed ./folder --serve-tracker :6969 --qr
  shoal seed ./release --tracker udp://tracker.example:6969/announce --torrent-out release.torrent
  shoal seed release.torrent --data /srv/files
  shoal seed ./dataset --seed-ratio 1.5 --seed-time 2h`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return badInput(errors.New("seed needs exactly one PATH or FILE.torrent"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.applyConfigFile(cmd); err != nil {
				return err
			}
			if err := f.limit.check(); err != nil {
				return err
			}
			return runSeed(cmd.Context(), &f, args[0])
		},
	}
	f.register(cmd.Flags())
	fl := cmd.Flags()
	fl.StringArrayVar(&f.webSeeds, "webseed", nil, "web seed URL (BEP 19) to put in the torrent (repeatable)")
	fl.BoolVar(&f.private, "private", false, "make a private torrent (trackers only: no DHT, PEX or LSD)")
	fl.StringVar(&f.pieceLength, "piece-length", "", "piece length, e.g. 256K (default: chosen from the size)")
	fl.StringVar(&f.comment, "comment", "", "comment to put in the torrent")
	fl.StringVar(&f.torrentOut, "torrent-out", "", "also write the .torrent to this file")
	fl.BoolVar(&f.hybrid, "hybrid", false, "make a hybrid v1+v2 torrent (BEP 52, with BEP 47 pad files)")
	f.limit.register(fl)
	fl.StringVar(&f.serveTracker, "serve-tracker", "", "run the built-in tracker on ADDR (HTTP and UDP) and put its URL in the torrent")
	fl.BoolVar(&f.qr, "qr", false, "also show the magnet link as a QR code (on stderr)")
	return cmd
}

func runSeed(ctx context.Context, f *seedFlags, target string) error {
	cfg, err := f.engineConfig()
	if err != nil {
		return err
	}
	pieceLength, err := parsePieceLength(f.pieceLength)
	if err != nil {
		return err
	}
	fi, err := os.Stat(target)
	if err != nil {
		return badInput(fmt.Errorf("seed %s: %w", target, err))
	}
	isTorrent := !fi.IsDir() && strings.HasSuffix(strings.ToLower(target), ".torrent")
	var src *swarm.Source
	if isTorrent {
		src, err = swarm.ParseSource(ctx, target, swarm.DefaultLimits(), http.DefaultClient)
		if err != nil {
			return badInput(err)
		}
	}
	if f.serveTracker != "" {
		urls, err := serveTracker(ctx, f.serveTracker)
		if err != nil {
			return err
		}
		// First, so the torrent's main announce URL is our own tracker.
		f.Trackers = append(urls, f.Trackers...)
		cfg.Trackers = f.Trackers
	}
	// Sending a folder to many recipients: fill the links (see get --seed).
	cfg.Strategy.PreferTCP = true
	eng, err := swarm.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer eng.Close()
	rep := newReporter(f.JSON)

	var ih, magnet string
	var torrentBytes []byte
	if isTorrent {
		ih, err = eng.SeedTorrent(ctx, src, cfg.DataDir)
		if err != nil {
			return err
		}
		torrentBytes, err = os.ReadFile(target)
		if err != nil {
			return err
		}
	} else {
		if !f.JSON {
			rep.human("hashing %s ...", target)
		}
		start := time.Now()
		seeded, err := eng.SeedPath(ctx, target, swarm.CreateOptions{
			Trackers:    f.Trackers,
			WebSeeds:    f.webSeeds,
			Private:     f.private,
			PieceLength: pieceLength,
			Comment:     f.comment,
			CreatedBy:   "shoal " + swarm.Version,
			Hybrid:      f.hybrid,
		})
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return &exitError{code: 1, err: errors.New("interrupted")}
			}
			return badInput(err)
		}
		ih, magnet, torrentBytes = seeded.InfoHash, seeded.Magnet, seeded.TorrentBytes
		if !f.JSON {
			how := fmt.Sprintf("hashed in %s", time.Since(start).Round(time.Millisecond))
			if seeded.Reused {
				how = "unchanged since last run, not hashed again"
			}
			rep.human("%s: %s, %d pieces of %s (%s)", seeded.Meta.Name, byterate.Size(seeded.Meta.Size),
				seeded.Meta.NumPieces, byterate.Size(seeded.Meta.PieceLength), how)
		}
	}
	if f.torrentOut != "" {
		if err := atomicfile.Write(f.torrentOut, torrentBytes, 0o644); err != nil {
			return fmt.Errorf("--torrent-out: %w", err)
		}
	}
	tv, err := waitServable(ctx, eng, ih)
	if err != nil {
		return err
	}
	if magnet == "" {
		magnet = tv.Magnet
	}
	rep.added(ih, tv.Name, target)
	rep.seen[ih].metadata, rep.seen[ih].done = true, true // reported just below
	if f.qr {
		// Before the link: whoever sees the link (or the done event) sees the code.
		showQR(rep, magnet)
	}
	if f.JSON {
		rep.event("done", map[string]any{"infohash": ih, "name": tv.Name, "size": tv.Size, "magnet": magnet, "listen": eng.ListenAddr()})
	} else {
		fmt.Println(magnet)
		rep.human("seeding %s from %s on %s; Ctrl-C to stop (seeding runs only while shoal runs)", tv.Name, tv.DataDir, eng.ListenAddr())
	}
	// Seed until interrupted or the limits are reached, reporting upload
	// now and then.
	want := map[string]bool{ih: true}
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	var check <-chan time.Time // nil, never ready, without --seed-ratio or --seed-time
	if f.limit.set() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		check = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-check:
			snap := eng.Snapshot()
			if f.limit.reachedAll(snap, want, now) && f.limit.passedOn(eng, snap, ih, now) {
				f.limit.report(rep, snap, want)
				return nil
			}
		case <-tick.C:
			snap := eng.Snapshot()
			for _, tv := range snap.Torrents {
				if tv.InfoHash != ih {
					continue
				}
				if tv.State == swarm.StateError {
					return fmt.Errorf("%s: %s", tv.Name, tv.Err)
				}
				if f.JSON {
					rep.update(snap, want)
				} else {
					rep.warn(tv) // a seeded file changed on disk
					rep.human("peers %d, ↑ %s, uploaded %s (ratio %.2f)", tv.PeersConnected, byterate.Rate(tv.UpRate),
						byterate.Size(tv.Uploaded), tv.Ratio)
				}
			}
		}
	}
}

// waitServable waits until a torrent's data is checked and complete. Data
// that does not match the torrent is an error: seeding it would send every
// peer pieces that fail their hash check.
func waitServable(ctx context.Context, eng *swarm.Engine, ih string) (swarm.TorrentView, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, tv := range eng.Snapshot().Torrents {
			if tv.InfoHash != ih {
				continue
			}
			switch {
			case tv.State == swarm.StateError:
				return tv, errors.New(tv.Err)
			case tv.State == swarm.StateSeeding:
				return tv, nil
			case tv.State == swarm.StateDownloading:
				missing := 0
				for _, p := range tv.Pieces {
					if p != swarm.PieceComplete {
						missing++
					}
				}
				return tv, fmt.Errorf("the data in %s does not match the torrent: %d of %d pieces missing or wrong", tv.DataDir, missing, tv.NumPieces)
			}
		}
		select {
		case <-ctx.Done():
			return swarm.TorrentView{}, &exitError{code: 1, err: errors.New("interrupted")}
		case <-tick.C:
		case <-eng.Changed():
		}
	}
}

func parsePieceLength(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := byterate.Parse(s)
	if err != nil {
		return 0, badInput(fmt.Errorf("--piece-length: %w", err))
	}
	if n < 16<<10 || n > 64<<20 || n&(n-1) != 0 {
		return 0, badInput(fmt.Errorf("--piece-length %s: want a power of two from 16K to 64M", s))
	}
	return n, nil
}

// serveTracker starts the built-in tracker in this process on addr (HTTP
// and UDP on the same port) until ctx ends, and returns its announce URLs.
// A wildcard address is announced with this machine's outbound address, so
// recipients on other machines can reach it.
func serveTracker(ctx context.Context, addr string) ([]string, error) {
	cfg := tracker.DefaultConfig()
	cfg.HTTPAddr, cfg.UDPAddr = addr, addr
	srv, err := tracker.New(cfg)
	if err != nil {
		return nil, badInput(fmt.Errorf("--serve-tracker %s: %w", addr, err))
	}
	go srv.Run(ctx)
	var urls []string
	for _, u := range []string{srv.AnnounceURL(), srv.UDPAnnounceURL()} {
		if u != "" {
			urls = append(urls, reachableURL(u, addr))
		}
	}
	return urls, nil
}

// reachableURL replaces the loopback host the tracker reports for a
// wildcard bind with the address this machine uses to reach others.
func reachableURL(u, bind string) string {
	host, _, err := net.SplitHostPort(bind)
	if err != nil || (host != "" && !net.ParseIP(host).IsUnspecified()) {
		return u
	}
	// Connecting a UDP socket sends nothing; it only asks the routing
	// table which local address would be used.
	c, err := net.Dial("udp4", "192.0.2.1:9")
	if err != nil {
		return u
	}
	defer c.Close()
	local := c.LocalAddr().(*net.UDPAddr).IP.String()
	return strings.Replace(u, "127.0.0.1", local, 1)
}

// showQR draws the magnet link as a QR code on stderr, so stdout keeps
// only the link (or the JSON events).
func showQR(rep *reporter, magnet string) {
	code, err := qrText(magnet, rep.tty && os.Getenv("NO_COLOR") == "")
	if err != nil {
		rep.human("--qr: %v", err)
		return
	}
	fmt.Fprint(rep.err, code)
}

// seedLimit ends seeding once a torrent has given enough back: the first
// limit reached ends it. Zero values mean no limit.
type seedLimit struct {
	ratio float64       // uploaded / size
	time  time.Duration // since the torrent became complete
}

func (l *seedLimit) register(fs *pflag.FlagSet) {
	fs.Float64Var(&l.ratio, "seed-ratio", 0, "stop seeding once uploaded is R times the torrent's size (0 = no limit)")
	fs.DurationVar(&l.time, "seed-time", 0, "stop seeding after this long, e.g. 30m (0 = no limit)")
}

func (l seedLimit) set() bool { return l.ratio > 0 || l.time > 0 }

func (l seedLimit) check() error {
	if l.ratio < 0 || math.IsNaN(l.ratio) || math.IsInf(l.ratio, 0) {
		return badInput(fmt.Errorf("--seed-ratio %v: want a number of at least 0", l.ratio))
	}
	if l.time < 0 {
		return badInput(fmt.Errorf("--seed-time %v: want a duration of at least 0", l.time))
	}
	return nil
}

// reached reports whether a complete torrent has seeded enough. A seed of
// the user's files whose file changed is no longer complete but still seeds
// (the rest), and its limits still count.
func (l seedLimit) reached(tv swarm.TorrentView, now time.Time) bool {
	if !l.set() || !tv.Complete() && tv.State != swarm.StateSeeding {
		return false
	}
	if l.ratio > 0 && tv.Size > 0 && float64(tv.Uploaded) >= l.ratio*float64(tv.Size) {
		return true
	}
	return l.timeUp(tv, now)
}

func (l seedLimit) timeUp(tv swarm.TorrentView, now time.Time) bool {
	return l.time > 0 && !tv.CompletedAt.IsZero() && now.Sub(tv.CompletedAt) >= l.time
}

// reachedAll reports whether every torrent in want has seeded enough.
func (l seedLimit) reachedAll(snap *swarm.Snapshot, want map[string]bool, now time.Time) bool {
	n := 0
	for _, tv := range snap.Torrents {
		if !want[tv.InfoHash] {
			continue
		}
		if !l.reached(tv, now) {
			return false
		}
		n++
	}
	return n == len(want)
}

// passedOn reports whether a seed may leave: its --seed-time is up, no
// connected peer still downloads, or every piece is held by a connected
// peer, so the others can finish without it.
func (l seedLimit) passedOn(eng *swarm.Engine, snap *swarm.Snapshot, ih string, now time.Time) bool {
	for _, tv := range snap.Torrents {
		if tv.InfoHash != ih {
			continue
		}
		if l.timeUp(tv, now) {
			return true
		}
		leechers := 0
		for _, p := range tv.Peers {
			if !p.Seed {
				leechers++
			}
		}
		if leechers == 0 {
			return true
		}
	}
	avail, err := eng.Availability(ih)
	if err != nil || len(avail) == 0 {
		return false
	}
	for _, n := range avail {
		if n == 0 {
			return false
		}
	}
	return true
}

func (l seedLimit) report(rep *reporter, snap *swarm.Snapshot, want map[string]bool) {
	for _, tv := range snap.Torrents {
		if !want[tv.InfoHash] {
			continue
		}
		seeded := time.Since(tv.CompletedAt).Round(time.Second)
		if rep.json {
			rep.event("seeded", map[string]any{"infohash": tv.InfoHash, "name": tv.Name, "uploaded": tv.Uploaded,
				"ratio": tv.Ratio, "seconds": seeded.Seconds()})
		} else {
			rep.human("seeded %s: uploaded %s (ratio %.2f) in %s; stopping", tv.Name, byterate.Size(tv.Uploaded), tv.Ratio, seeded)
		}
	}
}
