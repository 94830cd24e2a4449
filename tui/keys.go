package tui

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"charm.land/bubbles/v2/key"
)

// KeyMap is every key the UI answers to. One value is built by
// DefaultKeyMap, remapped from the config file, and passed to every
// component: the help overlay and the footer are generated from it, so what
// they say is what the keys do.
type KeyMap struct {
	// Moving around.
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Open, Back                              key.Binding
	NextTab, PrevTab, Tab                   key.Binding

	// The torrent list.
	Sort, Reverse, Filter, Mark key.Binding

	// Actions on the selected (or marked) torrents.
	Add, Pause, Remove, RemoveData, Verify, Copy, Where key.Binding

	// The files tab.
	Toggle, PriorityUp, PriorityDown key.Binding

	// Dialogs.
	Confirm, Cancel, Complete, Submit key.Binding

	Help, Quit key.Binding
}

// DefaultKeyMap returns the keys shoal ships with.
func DefaultKeyMap() KeyMap {
	b := func(desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(keyLabel(keys), desc))
	}
	return KeyMap{
		Up:       b("up", "up", "k"),
		Down:     b("down", "down", "j"),
		PageUp:   b("page up", "pgup"),
		PageDown: b("page down", "pgdown"),
		Top:      b("first", "home", "g"),
		Bottom:   b("last", "end", "G"),
		Open:     b("details", "enter"),
		Back:     b("back", "esc"),
		NextTab:  b("next tab", "tab"),
		PrevTab:  b("previous tab", "shift+tab"),
		Tab:      b("go to tab", "1", "2", "3", "4", "5"),

		Sort:    b("next sort column", "s"),
		Reverse: b("reverse sort", "S"),
		Filter:  b("filter", "/"),
		Mark:    b("mark", "space"),

		Add:        b("add torrent", "a"),
		Pause:      b("pause/resume", "p"),
		Remove:     b("remove", "d"),
		RemoveData: b("remove with data", "D"),
		Verify:     b("verify data", "v"),
		Copy:       b("copy magnet", "c"),
		Where:      b("show data folder", "w"),

		Toggle:       b("fold/unfold", "enter", "space"),
		PriorityUp:   b("priority up", "+", "="),
		PriorityDown: b("priority down", "-"),

		Confirm:  b("yes", "y"),
		Cancel:   b("cancel", "esc", "n"),
		Complete: b("complete path", "tab"),
		Submit:   b("add", "enter"),

		Help: b("help", "?"),
		Quit: b("quit", "q", "ctrl+c"),
	}
}

// keyLabel is the help text for a key list: "↑/k", "1-5".
func keyLabel(keys []string) string {
	if slices.Equal(keys, []string{"1", "2", "3", "4", "5"}) {
		return "1-5"
	}
	pretty := map[string]string{"up": "↑", "down": "↓", "left": "←", "right": "→"}
	out := make([]string, len(keys))
	for i, k := range keys {
		if p, ok := pretty[k]; ok {
			k = p
		}
		out[i] = k
	}
	return strings.Join(out, "/")
}

// named lists the bindings by the names the config file uses.
func (k *KeyMap) named() map[string]*key.Binding {
	return map[string]*key.Binding{
		"up": &k.Up, "down": &k.Down, "page_up": &k.PageUp, "page_down": &k.PageDown,
		"top": &k.Top, "bottom": &k.Bottom, "open": &k.Open, "back": &k.Back,
		"next_tab": &k.NextTab, "prev_tab": &k.PrevTab, "tabs": &k.Tab,
		"sort": &k.Sort, "reverse": &k.Reverse, "filter": &k.Filter, "mark": &k.Mark,
		"add": &k.Add, "pause": &k.Pause, "remove": &k.Remove, "remove_data": &k.RemoveData,
		"verify": &k.Verify, "copy": &k.Copy, "where": &k.Where,
		"toggle": &k.Toggle, "priority_up": &k.PriorityUp, "priority_down": &k.PriorityDown,
		"confirm": &k.Confirm, "cancel": &k.Cancel, "complete": &k.Complete, "submit": &k.Submit,
		"help": &k.Help, "quit": &k.Quit,
	}
}

// Remap replaces the keys of the named bindings (config file names, e.g.
// "remove_data"). An empty list unbinds the action. Unknown names are an
// error that lists the known ones.
func (k *KeyMap) Remap(m map[string][]string) error {
	named := k.named()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b, ok := named[n]
		if !ok {
			known := make([]string, 0, len(named))
			for kn := range named {
				known = append(known, kn)
			}
			sort.Strings(known)
			return fmt.Errorf("tui.keys: unknown action %q (known: %s)", n, strings.Join(known, ", "))
		}
		keys := m[n]
		for _, s := range keys {
			if strings.TrimSpace(s) == "" || s != strings.TrimSpace(s) {
				return fmt.Errorf("tui.keys.%s: bad key %q", n, s)
			}
		}
		if len(keys) == 0 {
			b.Unbind()
			continue
		}
		b.SetKeys(keys...)
		b.SetHelp(keyLabel(keys), b.Help().Desc)
	}
	return nil
}

// All returns every binding, for the tests that press each key.
func (k KeyMap) All() []key.Binding {
	named := k.named()
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]key.Binding, 0, len(names))
	for _, n := range names {
		out = append(out, *named[n])
	}
	return out
}

// ShortHelp is the footer of the torrent list.
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Add, k.Open, k.Help, k.Pause, k.Remove, k.Filter, k.Sort, k.Quit}
}

// FullHelp is the help overlay: every binding, grouped.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Open, k.Back, k.NextTab, k.PrevTab, k.Tab},
		{k.Add, k.Pause, k.Remove, k.RemoveData, k.Verify, k.Copy, k.Where, k.Mark, k.Filter, k.Sort, k.Reverse},
		{k.Toggle, k.PriorityUp, k.PriorityDown, k.Complete, k.Confirm, k.Cancel, k.Help, k.Quit},
	}
}

// helpGroupTitles name FullHelp's columns in the overlay.
var helpGroupTitles = []string{"Move", "Torrents", "Files · dialogs"}

// matches is key.Matches for a key press string; it keeps Update's
// switch statements short.
func matches(k string, b ...key.Binding) bool {
	for _, bb := range b {
		if bb.Enabled() && slices.Contains(bb.Keys(), k) {
			return true
		}
	}
	return false
}
