package tui

import (
	"path/filepath"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"

	"shoal/internal/textsafe"
)

// confirmDialog asks before removing torrents, saying whether their data
// goes too.
type confirmDialog struct {
	c          *common
	w          int
	ihs        []string
	names      []string
	dataDirs   []string
	deleteData bool
}

func (d *confirmDialog) SetSize(w, _ int) { d.w = w }

func (d *confirmDialog) View() string {
	st := d.c.styles
	k := d.c.keys
	w := max(10, min(d.w-4, 80))
	what := "\"" + d.names[0] + "\""
	if len(d.names) > 1 {
		what = strconv.Itoa(len(d.names)) + " torrents"
	}
	lines := []string{st.Title.Render(fit("Remove "+what+"?", w))}
	if d.deleteData {
		where := "its downloaded files"
		if len(d.names) == 1 {
			where = filepath.Join(textsafe.String(d.dataDirs[0]), d.names[0])
		}
		lines = append(lines, st.errInk.paint(fit("and DELETE the data: "+where, w)))
	} else {
		lines = append(lines, fit("The downloaded data stays on disk.", w))
	}
	lines = append(lines, "", st.muted.paint(fit(k.Confirm.Help().Key+" remove · "+k.Cancel.Help().Key+" keep it", w)))
	return st.Dialog.Render(strings.Join(lines, "\n"))
}

func (d *confirmDialog) ShortHelp() []key.Binding {
	return []key.Binding{d.c.keys.Confirm, d.c.keys.Cancel}
}

func (d *confirmDialog) FullHelp() [][]key.Binding { return d.c.keys.FullHelp() }

// helpView is the help overlay: every binding of the one key map, in
// titled columns that wrap to the width.
func helpView(c *common, w, h int) string {
	st := c.styles
	groups := c.keys.FullHelp()
	var cols []string
	for gi, g := range groups {
		keyW := 0
		for _, b := range g {
			if b.Enabled() {
				keyW = max(keyW, cells(b.Help().Key))
			}
		}
		title := ""
		if gi < len(helpGroupTitles) {
			title = helpGroupTitles[gi]
		}
		lines := []string{st.HelpTitle.Render(title)}
		for _, b := range g {
			if !b.Enabled() {
				continue
			}
			lines = append(lines, st.HelpKey.Render(fit(b.Help().Key, keyW))+" "+st.HelpDesc.Render(b.Help().Desc))
		}
		cols = append(cols, strings.Join(lines, "\n"))
	}
	// As many columns side by side as fit; the rest below.
	inner := max(10, w-4)
	var rows []string
	var row []string
	rowW := 0
	for _, col := range cols {
		cw := lipgloss.Width(col) + 2
		if rowW > 0 && rowW+cw > inner {
			rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
			row, rowW = nil, 0
		}
		if len(row) > 0 {
			col = "  " + strings.ReplaceAll(col, "\n", "\n  ")
		}
		row = append(row, col)
		rowW += cw
	}
	if len(row) > 0 {
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
	}
	body := st.Title.Render("Keys") + st.muted.paint(fit("  remap them in config.toml [tui.keys] · any key closes", inner-4)) + "\n\n" +
		strings.Join(rows, "\n\n") + "\n\n" +
		st.muted.paint(fit("Torrents stay in the session when shoal quits.", inner)) + "\n" +
		st.muted.paint(fit("Seeding runs only while shoal runs.", inner))
	if lipgloss.Height(body)+2 > h {
		// A short terminal: the columns side by side, cut at the bottom.
		lines := strings.Split(body, "\n")
		body = strings.Join(lines[:max(1, min(len(lines), h-2))], "\n")
	}
	return st.Dialog.Render(body)
}
