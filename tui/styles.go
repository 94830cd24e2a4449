package tui

import (
	"fmt"
	"image/color"
	"regexp"
	"sort"
	"strings"

	"charm.land/lipgloss/v2"
)

// Palette names every colour the UI uses; the config file's [tui.colors]
// overrides them by these names. The defaults are ANSI palette indexes, so
// they follow the terminal's own theme, light or dark.
type Palette map[string]string

// DefaultPalette is shoal's colours.
func DefaultPalette() Palette {
	return Palette{
		"accent":      "5", // titles, the active tab
		"muted":       "8", // headers, help, units
		"selected_fg": "0", // the cursor row
		"selected_bg": "6",
		"marked":      "3", // rows marked with space
		"down":        "2", // download rates and graph
		"up":          "4", // upload rates and graph
		"have":        "2", // verified pieces, progress bars
		"bar_empty":   "8", // the rest of a progress bar
		"seeding":     "2", // states
		"downloading": "6",
		"paused":      "8",
		"metadata":    "3",
		"checking":    "3",
		"error":       "1",
		"avail0":      "1", // missing pieces no connected peer has
		"avail1":      "3", // one peer has them
		"avail2":      "6", // two or three
		"avail3":      "4", // four or more
	}
}

var colorSyntax = regexp.MustCompile(`^(#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}|[0-9]{1,3})$`)

// Merge returns p with the overrides applied; it rejects unknown names and
// colours that are neither #rgb, #rrggbb nor an ANSI index 0-255.
func (p Palette) Merge(over map[string]string) (Palette, error) {
	out := Palette{}
	for k, v := range p {
		out[k] = v
	}
	names := make([]string, 0, len(over))
	for n := range over {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v := over[n]
		if _, ok := p[n]; !ok {
			known := make([]string, 0, len(p))
			for k := range p {
				known = append(known, k)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("tui.colors: unknown colour %q (known: %s)", n, strings.Join(known, ", "))
		}
		if !colorSyntax.MatchString(v) {
			return nil, fmt.Errorf("tui.colors.%s: %q is not #rrggbb, #rgb or 0-255", n, v)
		}
		if v[0] != '#' {
			var i int
			fmt.Sscan(v, &i)
			if i > 255 {
				return nil, fmt.Errorf("tui.colors.%s: %q is not #rrggbb, #rgb or 0-255", n, v)
			}
		}
		out[n] = v
	}
	return out, nil
}

// ink is a style reduced to the escape sequences around a run of text.
// Hot paths (rows, the piece map) paint with these: concatenating strings
// is far cheaper than lipgloss.Style.Render per cell.
type ink struct{ pre, post string }

func (k ink) paint(s string) string {
	if k.pre == "" || s == "" {
		return s
	}
	return k.pre + s + k.post
}

func inkOf(st lipgloss.Style) ink {
	const marker = "\x00"
	r := st.Render(marker)
	i := strings.Index(r, marker)
	if i < 0 {
		return ink{}
	}
	return ink{pre: r[:i], post: r[i+len(marker):]}
}

// Styles is every style the UI draws with, built once from a Palette.
// Views never create styles of their own.
type Styles struct {
	Title, Muted, Header, Selected, Marked, Error, Info lipgloss.Style
	ActiveTab, Tab                                      lipgloss.Style
	Dialog                                              lipgloss.Style
	HelpKey, HelpDesc, HelpTitle                        lipgloss.Style

	// Inks for rows and cells.
	muted, down, up, have, barEmpty, marked, errInk, accent, selected ink
	header, title, activeTab, tab, helpKey                            ink
	state                                                             map[string]ink
	prio                                                              map[string]ink
	// cell inks the piece map by glyph and availability level (see
	// pieces.go).
	cell [numGlyphs][numLevels]ink
}

// DefaultStyles builds Styles from DefaultPalette.
func DefaultStyles() *Styles {
	s, _ := NewStyles(DefaultPalette())
	return s
}

// NewStyles builds Styles from a palette.
func NewStyles(p Palette) (*Styles, error) {
	c := func(name string) color.Color {
		v, ok := p[name]
		if !ok {
			v = DefaultPalette()[name]
		}
		return lipgloss.Color(v)
	}
	fg := func(name string) lipgloss.Style { return lipgloss.NewStyle().Foreground(c(name)) }
	s := &Styles{
		Title:     fg("accent").Bold(true),
		Muted:     fg("muted"),
		Header:    fg("muted").Bold(true),
		Selected:  lipgloss.NewStyle().Foreground(c("selected_fg")).Background(c("selected_bg")),
		Marked:    fg("marked").Bold(true),
		Error:     fg("error").Bold(true),
		Info:      fg("accent"),
		ActiveTab: fg("accent").Bold(true).Underline(true),
		Tab:       fg("muted"),
		Dialog: lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).
			BorderForeground(c("accent")).Padding(0, 1),
		HelpKey:   fg("accent").Bold(true),
		HelpDesc:  lipgloss.NewStyle(),
		HelpTitle: fg("muted").Bold(true).Underline(true),
	}
	s.muted = inkOf(s.Muted)
	s.header, s.title = inkOf(s.Header), inkOf(s.Title)
	s.activeTab, s.tab = inkOf(s.ActiveTab), inkOf(s.Tab)
	s.helpKey = inkOf(s.HelpKey)
	s.accent = inkOf(s.Info)
	s.down = inkOf(fg("down"))
	s.up = inkOf(fg("up"))
	s.have = inkOf(fg("have"))
	s.barEmpty = inkOf(fg("bar_empty"))
	s.marked = inkOf(s.Marked)
	s.errInk = inkOf(s.Error)
	s.selected = inkOf(s.Selected)
	s.state = map[string]ink{}
	for _, st := range []string{"seeding", "downloading", "paused", "metadata", "checking", "error"} {
		s.state[st] = inkOf(fg(st))
	}
	s.prio = map[string]ink{
		"skip":   s.muted,
		"normal": {},
		"high":   inkOf(fg("accent").Bold(true)),
		"mixed":  s.accent,
	}
	levels := [numLevels]ink{
		levelUnknown: s.muted,
		level0:       inkOf(fg("avail0")),
		level1:       inkOf(fg("avail1")),
		level2:       inkOf(fg("avail2")),
		level3:       inkOf(fg("avail3")),
	}
	for g := range numGlyphs {
		for l := range numLevels {
			switch glyph(g) {
			case glyphComplete:
				s.cell[g][l] = s.have
			case glyphSkipped:
				s.cell[g][l] = s.muted
			default:
				s.cell[g][l] = levels[l]
			}
		}
	}
	return s, nil
}
