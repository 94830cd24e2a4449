package tui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"

	"shoal/internal/textsafe"
	"shoal/swarm"
)

// sortKeys are the list's sort orders, cycled by the sort key; "added" is
// the engine's own order.
var sortKeys = []string{"added", "name", "state", "progress", "size", "down", "up", "peers", "seeds", "ratio", "eta"}

// torrentList is the main screen's table of torrents.
type torrentList struct {
	c      *common
	w, h   int
	snap   *swarm.Snapshot
	rows   []int // indexes into snap.Torrents after filtering and sorting
	cursor int
	offset int
	// selIH keeps the cursor on the same torrent when rows re-sort or
	// others are added and removed.
	selIH  string
	sortBy int
	desc   bool
	filter string
	marked map[string]bool
}

func newTorrentList(c *common) *torrentList {
	return &torrentList{c: c, marked: map[string]bool{}}
}

func (l *torrentList) SetSize(w, h int) {
	l.w, l.h = w, h
	l.clampCursor()
}

// bodyHeight is the rows shown below the column header.
func (l *torrentList) bodyHeight() int { return max(0, l.h-1) }

func (l *torrentList) setSnapshot(s *swarm.Snapshot) {
	l.snap = s
	// Marks of removed torrents go.
	if len(l.marked) > 0 {
		present := map[string]bool{}
		for i := range s.Torrents {
			present[s.Torrents[i].InfoHash] = true
		}
		for ih := range l.marked {
			if !present[ih] {
				delete(l.marked, ih)
			}
		}
	}
	l.rebuild()
}

// rebuild filters and sorts, then puts the cursor back on selIH.
func (l *torrentList) rebuild() {
	l.rows = l.rows[:0]
	if l.snap == nil {
		l.cursor, l.offset = 0, 0
		return
	}
	f := strings.ToLower(l.filter)
	for i := range l.snap.Torrents {
		t := &l.snap.Torrents[i]
		if f == "" || strings.Contains(strings.ToLower(t.Name), f) || strings.HasPrefix(t.InfoHash, f) {
			l.rows = append(l.rows, i)
		}
	}
	ts := l.snap.Torrents
	by := sortKeys[l.sortBy]
	if by != "added" {
		slices.SortStableFunc(l.rows, func(a, b int) int {
			c := compareTorrents(&ts[a], &ts[b], by)
			if l.desc {
				c = -c
			}
			return c
		})
	} else if l.desc {
		slices.Reverse(l.rows)
	}
	if l.selIH != "" {
		for i, r := range l.rows {
			if ts[r].InfoHash == l.selIH {
				l.cursor = i
				break
			}
		}
	}
	l.clampCursor()
}

func compareTorrents(a, b *swarm.TorrentView, by string) int {
	switch by {
	case "name":
		return cmp.Compare(strings.ToLower(displayName(a)), strings.ToLower(displayName(b)))
	case "state":
		return cmp.Compare(a.State, b.State)
	case "progress":
		return cmp.Compare(percent(a.Done, a.Wanted), percent(b.Done, b.Wanted))
	case "size":
		return cmp.Compare(a.Size, b.Size)
	case "down":
		return cmp.Compare(a.DownRate, b.DownRate)
	case "up":
		return cmp.Compare(a.UpRate, b.UpRate)
	case "peers":
		return cmp.Compare(a.PeersConnected, b.PeersConnected)
	case "seeds":
		return cmp.Compare(a.Seeds, b.Seeds)
	case "ratio":
		return cmp.Compare(a.Ratio, b.Ratio)
	case "eta":
		// Unknown ETAs sort last.
		ea, eb := a.ETA, b.ETA
		if !a.ETAKnown {
			ea = 1 << 62
		}
		if !b.ETAKnown {
			eb = 1 << 62
		}
		return cmp.Compare(ea, eb)
	}
	return 0
}

func (l *torrentList) clampCursor() {
	l.cursor, l.offset = clamp(l.cursor, l.offset, len(l.rows), l.bodyHeight())
	if len(l.rows) > 0 {
		l.selIH = l.snap.Torrents[l.rows[l.cursor]].InfoHash
	}
}

func (l *torrentList) move(delta int) {
	l.cursor += delta
	l.clampCursor()
}

func (l *torrentList) moveTo(i int) {
	l.cursor = i
	l.clampCursor()
}

// scroll moves the window (mouse wheel) and drags the cursor along.
func (l *torrentList) scroll(delta int) {
	h := l.bodyHeight()
	l.offset = max(0, min(l.offset+delta, len(l.rows)-h))
	if l.cursor < l.offset {
		l.cursor = l.offset
	} else if h > 0 && l.cursor >= l.offset+h {
		l.cursor = l.offset + h - 1
	}
	l.clampCursor()
}

// selected is the torrent under the cursor, or nil.
func (l *torrentList) selected() *swarm.TorrentView {
	if l.snap == nil || len(l.rows) == 0 {
		return nil
	}
	return &l.snap.Torrents[l.rows[l.cursor]]
}

// selectIH puts the cursor on a torrent once it is in the list.
func (l *torrentList) selectIH(ih string) {
	l.selIH = ih
	l.rebuild()
}

// targets are what an action applies to: the marked torrents, or the one
// under the cursor.
func (l *torrentList) targets() []*swarm.TorrentView {
	if l.snap == nil {
		return nil
	}
	var out []*swarm.TorrentView
	if len(l.marked) > 0 {
		for i := range l.snap.Torrents {
			if l.marked[l.snap.Torrents[i].InfoHash] {
				out = append(out, &l.snap.Torrents[i])
			}
		}
		return out
	}
	if t := l.selected(); t != nil {
		out = append(out, t)
	}
	return out
}

func (l *torrentList) toggleMark() {
	t := l.selected()
	if t == nil {
		return
	}
	if l.marked[t.InfoHash] {
		delete(l.marked, t.InfoHash)
	} else {
		l.marked[t.InfoHash] = true
	}
	l.move(1)
}

func (l *torrentList) cycleSort() {
	l.sortBy = (l.sortBy + 1) % len(sortKeys)
	// Big-first is what one wants for rates, sizes and peers.
	switch sortKeys[l.sortBy] {
	case "down", "up", "size", "peers", "seeds", "ratio", "progress":
		l.desc = true
	default:
		l.desc = false
	}
	l.rebuild()
}

func (l *torrentList) setFilter(f string) {
	l.filter = f
	l.rebuild()
}

// rowAt maps a y inside the list (0 is the column header) to a row.
func (l *torrentList) rowAt(y int) (int, bool) {
	i := l.offset + y - 1
	if y < 1 || i >= len(l.rows) || y > l.bodyHeight() {
		return 0, false
	}
	return i, true
}

// column of the table. Columns are dropped right to left by prio when
// the terminal is narrow.
type column struct {
	title string
	sort  string
	width int
	prio  int // higher survives longer
}

func (l *torrentList) columns() (cols []column, nameW, barW int) {
	all := []column{
		{"state", "state", 5, 7},
		{"progress", "progress", 10, 9},
		{"size", "size", 6, 5},
		{"↓", "down", 6, 8},
		{"↑", "up", 6, 6},
		{"peers", "peers", 6, 4},
		{"sd", "seeds", 3, 1},
		{"ratio", "ratio", 5, 2},
		{"eta", "eta", 5, 3},
	}
	const minName = 10
	avail := l.w - 1 // mark column
	used := func(cs []column) int {
		n := 0
		for _, c := range cs {
			n += c.width + 1
		}
		return n
	}
	cols = all
	for avail-used(cols) < minName && len(cols) > 0 {
		low := 0
		for i, c := range cols {
			if c.prio < cols[low].prio {
				low = i
			}
		}
		cols = slices.Delete(slices.Clone(cols), low, low+1)
	}
	nameW = max(0, avail-used(cols))
	barW = 5
	if nameW > 50 { // wide terminals: a longer bar, and the name keeps the rest
		extra := min(nameW-50, 15)
		barW += extra
		nameW -= extra
		for i := range cols {
			if cols[i].sort == "progress" {
				cols[i].width += extra
			}
		}
	}
	return cols, nameW, barW
}

func (l *torrentList) View() string {
	if l.w <= 0 || l.h <= 0 {
		return ""
	}
	st := l.c.styles
	cols, nameW, barW := l.columns()
	lines := make([]string, 0, l.h)

	by := sortKeys[l.sortBy]
	arrow := "▲"
	if l.desc {
		arrow = "▼"
	}
	var hb strings.Builder
	hb.WriteString(" ")
	title := "name"
	if by == "name" {
		title += arrow
	}
	hb.WriteString(fit(title, nameW))
	for _, c := range cols {
		t := c.title
		if c.sort == by {
			t += arrow
		}
		hb.WriteString(" ")
		if c.sort == "state" || c.sort == "progress" {
			hb.WriteString(fit(t, c.width))
		} else {
			hb.WriteString(fitRight(t, c.width))
		}
	}
	lines = append(lines, st.header.paint(hb.String()))

	if len(l.rows) == 0 {
		msg := "No torrents yet. Press " + l.c.keys.Add.Help().Key + " to add a magnet link, .torrent or URL."
		if l.filter != "" {
			msg = "No torrent matches \"" + l.filter + "\"."
		}
		if l.snap == nil {
			msg = "Starting…"
		}
		lines = append(lines, st.muted.paint(" "+msg))
		return strings.Join(lines, "\n")
	}
	end := min(len(l.rows), l.offset+l.bodyHeight())
	for i := l.offset; i < end; i++ {
		t := &l.snap.Torrents[l.rows[i]]
		lines = append(lines, l.row(t, cols, nameW, barW, i == l.cursor))
	}
	return strings.Join(lines, "\n")
}

// row renders one torrent. The cursor row is painted as a whole, without
// the cells' own colours, so its background runs unbroken.
func (l *torrentList) row(t *swarm.TorrentView, cols []column, nameW, barW int, cur bool) string {
	st := l.c.styles
	plain := cur
	p := func(k ink, s string) string {
		if plain {
			return s
		}
		return k.paint(s)
	}
	var b strings.Builder
	if l.marked[t.InfoHash] {
		b.WriteString(p(st.marked, "●"))
	} else {
		b.WriteString(" ")
	}
	b.WriteString(fit(displayName(t), nameW))
	frac := percent(t.Done, t.Wanted)
	for _, c := range cols {
		b.WriteString(" ")
		switch c.sort {
		case "state":
			b.WriteString(p(st.state[stateKey(t.State)], fit(stateLabel(t.State), c.width)))
		case "progress":
			if plain {
				b.WriteString(strings.Repeat("█", int(frac*float64(barW))))
				b.WriteString(strings.Repeat("░", barW-int(frac*float64(barW))))
			} else {
				b.WriteString(st.bar(frac, barW))
			}
			b.WriteString(fitRight(pct(frac), c.width-barW))
		case "size":
			s := "?"
			if t.HasInfo {
				s = compactSize(t.Size)
			}
			b.WriteString(fitRight(s, c.width))
		case "down":
			b.WriteString(p(st.down, fitRight(compactRate(t.DownRate), c.width)))
		case "up":
			b.WriteString(p(st.up, fitRight(compactRate(t.UpRate), c.width)))
		case "peers":
			b.WriteString(fitRight(strconv.Itoa(t.PeersConnected)+"/"+strconv.Itoa(t.PeersKnown), c.width))
		case "seeds":
			b.WriteString(fitRight(strconv.Itoa(t.Seeds), c.width))
		case "ratio":
			b.WriteString(fitRight(ratio(t.Ratio), c.width))
		case "eta":
			b.WriteString(fitRight(eta(t), c.width))
		}
	}
	if cur {
		return st.selected.paint(b.String())
	}
	return b.String()
}

// displayName is what the UI calls a torrent. The engine already made the
// name terminal-safe; filtering again here costs a scan and keeps a
// missed path in the engine from reaching the terminal.
func displayName(t *swarm.TorrentView) string {
	if t.Name != "" {
		return textsafe.String(t.Name)
	}
	if len(t.InfoHash) >= 12 {
		return t.InfoHash[:12] + "…"
	}
	return t.InfoHash
}

func stateKey(s swarm.State) string {
	switch s {
	case swarm.StateSeeding:
		return "seeding"
	case swarm.StateDownloading:
		return "downloading"
	case swarm.StatePaused:
		return "paused"
	case swarm.StateMetadata:
		return "metadata"
	case swarm.StateChecking:
		return "checking"
	}
	return "error"
}

func stateLabel(s swarm.State) string {
	switch s {
	case swarm.StateSeeding:
		return "seed"
	case swarm.StateDownloading:
		return "down"
	case swarm.StatePaused:
		return "pause"
	case swarm.StateMetadata:
		return "meta"
	case swarm.StateChecking:
		return "check"
	case swarm.StateError:
		return "error"
	}
	return string(s)
}

func ratio(r float64) string {
	switch {
	case r < 10:
		return strconv.FormatFloat(r, 'f', 2, 64)
	case r < 100:
		return strconv.FormatFloat(r, 'f', 1, 64)
	case r < 10000:
		return strconv.Itoa(int(r))
	}
	return "many"
}

func eta(t *swarm.TorrentView) string {
	switch {
	case t.Complete():
		return "done"
	case t.State == swarm.StatePaused:
		return "-"
	case t.ETAKnown:
		return compactDuration(t.ETA)
	}
	return "∞"
}

func (l *torrentList) ShortHelp() []key.Binding {
	k := l.c.keys
	return []key.Binding{k.Add, k.Open, k.Help, k.Pause, k.Remove, k.Filter, k.Sort, k.Quit}
}

func (l *torrentList) FullHelp() [][]key.Binding { return l.c.keys.FullHelp() }
