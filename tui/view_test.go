package tui

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"shoal/swarm"
)

// feedHistory sends the model five minutes of snapshots whose rates rise
// and fall, ending with s itself at t0: the rate graphs have a shape.
func feedHistory(m *Model, s *swarm.Snapshot) {
	for i := 299; i >= 1; i-- {
		c := *s
		c.Time = t0.Add(-time.Duration(i) * time.Second)
		c.Torrents = append([]swarm.TorrentView(nil), s.Torrents...)
		wave := 0.5 + 0.5*math.Sin(float64(i)/30)
		c.DownRate, c.UpRate = s.DownRate*wave, s.UpRate*(1-wave)
		for j := range c.Torrents {
			c.Torrents[j].DownRate *= wave
			c.Torrents[j].UpRate *= 1 - wave
		}
		m.Update(snapshotMsg{snap: &c})
	}
	m.Update(snapshotMsg{snap: s})
}

func TestGoldenScreens(t *testing.T) {
	type step = tea.Msg
	cases := []struct {
		name  string
		w, h  int
		snap  *swarm.Snapshot
		steps []step
		avail bool
	}{
		{name: "list-80x24", w: 80, h: 24, snap: fixtureSnapshot()},
		{name: "list-empty-80x24", w: 80, h: 24, snap: &swarm.Snapshot{Time: t0, ListenAddr: "[::]:42069"}},
		{name: "list-starting-80x24", w: 80, h: 24},
		{name: "list-sorted-filtered-80x24", w: 80, h: 24, snap: fixtureSnapshot(),
			steps: []step{keyPress("s"), keyPress("s"), keyPress("s"), keyPress("/"), keyPress("i"), keyPress("enter"), keyPress("space")}},
		{name: "list-120x30", w: 120, h: 30, snap: fixtureSnapshot()},
		{name: "list-40x12", w: 40, h: 12, snap: fixtureSnapshot()},
		{name: "peers-80x24", w: 80, h: 24, snap: fixtureSnapshot(), steps: []step{keyPress("enter")}},
		{name: "peers-by-client-120x30", w: 120, h: 30, snap: fixtureSnapshot(), steps: []step{keyPress("enter"), keyPress("s"), keyPress("s"), keyPress("s"), keyPress("s")}},
		{name: "pieces-80x24", w: 80, h: 24, snap: fixtureSnapshot(), avail: true, steps: []step{keyPress("enter"), keyPress("2")}},
		{name: "files-80x24", w: 80, h: 24, snap: fixtureSnapshot(), steps: []step{keyPress("j"), keyPress("enter"), keyPress("3"), keyPress("j")}},
		{name: "trackers-80x24", w: 80, h: 24, snap: fixtureSnapshot(), steps: []step{keyPress("enter"), keyPress("4")}},
		{name: "rates-80x24", w: 80, h: 24, snap: fixtureSnapshot(), steps: []step{keyPress("enter"), keyPress("5")}},
		{name: "metadata-pieces-80x24", w: 80, h: 24, snap: fixtureSnapshot(), steps: []step{keyPress("j"), keyPress("j"), keyPress("enter"), keyPress("2")}},
		{name: "error-detail-80x24", w: 80, h: 24, snap: fixtureSnapshot(), steps: []step{keyPress("G"), keyPress("enter"), keyPress("4")}},
		{name: "help-80x24", w: 80, h: 24, snap: fixtureSnapshot(), steps: []step{keyPress("?")}},
		{name: "add-error-80x24", w: 80, h: 24, snap: fixtureSnapshot(),
			steps: []step{keyPress("a"), tea.PasteMsg{Content: "magnet:?xt=urn:btih:zz\n"},
				addResultMsg{raw: "magnet:?xt=urn:btih:zz", err: fmt.Errorf("parse magnet link: infohash \"zz\": want 40 hex or 32 base32 characters\nmore")}}},
		{name: "confirm-delete-80x24", w: 80, h: 24, snap: fixtureSnapshot(), steps: []step{keyPress("j"), keyPress("D")}},
		{name: "toast-80x24", w: 80, h: 24, snap: fixtureSnapshot(), steps: []step{keyPress("w")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, eng := newTestModel(nil, c.w, c.h)
			if c.snap != nil {
				feedHistory(m, c.snap)
			}
			if c.avail {
				eng.avail[ihUbuntu] = fixtureAvailability(1200)
			}
			for _, s := range c.steps {
				_, cmd := m.Update(s)
				runCmd(m, cmd, 0)
			}
			out := m.Render()
			checkScreen(t, out, c.w, c.h)
			golden(t, c.name, out)
		})
	}
}

// runCmd runs a command the way the program would and feeds back what it
// returns.
func runCmd(m *Model, cmd tea.Cmd, depth int) {
	if depth > 5 {
		return
	}
	for _, msg := range runAll(cmd) {
		if fmt.Sprintf("%T", msg) == "tea.setClipboardMsg" {
			continue
		}
		_, next := m.Update(msg)
		runCmd(m, next, depth+1)
	}
}

func fixtureAvailability(n int) []uint16 {
	a := make([]uint16, n)
	for i := range a {
		a[i] = uint16((i / 40) % 7)
	}
	return a
}

// The piece map of a 100,000-piece torrent still reads: one cell per many
// pieces, the glyph by how much is done, nothing wider than the screen.
func TestGoldenPieceMap100k(t *testing.T) {
	const n = 100_000
	s := fixtureSnapshot()
	tv := &s.Torrents[0]
	tv.NumPieces = n
	tv.PieceLength = 64 << 10
	tv.Pieces = make([]swarm.PieceState, n)
	for i := range tv.Pieces {
		switch {
		case i < 30_000:
			tv.Pieces[i] = swarm.PieceComplete
		case i < 60_000 && i%4 == 0:
			tv.Pieces[i] = swarm.PieceComplete
		case i >= 90_000:
			tv.Pieces[i] = swarm.PieceSkipped
		case i%97 == 0:
			tv.Pieces[i] = swarm.PiecePartial
		}
	}
	c := &common{keys: ptr(DefaultKeyMap()), styles: DefaultStyles(), now: fixedNow}
	p := newPiecesTab(c)
	p.SetSize(80, 14)
	p.setTorrent(tv)
	p.setAvailability(ihUbuntu, fixtureAvailability(n))
	out := p.View()
	checkScreen(t, out, 80, 14)
	if !strings.Contains(out, "1 cell ≈ 104.2 pieces") {
		t.Errorf("legend does not give the scale:\n%s", out)
	}
	golden(t, "component-pieces-100k-80x14", out)
}

func ptr[T any](v T) *T { return &v }

// Each component on its own, at a fixed size.
func TestGoldenComponents(t *testing.T) {
	c := &common{keys: ptr(DefaultKeyMap()), styles: DefaultStyles(), now: fixedNow}
	s := fixtureSnapshot()
	h := newHistory()
	h.observe(s)

	list := newTorrentList(c)
	list.SetSize(80, 8)
	list.setSnapshot(s)
	list.move(1)
	golden(t, "component-list-80x8", list.View())

	peers := newPeersTab(c)
	peers.SetSize(80, 8)
	peers.setTorrent(&s.Torrents[0])
	peers.scroll(2)
	golden(t, "component-peers-80x8", peers.View())

	files := newFilesTab(c)
	files.SetSize(80, 8)
	files.setTorrent(&s.Torrents[1])
	golden(t, "component-files-80x8", files.View())

	tr := newTrackersTab(c)
	tr.SetSize(80, 12)
	tr.setTorrent(&s.Torrents[0])
	golden(t, "component-trackers-80x12", tr.View())

	rates := newRatesTab(c, h)
	rates.SetSize(60, 8)
	rates.setTorrent(&s.Torrents[0])
	golden(t, "component-rates-60x8", rates.View())

	add := newAddDialog(c)
	add.SetSize(60, 10)
	add.in.set("~/Downloads/rel")
	add.candidates = []string{"release-1.torrent", "release-2.torrent", "releases/"}
	golden(t, "component-add-60", add.View())

	conf := &confirmDialog{c: c, ihs: []string{ihBunny}, names: []string{"Big Buck Bunny"}, dataDirs: []string{"/srv/media"}}
	conf.SetSize(60, 10)
	golden(t, "component-confirm-60", conf.View())

	golden(t, "component-help-100x30", helpView(c, 100, 30))

	m, _ := newTestModel(s, 60, 10)
	golden(t, "component-statusbar-60", m.statusBar())
	m.setSize(120, 10)
	golden(t, "component-statusbar-120", m.statusBar())
}
