package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"shoal/internal/byterate"
	"shoal/swarm"
)

// reporter turns engine snapshots into what a person or a script reads:
// JSON events on stdout with --json, otherwise a live progress bar on a
// terminal or a plain line every few seconds on stderr.
type reporter struct {
	out      io.Writer // JSON events
	err      io.Writer // human progress
	json     bool
	tty      bool
	every    time.Duration // plain-line interval when not a terminal
	lastLine time.Time
	barWidth int

	mu       sync.Mutex
	enc      *json.Encoder
	seen     map[string]*torrentSeen
	drewLive bool
}

type torrentSeen struct {
	metadata bool
	done     bool
	errored  string
	warned   string
}

func newReporter(jsonOut bool) *reporter {
	r := &reporter{
		out:   os.Stdout,
		err:   os.Stderr,
		json:  jsonOut,
		tty:   term.IsTerminal(int(os.Stderr.Fd())),
		every: 5 * time.Second,
		seen:  map[string]*torrentSeen{},
	}
	r.enc = json.NewEncoder(r.out)
	if w, _, err := term.GetSize(int(os.Stderr.Fd())); err == nil {
		r.barWidth = w
	}
	return r
}

// event writes one JSON event line; fields are merged into the object.
func (r *reporter) event(name string, fields map[string]any) {
	if !r.json {
		return
	}
	obj := map[string]any{"event": name, "time": time.Now().UTC().Format(time.RFC3339Nano)}
	for k, v := range fields {
		obj[k] = v
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enc.Encode(obj)
}

// human prints one line for people on stderr (never in --json mode's stdout).
func (r *reporter) human(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.drewLive {
		fmt.Fprint(r.err, "\r\033[K")
		r.drewLive = false
	}
	fmt.Fprintf(r.err, format+"\n", args...)
}

// warn reports tv's warning once each time it changes: an event, or a line
// for people.
func (r *reporter) warn(tv swarm.TorrentView) {
	seen := r.seen[tv.InfoHash]
	if seen == nil {
		seen = &torrentSeen{}
		r.seen[tv.InfoHash] = seen
	}
	if tv.Warning == "" || seen.warned == tv.Warning {
		return
	}
	seen.warned = tv.Warning
	r.event("warning", map[string]any{"infohash": tv.InfoHash, "warning": tv.Warning})
	if !r.json {
		r.human("warning: %s: %s", tv.Name, tv.Warning)
	}
}

func (r *reporter) added(ih, name, source string) {
	r.seen[ih] = &torrentSeen{}
	r.event("added", map[string]any{"infohash": ih, "name": name, "source": source})
}

// update reports what changed in a snapshot for the torrents in ihs.
func (r *reporter) update(s *swarm.Snapshot, ihs map[string]bool) {
	var views []swarm.TorrentView
	for _, tv := range s.Torrents {
		if !ihs[tv.InfoHash] {
			continue
		}
		views = append(views, tv)
		seen := r.seen[tv.InfoHash]
		if seen == nil {
			seen = &torrentSeen{}
			r.seen[tv.InfoHash] = seen
		}
		if tv.HasInfo && !seen.metadata {
			seen.metadata = true
			r.event("metadata", map[string]any{"infohash": tv.InfoHash, "name": tv.Name, "size": tv.Size,
				"pieces": tv.NumPieces, "piece_length": tv.PieceLength, "files": len(tv.Files)})
		}
		if tv.State == swarm.StateError && seen.errored != tv.Err {
			seen.errored = tv.Err
			r.event("error", map[string]any{"infohash": tv.InfoHash, "error": tv.Err})
		}
		r.warn(tv)
		r.event("progress", map[string]any{"infohash": tv.InfoHash, "state": tv.State, "done": tv.Done,
			"size": tv.Wanted, "down_rate": int64(tv.DownRate), "up_rate": int64(tv.UpRate),
			"peers": tv.PeersConnected, "seeds": tv.Seeds, "peer_sources": tv.PeerSources, "peers_found": tv.PeersFound, "dht_nodes": s.DHTNodes,
			"uploaded": tv.Uploaded, "downloaded": tv.Downloaded, "eta_s": etaSeconds(tv)})
		if tv.Complete() && !seen.done {
			seen.done = true
			r.event("done", map[string]any{"infohash": tv.InfoHash, "name": tv.Name, "size": tv.Size,
				"seconds": tv.CompletedAt.Sub(tv.AddedAt).Seconds(), "data_dir": tv.DataDir})
		}
	}
	if r.json || len(views) == 0 {
		return
	}
	width := r.barWidth
	if !r.tty {
		width = -1 // a plain line in logs: no bar
	}
	line := progressLine(views, width)
	if s.DHTNodes > 0 {
		line += fmt.Sprintf(" · DHT %d nodes", s.DHTNodes)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tty {
		fmt.Fprint(r.err, "\r\033[K"+line)
		r.drewLive = true
		return
	}
	if time.Since(r.lastLine) >= r.every {
		r.lastLine = time.Now()
		fmt.Fprintln(r.err, line)
	}
}

// finishLive ends the live progress line so the next output starts clean.
func (r *reporter) finishLive() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.drewLive {
		fmt.Fprintln(r.err)
		r.drewLive = false
	}
}

func etaSeconds(tv swarm.TorrentView) any {
	if !tv.ETAKnown {
		return nil
	}
	return int64(tv.ETA.Seconds())
}

// progressLine sums the torrents into one line, with a bar unless width is
// negative:
// [#####.....] 45.2% 120.0 MiB/265.3 MiB ↓ 12.3 MiB/s ↑ 1.0 MiB/s peers 5 ETA 12s
func progressLine(views []swarm.TorrentView, width int) string {
	var done, wanted int64
	var down, up float64
	peers, seeds := 0, 0
	allInfo := true
	var state swarm.State
	for _, tv := range views {
		done += tv.Done
		wanted += tv.Wanted
		down += tv.DownRate
		up += tv.UpRate
		peers += tv.PeersConnected
		seeds += tv.Seeds
		allInfo = allInfo && tv.HasInfo
		state = tv.State
	}
	name := views[0].Name
	if len(views) > 1 {
		name = fmt.Sprintf("%d torrents", len(views))
	}
	if !allInfo {
		return fmt.Sprintf("%s: fetching metadata, peers %d", name, peers)
	}
	pct := 100.0
	if wanted > 0 {
		pct = float64(done) * 100 / float64(wanted)
	}
	eta := "ETA -"
	if down > 1 && done < wanted {
		eta = "ETA " + (time.Duration(float64(wanted-done)/down) * time.Second).Round(time.Second).String()
	}
	stats := fmt.Sprintf("%5.1f%% %s/%s ↓ %s ↑ %s peers %d%s (%d seeds) %s",
		pct, byterate.Size(done), byterate.Size(wanted), byterate.Rate(down), byterate.Rate(up), peers, swarm.PeerSourcesNote(views), seeds, eta)
	if state == swarm.StateChecking {
		stats = "checking " + stats
	}
	barLen := 20
	if width < 0 {
		barLen = 0
	} else if width > 0 && width < len(stats)+barLen+4 {
		barLen = max(0, width-len(stats)-4)
	}
	if barLen == 0 {
		return stats
	}
	filled := int(pct / 100 * float64(barLen))
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", barLen-filled) + "] " + stats
}
