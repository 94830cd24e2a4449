package tui

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
)

// addDialog asks for a magnet link, .torrent path or URL, or infohash.
// Tab completes paths from the file system (in a command: Update never
// reads the disk). A bad source keeps the dialog open with the engine's
// one-line reason, and nothing is added.
type addDialog struct {
	c          *common
	w          int
	in         lineInput
	err        string
	busy       bool
	candidates []string
}

func newAddDialog(c *common) *addDialog {
	return &addDialog{c: c, in: lineInput{limit: 8192}}
}

func (a *addDialog) SetSize(w, _ int) { a.w = w }

func (a *addDialog) reset() {
	a.in.set("")
	a.err, a.busy, a.candidates = "", false, nil
}

func (a *addDialog) View() string {
	st := a.c.styles
	k := a.c.keys
	w := max(10, min(a.w-4, 90))
	lines := []string{
		st.Title.Render("Add a torrent"),
		st.muted.paint(fit("magnet link, .torrent file or URL, or infohash (paste works)", w)),
		st.accent.paint("> ") + a.in.view(w-2, st.selected),
	}
	switch {
	case a.busy:
		lines = append(lines, st.muted.paint("adding…"))
	case a.err != "":
		lines = append(lines, st.errInk.paint(fit(a.err, w)))
	case len(a.candidates) > 0:
		shown := a.candidates
		if len(shown) > 6 {
			shown = shown[:6]
		}
		row := strings.Join(shown, "  ")
		if len(a.candidates) > len(shown) {
			row += "  …"
		}
		lines = append(lines, st.muted.paint(fit(row, w)))
	default:
		lines = append(lines, "")
	}
	lines = append(lines, st.muted.paint(fit(k.Submit.Help().Key+" add · "+k.Complete.Help().Key+" complete path · esc cancel", w)))
	return st.Dialog.Render(strings.Join(lines, "\n"))
}

func (a *addDialog) ShortHelp() []key.Binding {
	k := a.c.keys
	return []key.Binding{k.Submit, k.Complete, k.Back}
}

func (a *addDialog) FullHelp() [][]key.Binding { return a.c.keys.FullHelp() }

// looksLikePath tells whether completion should try the file system: not
// for links and infohashes.
func looksLikePath(s string) bool {
	l := strings.ToLower(s)
	return !strings.HasPrefix(l, "magnet:") && !strings.HasPrefix(l, "http://") && !strings.HasPrefix(l, "https://")
}

// completePath completes the last element of a path to the folders and
// .torrent files that start with it: one match completes fully (folders
// get a "/"), several complete their common prefix and are listed. home
// stands in for a leading "~".
func completePath(input, home string, readDir func(string) ([]os.DirEntry, error)) (string, []string) {
	if !looksLikePath(input) {
		return input, nil
	}
	dirPart, base := "", input
	if i := strings.LastIndex(input, "/"); i >= 0 {
		dirPart, base = input[:i+1], input[i+1:]
	}
	dir := dirPart
	switch {
	case dir == "":
		dir = "."
	case strings.HasPrefix(dir, "~/") && home != "":
		dir = filepath.Join(home, dir[2:])
	}
	entries, err := readDir(dir)
	if err != nil {
		return input, nil
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base) || (strings.HasPrefix(name, ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
				isDir = fi.IsDir()
			}
		}
		switch {
		case isDir:
			names = append(names, name+"/")
		case strings.HasSuffix(strings.ToLower(name), ".torrent"):
			names = append(names, name)
		}
	}
	sort.Strings(names)
	switch len(names) {
	case 0:
		return input, nil
	case 1:
		return dirPart + names[0], nil
	}
	prefix := names[0]
	for _, n := range names[1:] {
		for !strings.HasPrefix(n, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	if len(names) > 100 {
		names = names[:100]
	}
	return dirPart + prefix, names
}
