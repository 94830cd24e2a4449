package tui

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"shoal/swarm"
)

// key handles a key press: dialogs first, then the filter, then the
// screen's own keys.
func (m *Model) key(k tea.KeyPressMsg) tea.Cmd {
	s := k.String()
	keys := m.c.keys
	if s == "ctrl+c" {
		return tea.Quit
	}
	switch m.overlay {
	case overlayHelp:
		m.overlay = overlayNone
		return nil
	case overlayAdd:
		return m.addKey(k)
	case overlayConfirm:
		switch {
		case matches(s, keys.Confirm):
			return m.doRemove()
		case matches(s, keys.Cancel, keys.Back, keys.Quit):
			m.overlay, m.confirm = overlayNone, nil
		}
		return nil
	}
	if m.filtering {
		switch s {
		case "enter":
			m.filtering = false
		case "esc":
			m.filtering = false
			m.filterIn.set("")
			m.list.setFilter("")
		default:
			if m.filterIn.update(k) {
				m.list.setFilter(m.filterIn.String())
			}
		}
		return nil
	}

	switch {
	case matches(s, keys.Quit):
		return tea.Quit
	case matches(s, keys.Help):
		m.overlay = overlayHelp
		m.helpBox = helpView(m.c, m.w, m.h)
		return nil
	case matches(s, keys.Add):
		m.openAdd()
		return nil
	}
	if m.inDetail {
		return m.detailKey(s)
	}
	return m.listKey(s)
}

func (m *Model) addKey(k tea.KeyPressMsg) tea.Cmd {
	s := k.String()
	keys := m.c.keys
	switch {
	case s == "esc":
		m.overlay = overlayNone
		return nil
	case m.add.busy:
		return nil
	case matches(s, keys.Submit):
		raw := strings.TrimSpace(m.add.in.String())
		if raw == "" {
			m.add.err = "type or paste a magnet link, a .torrent path or URL, or an infohash"
			return nil
		}
		if strings.HasPrefix(raw, "~/") && m.homeDir() != "" {
			raw = filepath.Join(m.homeDir(), raw[2:])
		}
		m.add.busy, m.add.err, m.add.candidates = true, "", nil
		eng, ctx := m.eng, m.ctx
		return func() tea.Msg {
			// A URL is fetched over the network: give up after a while
			// rather than leave the dialog spinning.
			cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			ih, err := eng.AddSource(cctx, raw)
			return addResultMsg{raw: raw, ih: ih, err: err}
		}
	case matches(s, keys.Complete):
		input, home := m.add.in.String(), m.homeDir()
		return func() tea.Msg {
			v, c := completePath(input, home, os.ReadDir)
			return completionMsg{input: input, value: v, candidates: c}
		}
	}
	if m.add.in.update(k) {
		m.add.err, m.add.candidates = "", nil
	}
	return nil
}

func (m *Model) homeDir() string {
	if m.home == "" {
		m.home, _ = os.UserHomeDir()
	}
	return m.home
}

func (m *Model) listKey(s string) tea.Cmd {
	keys := m.c.keys
	l := m.list
	switch {
	case matches(s, keys.Up):
		l.move(-1)
	case matches(s, keys.Down):
		l.move(1)
	case matches(s, keys.PageUp):
		l.move(-max(1, l.bodyHeight()-1))
	case matches(s, keys.PageDown):
		l.move(max(1, l.bodyHeight()-1))
	case matches(s, keys.Top):
		l.moveTo(0)
	case matches(s, keys.Bottom):
		l.moveTo(len(l.rows) - 1)
	case matches(s, keys.Open):
		return m.openDetail()
	case matches(s, keys.Tab):
		// A tab's number on the list opens the selected torrent there.
		if l.selected() == nil {
			return nil
		}
		m.openDetail()
		m.detail.setTab(slices.Index(keys.Tab.Keys(), s))
		return m.fetchAvailability()
	case matches(s, keys.Sort):
		l.cycleSort()
	case matches(s, keys.Reverse):
		l.desc = !l.desc
		l.rebuild()
	case matches(s, keys.Filter):
		m.filtering = true
		m.filterIn.set(l.filter)
	case matches(s, keys.Mark):
		l.toggleMark()
	case matches(s, keys.Back):
		if l.filter != "" {
			l.setFilter("")
		} else if len(l.marked) > 0 {
			clear(l.marked)
		}
	default:
		return m.torrentKey(s, l.targets())
	}
	return nil
}

func (m *Model) openDetail() tea.Cmd {
	t := m.list.selected()
	if t == nil {
		return nil
	}
	m.inDetail = true
	m.detail.setTorrent(t)
	return m.fetchAvailability()
}

func (m *Model) detailKey(s string) tea.Cmd {
	keys := m.c.keys
	d := m.detail
	switch {
	case matches(s, keys.Back):
		m.inDetail = false
		return nil
	case matches(s, keys.NextTab):
		d.setTab(d.tab + 1)
		return m.fetchAvailability()
	case matches(s, keys.PrevTab):
		d.setTab(d.tab - 1)
		return m.fetchAvailability()
	case matches(s, keys.Tab):
		for i, k := range keys.Tab.Keys() {
			if k == s && i < numTabs {
				d.setTab(i)
			}
		}
		return m.fetchAvailability()
	}
	switch d.tab {
	case tabPeers:
		switch {
		case matches(s, keys.Sort):
			d.peers.cycleSort(d.t)
			return nil
		case matches(s, keys.Reverse):
			d.peers.reverse(d.t)
			return nil
		case matches(s, keys.Up):
			d.peers.scroll(-1)
			return nil
		case matches(s, keys.Down):
			d.peers.scroll(1)
			return nil
		case matches(s, keys.PageUp):
			d.peers.scroll(-max(1, d.peers.bodyHeight()-1))
			return nil
		case matches(s, keys.PageDown):
			d.peers.scroll(max(1, d.peers.bodyHeight()-1))
			return nil
		}
	case tabFiles:
		f := d.files
		switch {
		case matches(s, keys.Up):
			f.move(-1)
			return nil
		case matches(s, keys.Down):
			f.move(1)
			return nil
		case matches(s, keys.PageUp):
			f.move(-max(1, f.bodyHeight()-1))
			return nil
		case matches(s, keys.PageDown):
			f.move(max(1, f.bodyHeight()-1))
			return nil
		case matches(s, keys.Top):
			f.moveTo(0)
			return nil
		case matches(s, keys.Bottom):
			f.moveTo(len(f.visible) - 1)
			return nil
		case matches(s, keys.Toggle):
			f.toggle()
			return nil
		case matches(s, keys.PriorityUp), matches(s, keys.PriorityDown):
			return m.setPriority(matches(s, keys.PriorityUp))
		}
	case tabTrackers:
		switch {
		case matches(s, keys.Up):
			d.trackers.scroll(-1)
			return nil
		case matches(s, keys.Down):
			d.trackers.scroll(1)
			return nil
		}
	}
	if d.t == nil {
		return nil
	}
	return m.torrentKey(s, []*swarm.TorrentView{d.t})
}

func (m *Model) setPriority(up bool) tea.Cmd {
	files, p, ok := m.detail.files.nextPriority(up)
	if !ok || m.detail.t == nil {
		return nil
	}
	eng, ih := m.eng, m.detail.t.InfoHash
	return func() tea.Msg {
		var errs []error
		for _, f := range files {
			if err := eng.SetFilePriority(ih, f, p); err != nil {
				errs = append(errs, err)
			}
		}
		what := strconv.Itoa(len(files)) + " files"
		if len(files) == 1 {
			what = "1 file"
		}
		return actionMsg{text: "priority " + p.String() + " for " + what, err: errors.Join(errs...)}
	}
}

// torrentKey is the actions on torrents, from the list or the detail view.
func (m *Model) torrentKey(s string, ts []*swarm.TorrentView) tea.Cmd {
	keys := m.c.keys
	if len(ts) == 0 {
		return nil
	}
	eng := m.eng
	switch {
	case matches(s, keys.Pause):
		type op struct {
			ih     string
			resume bool
		}
		ops := make([]op, len(ts))
		for i, t := range ts {
			ops[i] = op{t.InfoHash, t.State == swarm.StatePaused}
		}
		text := "paused"
		if ops[0].resume {
			text = "resumed"
		}
		text += " " + what(ts)
		return func() tea.Msg {
			var errs []error
			for _, o := range ops {
				if o.resume {
					errs = append(errs, eng.Resume(o.ih))
				} else {
					errs = append(errs, eng.Pause(o.ih))
				}
			}
			return actionMsg{text: text, err: errors.Join(errs...)}
		}
	case matches(s, keys.Verify):
		ihs := infohashes(ts)
		text := "verifying " + what(ts)
		return func() tea.Msg {
			var errs []error
			for _, ih := range ihs {
				errs = append(errs, eng.Verify(ih))
			}
			return actionMsg{text: text, err: errors.Join(errs...)}
		}
	case matches(s, keys.Remove), matches(s, keys.RemoveData):
		d := &confirmDialog{c: m.c, deleteData: matches(s, keys.RemoveData)}
		for _, t := range ts {
			d.ihs = append(d.ihs, t.InfoHash)
			d.names = append(d.names, displayName(t))
			d.dataDirs = append(d.dataDirs, t.DataDir)
		}
		d.SetSize(m.w, m.h)
		m.confirm, m.overlay = d, overlayConfirm
	case matches(s, keys.Copy):
		t := ts[0]
		if t.Magnet == "" {
			return m.showToast("no magnet link for "+displayName(t), true)
		}
		// OSC 52: the terminal puts it on the clipboard, over ssh too.
		return tea.Batch(tea.SetClipboard(t.Magnet), m.showToast("copied: "+t.Magnet, false))
	case matches(s, keys.Where):
		t := ts[0]
		return m.showToast("data: "+filepath.Join(t.DataDir, displayName(t)), false)
	}
	return nil
}

func (m *Model) doRemove() tea.Cmd {
	d := m.confirm
	m.overlay, m.confirm = overlayNone, nil
	if d == nil {
		return nil
	}
	eng, ctx := m.eng, m.ctx
	text := "removed "
	if len(d.names) == 1 {
		text += d.names[0]
	} else {
		text += strconv.Itoa(len(d.names)) + " torrents"
	}
	if d.deleteData && len(d.names) == 1 {
		text += " and its data"
	} else if d.deleteData {
		text += " and their data"
	}
	for _, ih := range d.ihs {
		delete(m.list.marked, ih)
	}
	return func() tea.Msg {
		var errs []error
		for _, ih := range d.ihs {
			errs = append(errs, eng.Remove(ctx, ih, d.deleteData))
		}
		return actionMsg{text: text, err: errors.Join(errs...)}
	}
}

func what(ts []*swarm.TorrentView) string {
	if len(ts) == 1 {
		return displayName(ts[0])
	}
	return strconv.Itoa(len(ts)) + " torrents"
}

func infohashes(ts []*swarm.TorrentView) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.InfoHash
	}
	return out
}
