// Package textsafe makes strings that came from the network safe to print on a terminal.
//
// Torrent and file names, peer client names and tracker messages are chosen by strangers. Printed
// raw, they can move the cursor, recolour or clear the screen, set the window title, smuggle
// clipboard writes (OSC 52) or reorder what the user reads (bidi overrides, the
// "gpj.exe" trick). String is the one filter every such string passes through before it is
// printed or rendered.
package textsafe

import (
	"strings"
	"unicode/utf8"
)

// String returns s with everything a terminal could act on made visible as escaped text:
//
//   - C0 controls (U+0000–U+001F) and DEL become \xNN, except tab, newline and carriage
//     return, which become \t, \n and \r. ESC becoming the four characters `\x1b` is what
//     defuses CSI, OSC and every other escape sequence: what follows it is plain text.
//   - C1 controls (U+0080–U+009F, which some terminals treat like ESC sequences) become \uNNNN.
//   - Bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) and the line and
//     paragraph separators U+2028/U+2029 become \uNNNN.
//   - Each byte of invalid UTF-8 becomes U+FFFD.
//
// Backslashes are left alone, so the escapes are for reading, not for decoding back. The result
// is valid UTF-8 and String(String(s)) == String(s). Strings that need no change are returned
// without allocating.
func String(s string) string {
	i := firstUnsafe(s)
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			writeEscape(&b, `\x`, uint32(r), 2)
		case unsafeRune(r):
			writeEscape(&b, `\u`, uint32(r), 4)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// firstUnsafe returns the index of the first byte String would change, or len(s).
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		if c < 0x80 {
			return i // C0 or DEL
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return i
		}
		i += size
	}
	return len(s)
}

// unsafeRune reports the non-ASCII runes a terminal may act on.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls: 0x9b is a one-byte CSI on some terminals
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f: // bidi marks
		return true
	case r >= 0x202a && r <= 0x202e: // bidi embeddings and overrides
		return true
	case r >= 0x2066 && r <= 0x2069: // bidi isolates
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators break lines in some terminals
		return true
	}
	return false
}

const hexDigits = "0123456789abcdef"

func writeEscape(b *strings.Builder, prefix string, v uint32, digits int) {
	b.WriteString(prefix)
	for shift := (digits - 1) * 4; shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(v>>uint(shift))&0xf])
	}
}
