package tui

import (
	"strings"
	"unicode"

	tea "charm.land/bubbletea/v2"

	"shoal/internal/textsafe"
)

// lineInput is a one-line text field: the add dialog and the filter use
// it. It keeps only printable runes, so whatever is typed or pasted (a
// magnet link with a trailing newline, text with escape sequences) is
// echoed back as plain text.
type lineInput struct {
	value []rune
	pos   int
	limit int
}

func (in *lineInput) String() string { return string(in.value) }

func (in *lineInput) set(s string) {
	in.value = in.value[:0]
	in.pos = 0
	in.insert(s)
}

func (in *lineInput) insert(s string) {
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			r = ' '
		}
		if !unicode.IsPrint(r) && r != ' ' {
			continue
		}
		if textsafe.String(string(r)) != string(r) {
			continue // bidi controls and the like: never part of a link or path
		}
		if in.limit > 0 && len(in.value) >= in.limit {
			break
		}
		in.value = append(in.value, 0)
		copy(in.value[in.pos+1:], in.value[in.pos:])
		in.value[in.pos] = r
		in.pos++
	}
}

// paste inserts pasted text: surrounding blank space goes, since links are
// often copied with a newline.
func (in *lineInput) paste(s string) { in.insert(strings.TrimSpace(s)) }

// update edits the field; it reports whether the key was an edit.
func (in *lineInput) update(k tea.KeyPressMsg) bool {
	switch k.String() {
	case "left", "ctrl+b":
		in.pos = max(0, in.pos-1)
	case "right", "ctrl+f":
		in.pos = min(len(in.value), in.pos+1)
	case "home", "ctrl+a":
		in.pos = 0
	case "end", "ctrl+e":
		in.pos = len(in.value)
	case "backspace", "ctrl+h":
		if in.pos > 0 {
			in.value = append(in.value[:in.pos-1], in.value[in.pos:]...)
			in.pos--
		}
	case "delete", "ctrl+d":
		if in.pos < len(in.value) {
			in.value = append(in.value[:in.pos], in.value[in.pos+1:]...)
		}
	case "ctrl+u":
		in.value = append(in.value[:0], in.value[in.pos:]...)
		in.pos = 0
	case "ctrl+k":
		in.value = in.value[:in.pos]
	case "ctrl+w", "alt+backspace":
		i := in.pos
		for i > 0 && in.value[i-1] == ' ' {
			i--
		}
		for i > 0 && in.value[i-1] != ' ' && in.value[i-1] != '/' {
			i--
		}
		in.value = append(in.value[:i], in.value[in.pos:]...)
		in.pos = i
	case "space":
		in.insert(" ")
	default:
		if k.Text == "" || k.Mod&(tea.ModCtrl|tea.ModAlt) != 0 {
			return false
		}
		in.insert(k.Text)
	}
	return true
}

// view shows the field in w cells, scrolled so the cursor stays visible;
// the cursor cell is painted with cur.
func (in *lineInput) view(w int, cur ink) string {
	if w <= 1 {
		return ""
	}
	start := 0
	if in.pos >= w {
		start = in.pos - w + 1
	}
	end := min(len(in.value), start+w)
	var b strings.Builder
	for i := start; i < end; i++ {
		if i == in.pos {
			b.WriteString(cur.paint(string(in.value[i])))
		} else {
			b.WriteRune(in.value[i])
		}
	}
	if in.pos >= end {
		b.WriteString(cur.paint(" "))
	}
	return b.String()
}
