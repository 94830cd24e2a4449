package tui

import (
	"time"

	"charm.land/bubbles/v2/help"
)

// common is what every component shares: the one key map, the one Styles,
// and the clock (injected, so golden tests render the same text every run).
type common struct {
	keys   *KeyMap
	styles *Styles
	now    func() time.Time
}

// component is the contract of every part of the screen (after
// soft-serve's): it sizes to what the root gives it, renders without side
// effects, and tells the help footer which keys it answers to.
type component interface {
	help.KeyMap
	SetSize(w, h int)
	View() string
}

// clamp keeps a cursor and scroll offset inside n rows shown h at a time.
func clamp(cursor, offset, n, h int) (int, int) {
	if n <= 0 {
		return 0, 0
	}
	cursor = max(0, min(cursor, n-1))
	if h <= 0 {
		return cursor, cursor
	}
	if cursor < offset {
		offset = cursor
	}
	if cursor >= offset+h {
		offset = cursor - h + 1
	}
	offset = max(0, min(offset, n-h))
	offset = max(0, offset)
	return cursor, offset
}

var (
	_ component = (*torrentList)(nil)
	_ component = (*detailView)(nil)
	_ component = (*addDialog)(nil)
	_ component = (*confirmDialog)(nil)
	_ tab       = (*peersTab)(nil)
	_ tab       = (*piecesTab)(nil)
	_ tab       = (*filesTab)(nil)
	_ tab       = (*trackersTab)(nil)
	_ tab       = (*ratesTab)(nil)
)
