package tui

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"shoal/swarm"
)

// runAll runs a command to its messages, following batches.
func runAll(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	select {
	case msg := <-done:
		if b, ok := msg.(tea.BatchMsg); ok {
			var out []tea.Msg
			for _, c := range b {
				out = append(out, runAll(c)...)
			}
			return out
		}
		if msg == nil {
			return nil
		}
		return []tea.Msg{msg}
	case <-timeout():
		panic("a command blocked")
	}
}

func isQuit(cmd tea.Cmd) bool {
	for _, m := range runAll(cmd) {
		if _, ok := m.(tea.QuitMsg); ok {
			return true
		}
	}
	return false
}

// Every key, on an empty session and before the first snapshot, at the
// list and in each dialog: nothing panics, nothing reaches the engine,
// the frame keeps its size, and only the quit keys quit.
func TestEveryKeyOnEmptyList(t *testing.T) {
	keys := DefaultKeyMap()
	var all []string
	for _, b := range keys.All() {
		all = append(all, b.Keys()...)
	}
	all = append(all, "x", "left", "right", "backspace", "delete", "ctrl+a", "alt+x", "f1")
	for _, snap := range []*swarm.Snapshot{nil, {Time: t0}} {
		for _, prefix := range []string{"", "a", "/", "?"} {
			for _, k := range all {
				name := fmt.Sprintf("snap=%v/prefix=%q/key=%q", snap != nil, prefix, k)
				t.Run(name, func(t *testing.T) {
					m, eng := newTestModel(snap, 80, 24)
					if prefix != "" {
						m.Update(keyPress(prefix))
					}
					_, cmd := m.Update(keyPress(k))
					quit := isQuit(cmd)
					wantQuit := k == "ctrl+c" || (k == "q" && prefix != "a" && prefix != "/" && prefix != "?")
					if quit != wantQuit {
						t.Errorf("quit = %v, want %v", quit, wantQuit)
					}
					checkScreen(t, m.Render(), 80, 24)
					for _, c := range eng.Calls() {
						if !strings.HasPrefix(c, "add ") {
							t.Errorf("engine called on an empty list: %s", c)
						}
					}
				})
			}
		}
	}
}

func TestUpdate(t *testing.T) {
	type check func(t *testing.T, m *Model, eng *fakeEngine, msgs []tea.Msg)
	calls := func(want ...string) check {
		return func(t *testing.T, m *Model, eng *fakeEngine, _ []tea.Msg) {
			t.Helper()
			var got []string
			for _, c := range eng.Calls() {
				if !strings.HasPrefix(c, "availability") {
					got = append(got, c)
				}
			}
			if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("engine calls %q, want %q", got, want)
			}
		}
	}
	selected := func(ih string) check {
		return func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			t.Helper()
			if s := m.list.selected(); s == nil || s.InfoHash != ih {
				got := "nothing"
				if s != nil {
					got = s.InfoHash
				}
				t.Errorf("selected %s, want %s", got, ih)
			}
		}
	}
	toast := func(sub string) check {
		return func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			t.Helper()
			if !strings.Contains(m.toast, sub) {
				t.Errorf("message line %q, want it to contain %q", m.toast, sub)
			}
		}
	}
	overlayIs := func(o overlay) check {
		return func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			t.Helper()
			if m.overlay != o {
				t.Errorf("overlay %d, want %d", m.overlay, o)
			}
		}
	}
	rows := func(n int) check {
		return func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			t.Helper()
			if len(m.list.rows) != n {
				t.Errorf("%d rows, want %d", len(m.list.rows), n)
			}
		}
	}
	inTab := func(tab int) check {
		return func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			t.Helper()
			if !m.inDetail || m.detail.tab != tab {
				t.Errorf("inDetail=%v tab=%d, want tab %d", m.inDetail, m.detail.tab, tab)
			}
		}
	}
	inList := func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
		t.Helper()
		if m.inDetail {
			t.Error("still in the detail view")
		}
	}
	click := func(x, y int) tea.Msg { return tea.MouseClickMsg{X: x, Y: y, Button: tea.MouseLeft} }
	wheel := func(down bool) tea.Msg {
		b := tea.MouseWheelUp
		if down {
			b = tea.MouseWheelDown
		}
		return tea.MouseWheelMsg{X: 5, Y: 5, Button: b}
	}
	k := keyPress
	without := func(ih string) tea.Msg {
		s := fixtureSnapshot()
		s.Torrents = slices.DeleteFunc(s.Torrents, func(t swarm.TorrentView) bool { return t.InfoHash == ih })
		return snapshotMsg{snap: s}
	}
	reordered := func() tea.Msg {
		s := fixtureSnapshot()
		slices.Reverse(s.Torrents)
		return snapshotMsg{snap: s}
	}

	cases := []struct {
		name   string
		msgs   []tea.Msg
		checks []check
	}{
		{"down moves the cursor", []tea.Msg{k("j"), k("down")}, []check{selected(ihMagnet)}},
		{"cursor stops at the ends", []tea.Msg{k("k"), k("G"), k("j"), k("j")}, []check{selected(ihBroken)}},
		{"cursor follows its torrent when the order changes", []tea.Msg{k("j"), reordered()}, []check{selected(ihBunny)}},
		{"cursor moves on when its torrent goes", []tea.Msg{k("G"), without(ihBroken)}, []check{selected(ihPaused)}},
		{"sort by name", []tea.Msg{k("s")}, []check{func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			var names []string
			for _, r := range m.list.rows {
				names = append(names, displayName(&m.list.snap.Torrents[r]))
			}
			if !slices.IsSortedFunc(names, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) }) {
				t.Errorf("not sorted by name: %q", names)
			}
		}}},
		{"reverse sort keeps the cursor on its torrent", []tea.Msg{k("S")}, []check{selected(ihUbuntu), func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			if first := m.list.snap.Torrents[m.list.rows[0]].InfoHash; first != ihBroken {
				t.Errorf("first row %s", first)
			}
		}}},
		{"filter narrows and enter keeps it", []tea.Msg{k("/"), k("b"), k("u"), k("c"), k("k"), k("enter")}, []check{rows(1), selected(ihBunny)}},
		{"filter matches an infohash prefix", []tea.Msg{k("/"), k("3"), k("3"), k("3")}, []check{rows(1), selected(ihMagnet)}},
		{"esc in the filter clears it", []tea.Msg{k("/"), k("z"), k("esc")}, []check{rows(5)}},
		{"esc on the list clears a kept filter", []tea.Msg{k("/"), k("z"), k("enter"), k("esc")}, []check{rows(5)}},
		{"pause a downloading torrent", []tea.Msg{k("p")}, []check{calls("pause " + ihUbuntu), toast("paused ubuntu")}},
		{"resume a paused torrent", []tea.Msg{k("j"), k("j"), k("j"), k("p")}, []check{calls("resume " + ihPaused), toast("resumed")}},
		{"marked torrents act together", []tea.Msg{k("space"), k("space"), k("v")}, []check{calls("verify "+ihUbuntu, "verify "+ihBunny), toast("verifying 2 torrents")}},
		{"remove asks first; n keeps it", []tea.Msg{k("d"), k("n")}, []check{calls(), overlayIs(overlayNone)}},
		{"remove keeps data", []tea.Msg{k("d"), k("y")}, []check{calls("remove " + ihUbuntu + " false"), toast("removed")}},
		{"remove with data says so and deletes", []tea.Msg{k("j"), k("D"), k("y")}, []check{calls("remove " + ihBunny + " true"), toast("and its data")}},
		{"q in the confirm dialog cancels, not quits", []tea.Msg{k("d"), k("q")}, []check{calls(), overlayIs(overlayNone)}},
		{"verify", []tea.Msg{k("v")}, []check{calls("verify " + ihUbuntu)}},
		{"copy the magnet link", []tea.Msg{k("c")}, []check{toast("copied: magnet:?xt=urn:btih:" + ihUbuntu), func(t *testing.T, _ *Model, _ *fakeEngine, msgs []tea.Msg) {
			for _, msg := range msgs {
				if fmt.Sprintf("%T", msg) == "tea.setClipboardMsg" && fmt.Sprint(msg) == "magnet:?xt=urn:btih:"+ihUbuntu+"&dn=ubuntu-24.04.2-desktop-amd64.iso" {
					return
				}
			}
			t.Errorf("no clipboard write among %#v", msgs)
		}}},
		{"show the data folder", []tea.Msg{k("w")}, []check{toast("data: /home/ada/Downloads/ubuntu-24.04.2-desktop-amd64.iso")}},
		{"help opens and any key closes it", []tea.Msg{k("?"), k("x")}, []check{overlayIs(overlayNone)}},
		{"help does not act on keys", []tea.Msg{k("?"), k("p")}, []check{calls()}},
		{"a bad magnet shows the engine's error and adds nothing", []tea.Msg{k("a"), tea.PasteMsg{Content: "magnet:?dn=nothing"}, k("enter")},
			[]check{overlayIs(overlayAdd), rows(5), func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
				if m.add.err != "parse magnet link: missing xt" {
					t.Errorf("dialog error %q", m.add.err)
				}
			}}},
		{"an empty add says what to type", []tea.Msg{k("a"), k("enter")}, []check{calls(), overlayIs(overlayAdd), func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			if m.add.err == "" {
				t.Error("no hint")
			}
		}}},
		{"a good magnet closes the dialog and selects it", []tea.Msg{k("a"), tea.PasteMsg{Content: "  magnet:?xt=urn:btih:" + ihPaused + "\n"}, k("enter")},
			[]check{overlayIs(overlayNone), calls("add magnet:?xt=urn:btih:" + ihPaused), selected(ihPaused), toast("added debian")}},
		{"typing q in the add dialog types it", []tea.Msg{k("a"), k("q")}, []check{overlayIs(overlayAdd), func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			if m.add.in.String() != "q" {
				t.Errorf("input %q", m.add.in.String())
			}
		}}},
		{"pasted escape sequences never reach the input", []tea.Msg{k("a"), tea.PasteMsg{Content: "\x1b[31mred\x1b]52;c;Zm9v\x07\u202e"}}, []check{func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			if v := m.add.in.String(); strings.ContainsAny(v, "\x1b\x07\u202e") {
				t.Errorf("input kept control characters: %q", v)
			}
		}}},
		{"pasting on the list opens the add dialog", []tea.Msg{tea.PasteMsg{Content: "magnet:?xt=urn:btih:abc\n"}}, []check{overlayIs(overlayAdd), func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			if m.add.in.String() != "magnet:?xt=urn:btih:abc" {
				t.Errorf("input %q", m.add.in.String())
			}
		}}},
		{"esc leaves the add dialog", []tea.Msg{k("a"), k("esc")}, []check{overlayIs(overlayNone), calls()}},
		{"enter opens the detail view on peers", []tea.Msg{k("enter")}, []check{inTab(tabPeers)}},
		{"tabs by number, tab and shift+tab", []tea.Msg{k("enter"), k("3"), k("tab"), k("shift+tab"), k("shift+tab")}, []check{inTab(tabPieces)}},
		{"the piece map asks for availability, other tabs do not", []tea.Msg{k("enter"), k("4"), k("2")}, []check{func(t *testing.T, _ *Model, eng *fakeEngine, _ []tea.Msg) {
			if got := eng.Calls(); !reflect.DeepEqual(got, []string{"availability " + ihUbuntu}) {
				t.Errorf("calls %q", got)
			}
		}}},
		{"a tab's number on the list opens that tab", []tea.Msg{k("j"), k("3")}, []check{inTab(tabFiles)}},
		{"esc goes back to the list", []tea.Msg{k("enter"), k("esc")}, []check{inList}},
		{"the detail view closes when its torrent is removed", []tea.Msg{k("enter"), without(ihUbuntu)}, []check{inList, toast("no longer")}},
		{"actions work in the detail view", []tea.Msg{k("j"), k("enter"), k("p")}, []check{calls("pause " + ihBunny)}},
		{"peers sort", []tea.Msg{k("enter"), k("s"), k("s"), k("s")}, []check{func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			p := m.detail.peers.peers
			if peerSortKeys[m.detail.peers.sortBy] != "addr" || !slices.IsSortedFunc(p, func(a, b swarm.PeerView) int { return strings.Compare(a.Addr, b.Addr) }) {
				t.Errorf("not sorted by address")
			}
		}}},
		{"file priority up", []tea.Msg{k("j"), k("enter"), k("3"), k("j"), k("j"), k("j"), k("j"), k("+")}, []check{calls("priority " + ihBunny + " 0 high")}},
		{"file priority down", []tea.Msg{k("j"), k("enter"), k("3"), k("j"), k("j"), k("j"), k("j"), k("-")}, []check{calls("priority " + ihBunny + " 0 skip")}},
		{"no priority below skip", []tea.Msg{k("j"), k("enter"), k("3"), k("j"), k("-")}, []check{calls()}},
		{"folder priority up sets every file under it", []tea.Msg{k("j"), k("enter"), k("3"), k("j"), k("=")}, []check{calls("priority "+ihBunny+" 3 normal", "priority "+ihBunny+" 2 normal")}},
		{"a mixed folder goes to normal", []tea.Msg{k("j"), k("enter"), k("3"), k("+")}, []check{calls("priority "+ihBunny+" 3 normal", "priority "+ihBunny+" 2 normal", "priority "+ihBunny+" 0 normal", "priority "+ihBunny+" 1 normal")}},
		{"folding a folder hides its files", []tea.Msg{k("j"), k("enter"), k("3"), k("enter")}, []check{func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			if n := len(m.detail.files.visible); n != 1 {
				t.Errorf("%d rows visible, want 1", n)
			}
		}}},
		{"click selects a row", []tea.Msg{click(10, listTop+3)}, []check{selected(ihMagnet), inList}},
		{"a second click opens it", []tea.Msg{click(10, listTop+3), click(10, listTop+3)}, []check{inTab(tabPeers)}},
		{"click below the rows does nothing", []tea.Msg{click(10, 15)}, []check{selected(ihUbuntu)}},
		{"click a tab", []tea.Msg{k("enter"), click(12, detailTab)}, []check{inTab(tabPieces)}},
		{"wheel scrolls the list", []tea.Msg{wheel(true)}, []check{selected(ihUbuntu)}},
		{"wheel in the peers tab scrolls", []tea.Msg{tea.WindowSizeMsg{Width: 80, Height: 10}, k("enter"), wheel(true), wheel(true)}, []check{func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			if m.detail.peers.offset != 6 {
				t.Errorf("offset %d, want 6", m.detail.peers.offset)
			}
		}}},
		{"action errors show on the message line", []tea.Msg{actionMsg{text: "pause x", err: errors.New("x: torrent not found\nmore")}}, []check{toast("pause x: x: torrent not found"), func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			if !m.toastErr {
				t.Error("not shown as an error")
			}
		}}},
		{"the message line clears itself", []tea.Msg{k("w"), clearToastMsg{id: 1}}, []check{func(t *testing.T, m *Model, _ *fakeEngine, _ []tea.Msg) {
			if m.toast != "" {
				t.Errorf("toast %q", m.toast)
			}
		}}},
		{"an old clear does not clear a newer message", []tea.Msg{k("w"), k("w"), clearToastMsg{id: 1}}, []check{toast("data:")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, eng := newTestModel(fixtureSnapshot(), 80, 24)
			var msgs []tea.Msg
			for _, msg := range c.msgs {
				_, cmd := m.Update(msg)
				// Run what Update asked for and feed the results back, as
				// the program would.
				for _, out := range runAll(cmd) {
					msgs = append(msgs, out)
					if fmt.Sprintf("%T", out) == "tea.setClipboardMsg" {
						continue
					}
					_, next := m.Update(out)
					for _, o2 := range runAll(next) {
						msgs = append(msgs, o2)
						m.Update(o2)
					}
				}
				// The engine publishes after an add: give the UI the
				// snapshot with the added torrent in it.
				if r, ok := msg.(tea.KeyPressMsg); ok && r.String() == "enter" && m.overlay == overlayNone && !m.inDetail {
					m.Update(snapshotMsg{snap: fixtureSnapshot()})
				}
				checkScreen(t, m.Render(), m.w, m.h)
			}
			for _, ch := range c.checks {
				ch(t, m, eng, msgs)
			}
		})
	}
}

// Any size, including none, renders a frame of exactly that size; so does
// a resize between frames, on every screen.
func TestResizeAnySize(t *testing.T) {
	sizes := [][2]int{{0, 0}, {1, 1}, {0, 24}, {80, 0}, {2, 2}, {10, 3}, {20, 5}, {39, 9}, {80, 24}, {200, 60}, {80, 24}}
	screens := [][]tea.Msg{nil, {keyPress("enter")}, {keyPress("enter"), keyPress("2")}, {keyPress("enter"), keyPress("3")},
		{keyPress("enter"), keyPress("4")}, {keyPress("enter"), keyPress("5")}, {keyPress("?")}, {keyPress("a")}, {keyPress("d")},
		{keyPress("j"), keyPress("j"), keyPress("enter"), keyPress("3")}}
	for i, steps := range screens {
		m, _ := newTestModel(fixtureSnapshot(), 80, 24)
		for _, s := range steps {
			m.Update(s)
		}
		for _, sz := range sizes {
			m.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			checkScreen(t, m.Render(), sz[0], sz[1])
			// Parts are made to fit, not just cut by the frame.
			if fw := cells(m.footer); fw > max(0, sz[0]) {
				t.Errorf("%dx%d: footer %d cells", sz[0], sz[1], fw)
			}
			if sw := cells(m.statusBar()); sw > max(0, sz[0]) && sz[0] >= 20 {
				t.Errorf("%dx%d: status bar %d cells", sz[0], sz[1], sw)
			}
			m.Update(snapshotMsg{snap: fixtureSnapshot()})
			checkScreen(t, m.Render(), sz[0], sz[1])
			_ = i
		}
	}
}

// A torrent name with escape sequences reaches the screen as visible text:
// the engine filters names, and the UI filters again on the way out.
func TestEscapesInNamesNeverReachTheTerminal(t *testing.T) {
	s := fixtureSnapshot()
	s.Torrents[0].Name = "evil\x1b]52;c;Zm9v\x07\x1b[2J\u202eexe.txt"
	s.Torrents[0].Peers[0].Client = "\x1b[31mclient"
	s.Torrents[0].Files[0].Path = "dir/\x1b[1mfile"
	s.Torrents[0].Trackers[0].LastError = "\x1b[2Jboom"
	s.Torrents[0].Err = "\x9b31m"
	for _, steps := range [][]tea.Msg{nil, {keyPress("enter")}, {keyPress("enter"), keyPress("3")}, {keyPress("enter"), keyPress("4")}} {
		m, _ := newTestModel(s, 120, 30)
		for _, st := range steps {
			m.Update(st)
		}
		out := m.Render()
		for _, bad := range []string{"\x1b]52", "\x1b[2J", "\u202e", "\x1b[1mfile", "\x1b[31mclient", "\x07", "\x9b"} {
			if strings.Contains(out, bad) {
				t.Errorf("raw %q on screen", bad)
			}
		}
	}
}

func TestCompletePath(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"release-1.torrent", "release-2.torrent", "readme.txt", "releases/", "other/", ".hidden.torrent"} {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			os.MkdirAll(full, 0o755)
		} else {
			os.WriteFile(full, nil, 0o644)
		}
	}
	os.Symlink(filepath.Join(dir, "other"), filepath.Join(dir, "linked"))
	cases := []struct {
		in, want string
		cands    []string
	}{
		{dir + "/rel", dir + "/release", []string{"release-1.torrent", "release-2.torrent", "releases/"}},
		{dir + "/release-1", dir + "/release-1.torrent", nil},
		{dir + "/oth", dir + "/other/", nil},
		{dir + "/lin", dir + "/linked/", nil},
		{dir + "/read", dir + "/read", nil}, // only folders and .torrent files
		{dir + "/.h", dir + "/.hidden.torrent", nil},
		{dir + "/nothing", dir + "/nothing", nil},
		{"~/rel", "~/release", []string{"release-1.torrent", "release-2.torrent", "releases/"}},
		{"magnet:?xt=urn:btih:ab", "magnet:?xt=urn:btih:ab", nil},
		{dir + "/missing/x", dir + "/missing/x", nil},
	}
	for _, c := range cases {
		got, cands := completePath(c.in, dir, os.ReadDir)
		if got != c.want || !reflect.DeepEqual(cands, c.cands) {
			t.Errorf("completePath(%q) = %q %q, want %q %q", c.in, got, cands, c.want, c.cands)
		}
	}
}

// Tab in the add dialog completes through a command, and a completion
// that arrives after the input changed is dropped.
func TestAddDialogCompletion(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "only.torrent"), nil, 0o644)
	m, _ := newTestModel(&swarm.Snapshot{Time: t0}, 80, 24)
	m.Update(keyPress("a"))
	m.Update(tea.PasteMsg{Content: dir + "/on"})
	_, cmd := m.Update(keyPress("tab"))
	msgs := runAll(cmd)
	if len(msgs) != 1 {
		t.Fatalf("tab gave %v", msgs)
	}
	stale := msgs[0].(completionMsg)
	m.Update(keyPress("x"))
	m.Update(stale)
	if got := m.add.in.String(); got != dir+"/onx" {
		t.Errorf("a stale completion changed the input to %q", got)
	}
	m.Update(keyPress("backspace"))
	m.Update(stale)
	if got := m.add.in.String(); got != dir+"/only.torrent" {
		t.Errorf("input %q", got)
	}
}

// Every key on every screen of every kind of torrent (downloading,
// seeding, without metadata, paused, in error): nothing panics and the
// frame keeps its size.
func TestEveryKeyOnEveryScreen(t *testing.T) {
	var all []string
	for _, b := range DefaultKeyMap().All() {
		all = append(all, b.Keys()...)
	}
	snap := fixtureSnapshot()
	for row := range snap.Torrents {
		for _, screen := range []string{"", "1", "2", "3", "4", "5"} {
			for _, k := range all {
				m, _ := newTestModel(snap, 80, 24)
				m.list.moveTo(row)
				if screen != "" {
					m.Update(keyPress("enter"))
					m.Update(keyPress(screen))
				}
				_, cmd := m.Update(keyPress(k))
				for _, msg := range runAll(cmd) {
					if fmt.Sprintf("%T", msg) != "tea.setClipboardMsg" {
						m.Update(msg)
					}
				}
				checkScreen(t, m.Render(), 80, 24)
			}
		}
	}
}
