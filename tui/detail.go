package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"

	"shoal/swarm"
)

// Tabs of the detail view, in order.
const (
	tabPeers = iota
	tabPieces
	tabFiles
	tabTrackers
	tabRates
	numTabs
)

var tabNames = [numTabs]string{"Peers", "Pieces", "Files", "Trackers & sources", "Rates"}

// detailView is one torrent: a header line, the tab bar, and the tab.
type detailView struct {
	c        *common
	w, h     int
	t        *swarm.TorrentView
	tab      int
	peers    *peersTab
	pieces   *piecesTab
	files    *filesTab
	trackers *trackersTab
	rates    *ratesTab
}

func newDetailView(c *common, h *history) *detailView {
	return &detailView{
		c:        c,
		peers:    newPeersTab(c),
		pieces:   newPiecesTab(c),
		files:    newFilesTab(c),
		trackers: newTrackersTab(c),
		rates:    newRatesTab(c, h),
	}
}

// tab is what each tab of the detail view is: a component that shows one
// torrent.
type tab interface {
	component
	setTorrent(t *swarm.TorrentView)
}

func (d *detailView) tabs() [numTabs]tab {
	return [numTabs]tab{d.peers, d.pieces, d.files, d.trackers, d.rates}
}

func (d *detailView) current() tab { return d.tabs()[d.tab] }

func (d *detailView) SetSize(w, h int) {
	d.w, d.h = w, h
	bh := max(0, h-2)
	for _, t := range d.tabs() {
		t.SetSize(w, bh)
	}
}

// setTorrent takes the torrent's latest view. Only the tab on screen
// digests it (sorting peers, building the piece map); another tab catches
// up when it is shown.
func (d *detailView) setTorrent(t *swarm.TorrentView) {
	if d.t == nil || d.t.InfoHash != t.InfoHash {
		d.peers.offset, d.trackers.offset = 0, 0
	}
	d.t = t
	d.current().setTorrent(t)
}

func (d *detailView) setTab(i int) {
	d.tab = (i%numTabs + numTabs) % numTabs
	if d.t != nil {
		d.current().setTorrent(d.t)
	}
}

// tabBar returns the tab bar and, per tab, the x range a click selects.
func (d *detailView) tabBar() (string, [numTabs][2]int) {
	st := d.c.styles
	var b strings.Builder
	var spans [numTabs][2]int
	x := 0
	for i, name := range tabNames {
		label := " " + strconv.Itoa(i+1) + " " + name + " "
		if d.w < 70 && i == tabTrackers {
			label = " " + strconv.Itoa(i+1) + " Trackers "
		}
		w := len([]rune(label))
		spans[i] = [2]int{x, x + w}
		x += w
		if i == d.tab {
			b.WriteString(st.activeTab.paint(label))
		} else {
			b.WriteString(st.tab.paint(label))
		}
	}
	return b.String(), spans
}

// tabAt is the tab under x on the tab bar, for mouse clicks.
func (d *detailView) tabAt(x int) (int, bool) {
	_, spans := d.tabBar()
	for i, s := range spans {
		if x >= s[0] && x < s[1] {
			return i, true
		}
	}
	return 0, false
}

func (d *detailView) header() string {
	t := d.t
	st := d.c.styles
	if t == nil {
		return ""
	}
	frac := percent(t.Done, t.Wanted)
	size := "size unknown"
	if t.HasInfo {
		size = compactSize(t.Done) + "/" + compactSize(t.Wanted)
	}
	right := " " + st.state[stateKey(t.State)].paint(stateLabel(t.State)) + " " + pct(frac) + " " + size +
		" " + st.down.paint("↓"+compactRate(t.DownRate)) + " " + st.up.paint("↑"+compactRate(t.UpRate)) +
		" peers " + strconv.Itoa(t.PeersConnected) + "/" + strconv.Itoa(t.PeersKnown)
	nameW := max(8, min(cells(displayName(t))+2, d.w-cells(right)))
	return st.title.paint(fit("‹ "+displayName(t), nameW)) + right
}

func (d *detailView) View() string { return strings.Join(d.viewLines(), "\n") }

// viewLines is View as lines, for the root to lay out without joining
// and splitting a piece map of hundreds of kilobytes.
func (d *detailView) viewLines() []string {
	if d.w <= 0 || d.h <= 0 {
		return nil
	}
	bar, _ := d.tabBar()
	return append([]string{d.header(), bar}, strings.Split(d.current().View(), "\n")...)
}

func (d *detailView) ShortHelp() []key.Binding  { return d.current().ShortHelp() }
func (d *detailView) FullHelp() [][]key.Binding { return d.c.keys.FullHelp() }
