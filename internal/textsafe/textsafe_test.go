package textsafe

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain ASCII", "ubuntu-24.04-desktop-amd64.iso", "ubuntu-24.04-desktop-amd64.iso"},
		{"empty", "", ""},
		{"UTF-8 kept", "Ñandú – 日本語 🎵", "Ñandú – 日本語 🎵"},
		{"backslash kept", `C:\dir`, `C:\dir`},
		{"CSI colour", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"clear screen", "a\x1b[2Jb", `a\x1b[2Jb`},
		{"OSC title with BEL", "\x1b]0;pwned\x07name", `\x1b]0;pwned\x07name`},
		{"OSC 52 clipboard with ST", "\x1b]52;c;cm0gLXJmIH4=\x1b\\", `\x1b]52;c;cm0gLXJmIH4=\x1b\`},
		{"NUL", "a\x00b", `a\x00b`},
		{"tab newline CR", "a\tb\nc\rd", `a\tb\nc\rd`},
		{"DEL", "a\x7fb", `a\x7fb`},
		{"C1 CSI as UTF-8", "a\u009b31mb", `a\u009b31mb`},
		{"C1 NEL", "a\u0085b", `a\u0085b`},
		{"RLO trick", "invoice\u202egpj.exe", `invoice\u202egpj.exe`},
		{"bidi embeddings", "\u202a\u202b\u202c\u202d", `\u202a\u202b\u202c\u202d`},
		{"bidi isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"bidi marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"line separator", "a\u2028b\u2029c", `a\u2028b\u2029c`},
		{"invalid UTF-8 byte", "caf\xe9", "caf\uFFFD"},
		{"raw C1 byte is invalid UTF-8", "a\x9bb", "a\uFFFDb"},
		{"truncated sequence", "ab\xe6\x97", "ab\uFFFD\uFFFD"},
		{"overlong slash", "\xc0\xaf", "\uFFFD\uFFFD"},
		{"surrogate half", "\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestStringSafeInputNotCopied(t *testing.T) {
	in := strings.Repeat("safe name é ", 10)
	if n := testing.AllocsPerRun(100, func() { _ = String(in) }); n != 0 {
		t.Errorf("String on a safe string allocated %v times, want 0", n)
	}
}

// checkSafe asserts the output properties with an oracle independent of the implementation:
// the unicode package's own control and Bidi_Control tables.
func checkSafe(t *testing.T, in, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("String(%q) = %q: not valid UTF-8", in, out)
	}
	for _, r := range out {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == 0x2028 || r == 0x2029 {
			t.Fatalf("String(%q) = %q: contains %U", in, out, r)
		}
	}
	if again := String(out); again != out {
		t.Fatalf("not idempotent: String(%q) = %q, String of that = %q", in, out, again)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{
		"", "plain", "\x1b[31mred", "\x1b]0;t\x07", "a\u202eb", "\xff\xfe", "\u0085", "日本\x00語",
		"\xe2\x80", "\\x1b", "\u2066x\u2069",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := String(in)
		checkSafe(t, in, out)
		// Text that needs no escaping must come through untouched.
		clean := true
		for _, r := range in {
			if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == 0x2028 || r == 0x2029 {
				clean = false
				break
			}
		}
		if clean && out != in {
			t.Fatalf("String(%q) = %q, want it unchanged", in, out)
		}
	})
}
