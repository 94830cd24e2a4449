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

var peerSortKeys = []string{"down", "up", "progress", "addr", "client", "source"}

// peersTab lists a torrent's connected peers. Sorting happens when a
// snapshot arrives, so View only formats the rows on screen.
type peersTab struct {
	c      *common
	w, h   int
	peers  []swarm.PeerView
	sortBy int
	desc   bool
	offset int
}

func newPeersTab(c *common) *peersTab { return &peersTab{c: c, desc: true} }

func (p *peersTab) SetSize(w, h int) {
	p.w, p.h = w, h
	p.scroll(0)
}

func (p *peersTab) bodyHeight() int { return max(0, p.h-2) } // header and legend

func (p *peersTab) setTorrent(t *swarm.TorrentView) {
	p.peers = append(p.peers[:0], t.Peers...)
	by := peerSortKeys[p.sortBy]
	slices.SortStableFunc(p.peers, func(a, b swarm.PeerView) int {
		var c int
		switch by {
		case "down":
			c = cmp.Compare(a.DownRate, b.DownRate)
		case "up":
			c = cmp.Compare(a.UpRate, b.UpRate)
		case "progress":
			c = cmp.Compare(a.Progress, b.Progress)
		case "addr":
			c = cmp.Compare(a.Addr, b.Addr)
		case "client":
			c = cmp.Compare(strings.ToLower(a.Client), strings.ToLower(b.Client))
		case "source":
			c = cmp.Compare(a.Source, b.Source)
		}
		if p.desc {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(a.Addr, b.Addr) // a stable order between equal rates
		}
		return c
	})
	p.scroll(0)
}

func (p *peersTab) cycleSort(t *swarm.TorrentView) {
	p.sortBy = (p.sortBy + 1) % len(peerSortKeys)
	switch peerSortKeys[p.sortBy] {
	case "down", "up", "progress":
		p.desc = true
	default:
		p.desc = false
	}
	p.setTorrent(t)
}

func (p *peersTab) reverse(t *swarm.TorrentView) {
	p.desc = !p.desc
	p.setTorrent(t)
}

func (p *peersTab) scroll(delta int) {
	p.offset = max(0, min(p.offset+delta, len(p.peers)-p.bodyHeight()))
}

func (p *peersTab) View() string {
	if p.w <= 0 || p.h <= 0 {
		return ""
	}
	st := p.c.styles
	type col struct {
		title, sort string
		width       int
		right       bool
	}
	cols := []col{
		{"address", "addr", 21, false},
		{"flags", "", 6, false},
		{"have", "progress", 4, true},
		{"↓", "down", 6, true},
		{"↑", "up", 6, true},
		{"source", "source", 8, false},
	}
	if p.w >= 110 {
		cols = append(cols, col{"got", "", 6, true}, col{"sent", "", 6, true})
	}
	fixed := 0
	for _, c := range cols {
		fixed += c.width + 1
	}
	clientW := max(0, p.w-fixed)
	by := peerSortKeys[p.sortBy]
	arrow := "▲"
	if p.desc {
		arrow = "▼"
	}
	var hb strings.Builder
	for i, c := range cols {
		if i > 0 {
			hb.WriteString(" ")
		}
		t := c.title
		if c.sort == by {
			t += arrow
		}
		if c.right {
			hb.WriteString(fitRight(t, c.width))
		} else {
			hb.WriteString(fit(t, c.width))
		}
	}
	ct := "client"
	if by == "client" {
		ct += arrow
	}
	hb.WriteString(" " + fit(ct, clientW))
	lines := []string{st.header.paint(hb.String())}
	if len(p.peers) == 0 {
		lines = append(lines, st.muted.paint(" No peers connected."))
	}
	end := min(len(p.peers), p.offset+p.bodyHeight())
	var b strings.Builder
	for i := p.offset; i < end; i++ {
		pv := &p.peers[i]
		b.Reset()
		b.WriteString(fit(textsafe.String(pv.Addr), 21))
		b.WriteString(" ")
		b.WriteString(peerFlags(pv))
		b.WriteString(" ")
		b.WriteString(fitRight(strconv.Itoa(int(pv.Progress*100)), 3) + "%")
		b.WriteString(" ")
		b.WriteString(st.down.paint(fitRight(compactRate(pv.DownRate), 6)))
		b.WriteString(" ")
		b.WriteString(st.up.paint(fitRight(compactRate(pv.UpRate), 6)))
		b.WriteString(" ")
		b.WriteString(fit(textsafe.String(pv.Source), 8))
		if len(cols) > 6 {
			b.WriteString(" " + fitRight(compactSize(pv.Downloaded), 6))
			b.WriteString(" " + fitRight(compactSize(pv.Uploaded), 6))
		}
		b.WriteString(" ")
		b.WriteString(fit(textsafe.String(pv.Client), clientW))
		lines = append(lines, b.String())
	}
	for len(lines) < p.h-1 {
		lines = append(lines, "")
	}
	more := ""
	if len(p.peers) > p.bodyHeight() {
		more = strconv.Itoa(p.offset+1) + "-" + strconv.Itoa(end) + " of " + strconv.Itoa(len(p.peers)) + " · "
	}
	lines = append(lines, st.muted.paint(more+"I incoming  E encrypted  U uTP  S seed  c choking us  i interested"))
	return strings.Join(lines, "\n")
}

// peerFlags is six fixed positions, "·" where a flag is off, so columns
// of flags line up and read at a glance.
func peerFlags(p *swarm.PeerView) string {
	var out strings.Builder
	for _, f := range []struct {
		on bool
		c  string
	}{{p.Incoming, "I"}, {p.Encrypted, "E"}, {p.UTP, "U"}, {p.Seed, "S"}, {p.PeerChoking, "c"}, {p.PeerInterested, "i"}} {
		if f.on {
			out.WriteString(f.c)
		} else {
			out.WriteString("·")
		}
	}
	return out.String()
}

func (p *peersTab) ShortHelp() []key.Binding {
	k := p.c.keys
	return []key.Binding{k.Back, k.Help, k.NextTab, k.Sort, k.Reverse, k.Pause, k.Quit}
}

func (p *peersTab) FullHelp() [][]key.Binding { return p.c.keys.FullHelp() }
