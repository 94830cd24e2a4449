package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"shoal/internal/textsafe"
	"shoal/swarm"
)

// View renders the screen from the model alone.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "shoal"
	return v
}

// Render is View's content: exactly the terminal's height in lines, none
// wider than it.
func (m *Model) Render() string {
	w, h := m.w, m.h
	if w <= 0 || h <= 0 {
		return ""
	}
	st := m.c.styles
	lines := make([]string, 0, h)
	if m.inDetail && m.detail.t != nil {
		lines = append(lines, m.detail.viewLines()...)
	} else {
		lines = append(lines, m.titleBar())
		lines = append(lines, strings.Split(m.list.View(), "\n")...)
	}
	body := max(0, h-3)
	for len(lines) < body {
		lines = append(lines, "")
	}
	lines = lines[:body]

	msg := ""
	switch {
	case m.filtering:
		msg = st.accent.paint("/") + m.filterIn.view(max(2, w-30), st.selected) + st.muted.paint("  enter keep · esc clear")
	case m.toast != "":
		if m.toastErr {
			msg = st.errInk.paint(fit(m.toast, w))
		} else {
			msg = st.accent.paint(fit(m.toast, w))
		}
	default:
		// A torrent in error says why, where the eye already is.
		t := m.list.selected()
		if m.inDetail {
			t = m.detail.t
		}
		if t != nil && t.State == swarm.StateError && t.Err != "" {
			msg = st.errInk.paint(fit("error: "+firstLine(textsafe.String(t.Err)), w))
		} else if t != nil && t.Warning != "" {
			msg = st.accent.paint(fit("warning: "+firstLine(textsafe.String(t.Warning)), w))
		}
	}
	lines = append(lines, msg, m.statusBar(), m.footer)
	if h < 3 {
		lines = lines[len(lines)-h:]
	}
	out := screen(lines, w, h)

	var box string
	switch m.overlay {
	case overlayHelp:
		box = m.helpBox
	case overlayAdd:
		box = m.add.View()
	case overlayConfirm:
		if m.confirm != nil {
			box = m.confirm.View()
		}
	}
	if box != "" {
		out = overlayCenter(out, box, w, h)
	}
	return out
}

// overlayCenter draws box over the middle of base, line by line: the
// base's cells left and right of the box stay, with their colours.
func overlayCenter(base, box string, w, h int) string {
	lines := strings.Split(base, "\n")
	boxLines := strings.Split(box, "\n")
	bw := 0
	for _, l := range boxLines {
		bw = max(bw, cells(l))
	}
	x, y := max(0, (w-bw)/2), max(0, (h-len(boxLines))/2)
	const reset = "\x1b[m"
	for i, bl := range boxLines {
		row := y + i
		if row >= len(lines) {
			break
		}
		left := ansi.Truncate(lines[row], x, "")
		if lw := cells(left); lw < x {
			left += strings.Repeat(" ", x-lw)
		}
		right := ansi.TruncateLeft(lines[row], x+bw, "")
		lines[row] = left + reset + fit(bl, bw) + reset + right
	}
	return screen(lines, w, h)
}

func (m *Model) titleBar() string {
	st := m.c.styles
	n := 0
	if m.snap != nil {
		n = len(m.snap.Torrents)
	}
	parts := []string{st.title.paint("shoal"), strconv.Itoa(n) + " torrents"}
	if n == 1 {
		parts[1] = "1 torrent"
	}
	if m.list.filter != "" {
		parts = append(parts, "filter \""+m.list.filter+"\" "+strconv.Itoa(len(m.list.rows))+" shown")
	}
	if k := len(m.list.marked); k > 0 {
		parts = append(parts, st.marked.paint(strconv.Itoa(k)+" marked"))
	}
	return " " + strings.Join(parts, st.muted.paint(" · "))
}

// statusBar: total rates, where peers reach us, the DHT, and the one
// thing a user must know about seeding. Parts drop right to left, except
// that note, when the terminal is narrow.
func (m *Model) statusBar() string {
	st := m.c.styles
	s := m.snap
	if s == nil {
		s = &swarm.Snapshot{}
	}
	sep := st.muted.paint(" │ ")
	rates := st.down.paint("↓"+compactRate(s.DownRate)+"/s") + " " + st.up.paint("↑"+compactRate(s.UpRate)+"/s")
	note := st.muted.paint("seeding runs only while shoal runs")
	listen := ""
	if s.ListenAddr != "" {
		listen = "listen " + s.ListenAddr
		if reachable(s) {
			listen += " " + st.state["seeding"].paint("reachable")
		}
	}
	dht := "DHT " + strconv.Itoa(s.DHTNodes)
	opts := [][]string{
		{rates, listen, dht, note},
		{rates, s.ListenAddr, dht, note},
		{rates, dht, note},
		{rates, note},
		{rates},
	}
	for _, o := range opts {
		var parts []string
		for _, p := range o {
			if p != "" {
				parts = append(parts, p)
			}
		}
		line := " " + strings.Join(parts, sep)
		if cells(line) <= m.w {
			return line
		}
	}
	return " " + rates
}

// reachable reports an incoming connection seen on any torrent: proof the
// listening port is open. Without one the UI does not guess.
func reachable(s *swarm.Snapshot) bool {
	for i := range s.Torrents {
		if s.Torrents[i].PeersFound["incoming"] > 0 {
			return true
		}
	}
	return false
}

// ShortHelp and FullHelp make the root a help.KeyMap too.
func (m *Model) ShortHelp() []key.Binding {
	if m.inDetail {
		return m.detail.ShortHelp()
	}
	return m.list.ShortHelp()
}

func (m *Model) FullHelp() [][]key.Binding { return m.c.keys.FullHelp() }

// shortHelp is the footer: "key desc" items that fit in w cells, then
// "…" if some did not. (bubbles' help.ShortHelpView overflows the width
// when its ellipsis does not fit either.)
func shortHelp(st *Styles, bindings []key.Binding, w int) string {
	var b strings.Builder
	used := 0
	for i, kb := range bindings {
		if !kb.Enabled() {
			continue
		}
		sep := ""
		if used > 0 {
			sep = " · "
		}
		item := kb.Help().Key + " " + kb.Help().Desc
		iw := cells(sep) + cells(item)
		rest := 0 // room kept for " …" unless this is the last item
		if i < len(bindings)-1 {
			rest = 2
		}
		if used+iw+rest > w {
			if used+2 <= w {
				b.WriteString(st.muted.paint(" …"))
			}
			break
		}
		b.WriteString(st.muted.paint(sep) + st.helpKey.paint(kb.Help().Key) + " " + st.muted.paint(kb.Help().Desc))
		used += iw
	}
	return b.String()
}
