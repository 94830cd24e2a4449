package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"

	"shoal/swarm"
)

// A piece map cell shows one piece, or on a big torrent an even share of
// them: the glyph says how much of it is verified, the colour how many
// connected peers have its rarest missing piece.
type glyph int

const (
	glyphMissing glyph = iota
	glyphPartial       // a tenth of the cell's pieces verified, or one arriving
	glyphMostly        // at least half
	glyphComplete
	glyphSkipped // in no wanted file
	numGlyphs
)

var glyphs = [numGlyphs]string{"░", "▒", "▓", "█", "·"}

const (
	levelUnknown = iota // availability not fetched yet
	level0              // no connected peer has it
	level1
	level2 // 2-3 peers
	level3 // 4 or more
	numLevels
)

func availLevel(n uint16) int {
	switch {
	case n == 0:
		return level0
	case n == 1:
		return level1
	case n <= 3:
		return level2
	}
	return level3
}

// piecesTab draws the piece map. The map is built in Update (on a
// snapshot, on new availability, on resize) into lines of pre-painted
// cells, so View only joins strings however many pieces there are.
type piecesTab struct {
	c       *common
	w, h    int
	t       *swarm.TorrentView
	avail   []uint16 // for t, nil until fetched
	availIH string
	lines   []string
	legend  []string
	view    string // lines and legend laid out, what View returns
}

func newPiecesTab(c *common) *piecesTab { return &piecesTab{c: c} }

func (p *piecesTab) SetSize(w, h int) {
	if w == p.w && h == p.h {
		return
	}
	p.w, p.h = w, h
	p.rebuild()
}

func (p *piecesTab) setTorrent(t *swarm.TorrentView) {
	if p.availIH != t.InfoHash {
		p.avail, p.availIH = nil, ""
	}
	p.t = t
	p.rebuild()
}

func (p *piecesTab) setAvailability(ih string, avail []uint16) {
	if p.t == nil || ih != p.t.InfoHash {
		return
	}
	p.avail, p.availIH = avail, ih
	p.rebuild()
}

func (p *piecesTab) rebuild() {
	defer p.layout()
	p.lines, p.legend = p.lines[:0], p.legend[:0]
	t := p.t
	if t == nil || p.w <= 0 || p.h <= 0 {
		return
	}
	st := p.c.styles
	n := len(t.Pieces)
	if !t.HasInfo || n == 0 {
		p.lines = append(p.lines, st.muted.paint(" Waiting for the torrent's metadata from peers…"))
		return
	}
	mapH := max(1, p.h-2)
	w := p.w
	nCells := n
	if n > w*mapH {
		nCells = w * mapH
	}
	avail := p.avail
	if len(avail) != n {
		avail = nil
	}
	var have, partial, skipped, missingNoPeer int
	for _, ps := range t.Pieces {
		switch ps {
		case swarm.PieceComplete:
			have++
		case swarm.PiecePartial:
			partial++
		case swarm.PieceSkipped:
			skipped++
		}
	}
	// Cells of one class in a row are painted as one run: a row costs a
	// few escape sequences, not one per cell.
	var b strings.Builder
	runG, runL, runN := glyph(-1), 0, 0
	b.Grow(w * 4)
	flush := func() {
		if runN > 0 {
			k := st.cell[runG][runL]
			b.WriteString(k.pre)
			for range runN {
				b.WriteString(glyphs[runG])
			}
			if k.pre != "" {
				b.WriteString(k.post)
			}
		}
		runN = 0
	}
	for c := 0; c < nCells; c++ {
		lo := c * n / nCells
		hi := (c + 1) * n / nCells
		var done, part, skip int
		minAvail := uint16(0xffff)
		for i := lo; i < hi; i++ {
			switch t.Pieces[i] {
			case swarm.PieceComplete:
				done++
				continue
			case swarm.PiecePartial:
				part++
			case swarm.PieceSkipped:
				skip++
				continue
			}
			if avail != nil && avail[i] < minAvail {
				minAvail = avail[i]
			}
		}
		wanted := hi - lo - skip
		// A piece on its way counts for a third: one cell is one piece on
		// small torrents, where "arriving" must differ from "have".
		f := (float64(done) + float64(part)/3) / float64(max(1, wanted))
		g := glyphMissing
		switch {
		case wanted == 0:
			g = glyphSkipped
		case done == wanted:
			g = glyphComplete
		case f >= 0.5:
			g = glyphMostly
		case f >= 0.1:
			g = glyphPartial
		}
		lvl := levelUnknown
		if avail != nil && minAvail != 0xffff {
			lvl = availLevel(minAvail)
		}
		if g == glyphComplete || g == glyphSkipped {
			lvl = 0 // painted the same whatever the peers have
		}
		if g != runG || lvl != runL {
			flush()
			runG, runL = g, lvl
		}
		runN++
		if (c+1)%w == 0 || c == nCells-1 {
			flush()
			p.lines = append(p.lines, b.String())
			b.Reset()
			b.Grow(w * 4)
		}
	}
	for i, a := range avail { // nil until fetched
		if a == 0 && t.Pieces[i] != swarm.PieceComplete && t.Pieces[i] != swarm.PieceSkipped {
			missingNoPeer++
		}
	}
	scale := "1 cell = 1 piece"
	if nCells < n {
		scale = "1 cell ≈ " + strconv.FormatFloat(float64(n)/float64(nCells), 'f', 1, 64) + " pieces"
	}
	cell := func(g glyph, l int) string { return st.cell[g][l].paint(glyphs[g]) }
	p.legend = append(p.legend,
		cell(glyphComplete, 0)+" have "+cell(glyphMostly, level3)+cell(glyphPartial, level3)+" partly "+
			cell(glyphMissing, level3)+" missing "+cell(glyphSkipped, 0)+" skipped │ peers with it: "+
			cell(glyphMissing, level0)+"0 "+cell(glyphMissing, level1)+"1 "+
			cell(glyphMissing, level2)+"2-3 "+cell(glyphMissing, level3)+"4+")
	parts := []string{strconv.Itoa(n) + " pieces × " + compactSize(t.PieceLength), scale, strconv.Itoa(have) + " have"}
	if partial > 0 {
		parts = append(parts, strconv.Itoa(partial)+" partial")
	}
	if avail != nil && missingNoPeer > 0 {
		parts = append(parts, strconv.Itoa(missingNoPeer)+" on no peer")
	}
	if skipped > 0 {
		parts = append(parts, strconv.Itoa(skipped)+" skipped")
	}
	// As many facts as fit, most important first.
	info := parts[0]
	for _, part := range parts[1:] {
		if cells(info+" · "+part) > w {
			break
		}
		info += " · " + part
	}
	p.legend[0] = clip(p.legend[0], w)
	p.legend = append(p.legend, st.muted.paint(clip(info, w)))
}

func (p *piecesTab) View() string { return p.view }

// layout joins the map and its legend once per rebuild.
func (p *piecesTab) layout() {
	if p.w <= 0 || p.h <= 0 {
		p.view = ""
		return
	}
	lines := make([]string, 0, p.h)
	lines = append(lines, p.lines...)
	if len(p.legend) > 0 {
		for len(lines) < p.h-len(p.legend) {
			lines = append(lines, "")
		}
		lines = append(lines, p.legend...)
	}
	p.view = strings.Join(lines, "\n")
}

func (p *piecesTab) ShortHelp() []key.Binding {
	k := p.c.keys
	return []key.Binding{k.Back, k.Help, k.NextTab, k.Verify, k.Pause, k.Quit}
}

func (p *piecesTab) FullHelp() [][]key.Binding { return p.c.keys.FullHelp() }
