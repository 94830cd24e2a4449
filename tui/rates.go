package tui

import (
	"math"
	"strings"

	"charm.land/bubbles/v2/key"

	"shoal/swarm"
)

// ratesTab graphs download and upload rates over the last minutes, for
// the torrent and for all torrents, from the UI's own history.
// The graphs are drawn when a snapshot arrives (history changes once a
// second) or the size changes, not per frame.
type ratesTab struct {
	c     *common
	w, h  int
	ih    string
	hist  *history
	lines []string
	view  string
}

func newRatesTab(c *common, h *history) *ratesTab { return &ratesTab{c: c, hist: h} }

func (r *ratesTab) SetSize(w, h int) {
	r.w, r.h = w, h
	r.rebuild()
}

func (r *ratesTab) setTorrent(t *swarm.TorrentView) {
	r.ih = t.InfoHash
	r.rebuild()
}

var sparkLevels = []string{" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}

// sparkline draws values (oldest first, right-aligned in the window of
// graphWindow seconds) as rows of eighth blocks, scaled to their peak.
func sparkline(values []float32, w, rows int, k ink) []string {
	window := int(graphWindow.Seconds())
	cols := make([]float64, w)
	peak := 0.0
	offset := window - len(values) // the missing oldest seconds
	for c := range w {
		lo, hi := c*window/w, (c+1)*window/w
		if hi <= lo {
			hi = lo + 1
		}
		sum, n := 0.0, 0
		for i := lo; i < hi; i++ {
			if j := i - offset; j >= 0 && j < len(values) {
				sum += float64(values[j])
				n++
			}
		}
		if n > 0 {
			cols[c] = sum / float64(n)
			peak = math.Max(peak, cols[c])
		}
	}
	out := make([]string, rows)
	var b strings.Builder
	for r := range rows {
		b.Reset()
		floor := (rows - 1 - r) * 8
		for c := range w {
			e := 0
			if peak > 0 {
				e = int(math.Round(cols[c]/peak*float64(rows*8))) - floor
			}
			b.WriteString(sparkLevels[max(0, min(8, e))])
		}
		out[r] = k.paint(b.String())
	}
	return out
}

func peakOf(v []float32) float64 {
	p := 0.0
	for _, x := range v {
		p = math.Max(p, float64(x))
	}
	return p
}

func (r *ratesTab) View() string { return r.view }

func (r *ratesTab) rebuild() {
	defer func() { r.view = strings.Join(r.lines, "\n") }()
	r.lines = r.lines[:0]
	if r.w <= 0 || r.h <= 0 || r.hist == nil {
		return
	}
	st := r.c.styles
	window := int(graphWindow.Seconds())
	rows := max(1, r.h/4-1)
	lines := r.lines
	graph := func(title string, s *series, up bool) {
		var vals []float32
		if s != nil {
			vals = s.last(window, up)
		}
		now := 0.0
		if len(vals) > 0 {
			now = float64(vals[len(vals)-1])
		}
		k := st.down
		arrow := "↓ "
		if up {
			k, arrow = st.up, "↑ "
		}
		lines = append(lines, k.paint(arrow+title)+st.muted.paint(" now ")+compactRate(now)+"/s"+
			st.muted.paint("  peak ")+compactRate(peakOf(vals))+"/s"+st.muted.paint("  last 5 min"))
		lines = append(lines, sparkline(vals, r.w, rows, k)...)
	}
	ts := r.hist.per[r.ih]
	graph("this torrent", ts, false)
	graph("this torrent", ts, true)
	graph("all torrents", &r.hist.total, false)
	graph("all torrents", &r.hist.total, true)
	r.lines = lines
}

func (r *ratesTab) ShortHelp() []key.Binding {
	k := r.c.keys
	return []key.Binding{k.Back, k.Help, k.NextTab, k.Pause, k.Quit}
}

func (r *ratesTab) FullHelp() [][]key.Binding { return r.c.keys.FullHelp() }
