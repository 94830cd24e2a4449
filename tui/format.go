package tui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// compactSize formats bytes in at most 6 cells: "1023K", "12.3M", "1.5G".
func compactSize(n int64) string {
	if n < 0 {
		n = 0
	}
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	v := float64(n)
	units := "KMGTPE"
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	switch {
	case v >= 100:
		return strconv.Itoa(int(v)) + units[i:i+1]
	default:
		return strconv.FormatFloat(math.Floor(v*10)/10, 'f', 1, 64) + units[i:i+1]
	}
}

// compactRate is compactSize per second, blank-free; 0 shows as "0".
func compactRate(bps float64) string {
	if bps < 1 || math.IsNaN(bps) || math.IsInf(bps, 0) {
		return "0"
	}
	return compactSize(int64(bps))
}

// compactDuration formats a duration in at most 6 cells: "45s", "12m3s",
// "3h04m", "12d".
func compactDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 100*3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
	case s < 1000*86400:
		return fmt.Sprintf("%dd", s/86400)
	}
	return "∞"
}

func percent(done, total int64) float64 {
	if total <= 0 {
		return 0
	}
	return math.Min(1, math.Max(0, float64(done)/float64(total)))
}

// pct formats 0..1 as "45%", never rounding a missing last byte up to 100.
func pct(f float64) string {
	p := int(math.Floor(f * 100))
	if f < 1 && p >= 100 {
		p = 99
	}
	return strconv.Itoa(p) + "%"
}

// fit truncates or pads plain text to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := cells(s)
	if sw > w {
		s = ansi.Truncate(s, w, "…")
		sw = ansi.StringWidth(s)
	}
	if sw < w {
		s += strings.Repeat(" ", w-sw)
	}
	return s
}

// fitRight right-aligns plain text in w cells.
func fitRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := cells(s)
	if sw > w {
		return ansi.Truncate(s, w, "")
	}
	return strings.Repeat(" ", w-sw) + s
}

// clip cuts a painted line to w cells.
func clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if cells(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "")
}

// screen joins lines into exactly h lines of at most w cells: the renderer
// then never sees a line wider than the terminal, whatever a component did.
func screen(lines []string, w, h int) string {
	if w <= 0 || h <= 0 {
		return ""
	}
	var b strings.Builder
	n := h
	for i := 0; i < h && i < len(lines); i++ {
		n += len(lines[i])
	}
	b.Grow(n)
	for i := range h {
		if i > 0 {
			b.WriteByte('\n')
		}
		if i < len(lines) {
			b.WriteString(clip(lines[i], w))
		}
	}
	return b.String()
}

// bar draws a progress bar w cells wide with eighth-cell precision.
func (s *Styles) bar(f float64, w int) string {
	if w <= 0 {
		return ""
	}
	f = math.Min(1, math.Max(0, f))
	eighths := int(f * float64(w*8))
	full := eighths / 8
	rest := eighths % 8
	var filled strings.Builder
	filled.WriteString(strings.Repeat("█", full))
	empty := w - full
	if rest > 0 && full < w {
		filled.WriteString(string([]rune("▏▎▍▌▋▊▉")[rest-1]))
		empty--
	}
	return s.have.paint(filled.String()) + s.barEmpty.paint(strings.Repeat("░", empty))
}

// cells is the width of a (painted) string in terminal cells. Frames are
// mostly ASCII, SGR sequences and block and box-drawing characters, all
// one cell wide: those are counted here directly, and anything else
// (wide scripts, emoji, other escapes) goes to ansi.StringWidth. Every
// line of every frame is measured, so this is on the hot path.
func cells(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == 0x1b:
			// CSI: ESC [ parameters final-byte (0x40-0x7e).
			if i+1 >= len(s) || s[i+1] != '[' {
				return ansi.StringWidth(s)
			}
			i += 2
			for i < len(s) && (s[i] < 0x40 || s[i] > 0x7e) {
				i++
			}
			i++
		case c >= 0x20 && c < 0x7f:
			n++
			i++
		case c < 0x80:
			return ansi.StringWidth(s)
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if !narrow(r) {
				return ansi.StringWidth(s)
			}
			n++
			i += size
		}
	}
	return n
}

// narrow are the non-ASCII runes the UI draws itself, all one cell wide.
func narrow(r rune) bool {
	switch {
	case r >= 0x2500 && r <= 0x25ff: // box drawing, blocks, shapes
		return true
	case r >= 0x2190 && r <= 0x21ff: // arrows
		return true
	case r == '·', r == '…', r == '●', r == '✓', r == '∞', r == '×', r == '≈', r == '‹':
		return true
	}
	return false
}
