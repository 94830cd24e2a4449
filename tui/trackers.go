package tui

import (
	"sort"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"

	"shoal/internal/textsafe"
	"shoal/swarm"
)

// sourceOrder is how the sources tab lists peer sources.
var sourceOrder = []string{"tracker", "dht", "pex", "lsd", "incoming", "direct", "holepunch", "other"}

// trackersTab shows each tracker's announce state, where peers came from,
// and where the data and magnet link are. Its lines are built when a
// snapshot arrives (they depend on the clock for "next announce in").
type trackersTab struct {
	c      *common
	w, h   int
	t      *swarm.TorrentView
	lines  []string
	offset int
}

func newTrackersTab(c *common) *trackersTab { return &trackersTab{c: c} }

func (r *trackersTab) SetSize(w, h int) {
	r.w, r.h = w, h
	r.rebuild()
}

func (r *trackersTab) setTorrent(t *swarm.TorrentView) {
	r.t = t
	r.rebuild()
}

func (r *trackersTab) scroll(d int) {
	r.offset = max(0, min(r.offset+d, len(r.lines)-r.h))
}

func (r *trackersTab) rebuild() {
	r.lines = r.lines[:0]
	t := r.t
	if t == nil || r.w <= 0 {
		return
	}
	st := r.c.styles
	now := r.c.now()
	const statusW, slW, peersW, nextW = 10, 10, 5, 7
	urlW := max(8, r.w-statusW-slW-peersW-nextW-4)
	r.lines = append(r.lines, st.header.paint(fit("tracker", urlW)+" "+fit("status", statusW)+" "+
		fitRight("seed/leech", slW)+" "+fitRight("peers", peersW)+" "+fitRight("next", nextW)))
	if len(t.Trackers) == 0 {
		why := "No trackers: peers come from the DHT, PEX, LSD and --peer."
		if t.Private {
			why = "No trackers (a private torrent needs one)."
		}
		r.lines = append(r.lines, st.muted.paint(" "+why))
	}
	for _, tr := range t.Trackers {
		status := textsafe.String(tr.Status)
		sk := map[string]string{"ok": "seeding", "error": "error", "announcing": "checking"}[status]
		sl := "-"
		if tr.Status == "ok" || tr.Seeders > 0 || tr.Leechers > 0 {
			sl = strconv.Itoa(tr.Seeders) + "/" + strconv.Itoa(tr.Leechers)
		}
		next := "-"
		if !tr.NextAnnounce.IsZero() {
			next = compactDuration(tr.NextAnnounce.Sub(now))
		}
		line := fit(textsafe.String(tr.URL), urlW) + " " + st.state[sk].paint(fit(status, statusW)) + " " +
			fitRight(sl, slW) + " " + fitRight(strconv.Itoa(tr.Peers), peersW) + " " + fitRight(next, nextW)
		r.lines = append(r.lines, line)
		if tr.LastError != "" {
			r.lines = append(r.lines, st.errInk.paint(fit("  └ "+firstLine(textsafe.String(tr.LastError)), r.w)))
		}
	}

	r.lines = append(r.lines, "", st.header.paint(fit("peers by source", 18)+fitRight("connected", 10)+fitRight("found", 8)))
	names := map[string]bool{}
	for _, s := range sourceOrder {
		names[s] = true
	}
	extra := []string{}
	for s := range t.PeersFound {
		if !names[s] {
			extra = append(extra, s)
		}
	}
	sort.Strings(extra)
	for _, s := range append(append([]string(nil), sourceOrder...), extra...) {
		conn, found := t.PeerSources[s], t.PeersFound[s]
		if (s == "holepunch" || s == "other" || !names[s]) && conn == 0 && found == 0 {
			continue
		}
		r.lines = append(r.lines, fit(" "+textsafe.String(s), 18)+fitRight(strconv.Itoa(conn), 10)+fitRight(strconv.Itoa(found), 8))
	}
	r.lines = append(r.lines, "",
		st.muted.paint("data   ")+fit(textsafe.String(t.DataDir), r.w-7),
		st.muted.paint("magnet ")+fit(textsafe.String(t.Magnet), r.w-7))
	r.offset = max(0, min(r.offset, len(r.lines)-r.h))
}

// firstLine keeps an error message to its first line: the UI's message
// line and tracker rows have room for one.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func (r *trackersTab) View() string {
	if r.w <= 0 || r.h <= 0 {
		return ""
	}
	end := min(len(r.lines), r.offset+r.h)
	return strings.Join(r.lines[r.offset:end], "\n")
}

func (r *trackersTab) ShortHelp() []key.Binding {
	k := r.c.keys
	return []key.Binding{k.Back, k.Help, k.NextTab, k.Copy, k.Where, k.Quit}
}

func (r *trackersTab) FullHelp() [][]key.Binding { return r.c.keys.FullHelp() }
