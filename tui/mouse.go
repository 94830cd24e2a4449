package tui

import (
	tea "charm.land/bubbletea/v2"
)

// Screen layout: the list screen is a title line, the list, then the
// message line, status bar and key footer; the detail screen puts its own
// header and tab bar where the title is.
const (
	listTop   = 1 // screen row of the list's column header
	detailTab = 1 // screen row of the tab bar
	tabTop    = 2 // screen row of a tab's first line
)

func (m *Model) click(ms tea.Mouse) tea.Cmd {
	if m.overlay != overlayNone || m.filtering || ms.Button != tea.MouseLeft {
		if m.overlay == overlayHelp {
			m.overlay = overlayNone
		}
		return nil
	}
	if !m.inDetail {
		i, ok := m.list.rowAt(ms.Y - listTop)
		if !ok {
			return nil
		}
		if i == m.list.cursor {
			return m.openDetail() // a second click on the selected row opens it
		}
		m.list.moveTo(i)
		return nil
	}
	if ms.Y == detailTab {
		if i, ok := m.detail.tabAt(ms.X); ok {
			m.detail.setTab(i)
			return m.fetchAvailability()
		}
		return nil
	}
	if ms.Y == 0 && ms.X < 2 {
		m.inDetail = false // the "‹" of the header
		return nil
	}
	if m.detail.tab == tabFiles {
		f := m.detail.files
		if i, ok := f.rowAt(ms.Y - tabTop); ok {
			if i == f.cursor {
				f.toggle()
			} else {
				f.moveTo(i)
			}
		}
	}
	return nil
}

func (m *Model) wheel(ms tea.Mouse) {
	if m.overlay != overlayNone {
		return
	}
	d := 0
	switch ms.Button {
	case tea.MouseWheelUp:
		d = -3
	case tea.MouseWheelDown:
		d = 3
	default:
		return
	}
	if !m.inDetail {
		m.list.scroll(d)
		return
	}
	switch m.detail.tab {
	case tabPeers:
		m.detail.peers.scroll(d)
	case tabFiles:
		m.detail.files.scroll(d)
	case tabTrackers:
		m.detail.trackers.scroll(d)
	}
}
