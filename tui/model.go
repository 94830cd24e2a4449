package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"

	"shoal/internal/textsafe"
	"shoal/swarm"
)

// Messages. Everything the engine says reaches Update as one of these,
// returned by a tea.Cmd; Update itself never blocks or does I/O.
type (
	// snapshotMsg carries a new snapshot; rearm says it came from the
	// Changed waiter, which must be started again.
	snapshotMsg struct {
		snap  *swarm.Snapshot
		rearm bool
	}
	availabilityMsg struct {
		ih    string
		avail []uint16
		err   error
	}
	addResultMsg struct {
		raw string
		ih  string
		err error
	}
	completionMsg struct {
		input      string
		value      string
		candidates []string
	}
	// actionMsg reports an engine action (pause, remove...) for the
	// message line.
	actionMsg struct {
		text string
		err  error
	}
	clearToastMsg struct{ id int }
)

type overlay int

const (
	overlayNone overlay = iota
	overlayHelp
	overlayAdd
	overlayConfirm
)

// Options configure a Model. Zero values mean the defaults.
type Options struct {
	Keys   *KeyMap
	Styles *Styles
	// Now is the clock; tests fix it.
	Now func() time.Time
	// Context bounds the engine calls the UI makes (add, remove).
	Context context.Context
	// Home stands in for "~" in path completion; os.UserHomeDir if empty.
	Home string
}

// Model is the root of the UI: the torrent list or one torrent's detail,
// dialogs over them, a message line, the status bar and the key footer.
// Only the root sees window sizes; it hands each component its share.
type Model struct {
	c    *common
	eng  Engine
	ctx  context.Context
	home string
	w, h int

	snap   *swarm.Snapshot
	hist   *history
	list   *torrentList
	detail *detailView
	// inDetail shows detail instead of the list.
	inDetail bool
	overlay  overlay
	helpBox  string // the help overlay, drawn when opened or resized
	// footer is the key help line, redrawn only when footerKey (width,
	// screen) changes.
	footer    string
	footerKey [3]int
	add       *addDialog
	confirm   *confirmDialog

	filtering bool
	filterIn  lineInput

	toast    string
	toastErr bool
	toastID  int

	availBusy bool
	// tick is tea.Tick; table tests replace it so that no command they
	// run waits on a timer.
	tick func(time.Duration, func(time.Time) tea.Msg) tea.Cmd
	// complete remembers which torrents were complete in the last
	// snapshot, to say so when one finishes.
	complete map[string]bool
}

// New builds the UI over an engine.
func New(eng Engine, o Options) *Model {
	if o.Keys == nil {
		k := DefaultKeyMap()
		o.Keys = &k
	}
	if o.Styles == nil {
		o.Styles = DefaultStyles()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Context == nil {
		o.Context = context.Background()
	}
	c := &common{keys: o.Keys, styles: o.Styles, now: o.Now}
	hist := newHistory()
	return &Model{
		c:        c,
		eng:      eng,
		ctx:      o.Context,
		home:     o.Home,
		hist:     hist,
		list:     newTorrentList(c),
		detail:   newDetailView(c, hist),
		add:      newAddDialog(c),
		complete: map[string]bool{},
		tick:     tea.Tick,
	}
}

// Init reads the current snapshot and starts waiting for the next.
func (m *Model) Init() tea.Cmd {
	eng := m.eng
	return tea.Batch(
		func() tea.Msg { return snapshotMsg{snap: eng.Snapshot()} },
		m.waitSnapshot(),
	)
}

// waitSnapshot blocks (in its own goroutine, as every Cmd) until the
// engine publishes, and brings the snapshot back as a message. Between
// snapshots the UI does nothing at all: no timers, no polling.
func (m *Model) waitSnapshot() tea.Cmd {
	eng, ctx := m.eng, m.ctx
	return func() tea.Msg {
		select {
		case <-eng.Changed():
			return snapshotMsg{snap: eng.Snapshot(), rearm: true}
		case <-ctx.Done():
			return nil
		}
	}
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	cmd := m.update(msg)
	m.refreshFooter()
	return m, cmd
}

// refreshFooter redraws the key footer when what it describes changed:
// it is the same few keys for seconds at a time, and rendering help is
// the dearest part of a frame.
func (m *Model) refreshFooter() {
	key := [3]int{m.w, -1, 0}
	var active help.KeyMap = m.list
	if m.inDetail && m.detail.t != nil {
		key[1], active = m.detail.tab, m.detail
	}
	if key == m.footerKey && m.footer != "" {
		return
	}
	m.footerKey = key
	m.footer = shortHelp(m.c.styles, active.ShortHelp(), m.w)
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.setSize(msg.Width, msg.Height)
		return nil
	case snapshotMsg:
		var cmds []tea.Cmd
		if msg.rearm {
			cmds = append(cmds, m.waitSnapshot())
		}
		if msg.snap != nil {
			cmds = append(cmds, m.setSnapshot(msg.snap))
		}
		return tea.Batch(cmds...)
	case availabilityMsg:
		m.availBusy = false
		if msg.err == nil {
			m.detail.pieces.setAvailability(msg.ih, msg.avail)
		}
		return nil
	case addResultMsg:
		return m.addResult(msg)
	case completionMsg:
		if m.overlay == overlayAdd && msg.input == m.add.in.String() {
			m.add.in.set(msg.value)
			m.add.candidates = msg.candidates
		}
		return nil
	case actionMsg:
		if msg.err != nil {
			return m.showToast(msg.text+": "+firstLine(msg.err.Error()), true)
		}
		return m.showToast(msg.text, false)
	case clearToastMsg:
		if msg.id == m.toastID {
			m.toast = ""
		}
		return nil
	case tea.PasteMsg:
		switch {
		case m.overlay == overlayAdd && !m.add.busy:
			m.add.in.paste(msg.Content)
			m.add.err, m.add.candidates = "", nil
		case m.filtering:
			m.filterIn.paste(msg.Content)
			m.list.setFilter(m.filterIn.String())
		case m.overlay == overlayNone:
			// Pasting a link on the list opens the add dialog with it.
			m.openAdd()
			m.add.in.paste(msg.Content)
		}
		return nil
	case tea.KeyPressMsg:
		return m.key(msg)
	case tea.MouseClickMsg:
		return m.click(msg.Mouse())
	case tea.MouseWheelMsg:
		m.wheel(msg.Mouse())
		return nil
	}
	return nil
}

func (m *Model) setSize(w, h int) {
	m.w, m.h = max(0, w), max(0, h)
	m.list.SetSize(m.w, max(0, m.h-4))
	m.detail.SetSize(m.w, max(0, m.h-3))
	m.add.SetSize(m.w, m.h)
	if m.confirm != nil {
		m.confirm.SetSize(m.w, m.h)
	}
	if m.overlay == overlayHelp {
		m.helpBox = helpView(m.c, m.w, m.h)
	}
}

func (m *Model) setSnapshot(s *swarm.Snapshot) tea.Cmd {
	first := m.snap == nil
	m.snap = s
	m.hist.observe(s)
	m.list.setSnapshot(s)
	var cmds []tea.Cmd
	done := make(map[string]bool, len(s.Torrents))
	for i := range s.Torrents {
		t := &s.Torrents[i]
		if !t.Complete() {
			continue
		}
		done[t.InfoHash] = true
		if _, seen := m.complete[t.InfoHash]; seen && !m.complete[t.InfoHash] && !first {
			cmds = append(cmds, m.showToast("✓ "+displayName(t)+" complete", false))
		}
	}
	for i := range s.Torrents {
		ih := s.Torrents[i].InfoHash
		m.complete[ih] = done[ih]
	}
	for ih := range m.complete {
		if _, ok := done[ih]; !ok && m.find(ih) == nil {
			delete(m.complete, ih)
		}
	}
	if m.inDetail {
		t := m.find(m.detail.t.InfoHash)
		if t == nil {
			m.inDetail = false
			return tea.Batch(append(cmds, m.showToast("the torrent is no longer in the session", false))...)
		}
		m.detail.setTorrent(t)
		cmds = append(cmds, m.fetchAvailability())
	}
	return tea.Batch(cmds...)
}

func (m *Model) find(ih string) *swarm.TorrentView {
	if m.snap == nil {
		return nil
	}
	for i := range m.snap.Torrents {
		if m.snap.Torrents[i].InfoHash == ih {
			return &m.snap.Torrents[i]
		}
	}
	return nil
}

// fetchAvailability asks the engine for per-piece peer counts, only while
// the piece map is on screen and one request at a time.
func (m *Model) fetchAvailability() tea.Cmd {
	if !m.inDetail || m.detail.tab != tabPieces || m.availBusy || m.detail.t == nil || !m.detail.t.HasInfo {
		return nil
	}
	m.availBusy = true
	eng, ih := m.eng, m.detail.t.InfoHash
	return func() tea.Msg {
		a, err := eng.Availability(ih)
		return availabilityMsg{ih: ih, avail: a, err: err}
	}
}

func (m *Model) showToast(text string, isErr bool) tea.Cmd {
	m.toastID++
	m.toast, m.toastErr = textsafe.String(text), isErr
	id := m.toastID
	return m.tick(6*time.Second, func(time.Time) tea.Msg { return clearToastMsg{id: id} })
}

func (m *Model) openAdd() {
	m.overlay = overlayAdd
	m.add.reset()
}

func (m *Model) addResult(msg addResultMsg) tea.Cmd {
	if msg.err != nil {
		if m.overlay == overlayAdd && m.add.busy {
			m.add.busy = false
			m.add.err = textsafe.String(firstLine(msg.err.Error()))
			return nil
		}
		return m.showToast("add: "+firstLine(msg.err.Error()), true)
	}
	if m.overlay == overlayAdd {
		m.overlay = overlayNone
	}
	m.add.reset()
	m.inDetail = false
	m.list.setFilter("")
	m.list.selectIH(msg.ih)
	name := msg.ih
	if t := m.find(msg.ih); t != nil {
		name = displayName(t)
	}
	return m.showToast("added "+name, false)
}
