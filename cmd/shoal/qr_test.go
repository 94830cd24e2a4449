package main

import (
	"strings"
	"testing"

	"rsc.io/qr"
)

// The half-block drawing holds every module of the code, in place, with a
// light margin around it: reading the characters back gives the encoder's
// bitmap. With colour, only the colour codes are added.
func TestQRTextRoundTrip(t *testing.T) {
	magnet := "magnet:?xt=urn:btih:668449e8f57c457ebe1647355b3fccbca9032ec3&dn=folder&tr=http%3A%2F%2F10.77.0.1%3A6969%2Fannounce"
	code, err := qr.Encode(magnet, qr.L)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := qrText(magnet, false)
	if err != nil {
		t.Fatal(err)
	}
	size := code.Size + 2*qrQuiet
	lines := strings.Split(strings.TrimSuffix(plain, "\n"), "\n")
	if len(lines) != (size+1)/2 {
		t.Fatalf("%d lines for a %d-module code with margins, want %d", len(lines), code.Size, (size+1)/2)
	}
	for row, line := range lines {
		cells := []rune(line)
		if len(cells) != size {
			t.Fatalf("line %d has %d cells, want %d", row, len(cells), size)
		}
		for x, c := range cells {
			top := c == '█' || c == '▀'
			bottom := c == '█' || c == '▄'
			for i, dark := range []bool{top, bottom} {
				y := 2*row + i
				if want := code.Black(x-qrQuiet, y-qrQuiet); dark != want {
					t.Fatalf("module (%d,%d) dark=%v, want %v", x-qrQuiet, y-qrQuiet, dark, want)
				}
			}
		}
	}
	// The top-left finder pattern's first two rows (the margin is even).
	if want := "  █▀▀▀▀▀█ "; !strings.HasPrefix(lines[1], want) {
		t.Errorf("line 1 is %q, want it to start with the finder pattern %q", lines[1], want)
	}

	colored, err := qrText(magnet, true)
	if err != nil {
		t.Fatal(err)
	}
	stripped := strings.NewReplacer("\x1b[30;107m", "", "\x1b[0m", "").Replace(colored)
	if stripped != plain || !strings.HasPrefix(colored, "\x1b[30;107m") {
		t.Error("the coloured drawing differs from the plain one beyond its colour codes")
	}
}

func TestQRTextTooLong(t *testing.T) {
	if _, err := qrText(strings.Repeat("x", 3000), false); err == nil {
		t.Error("3,000 bytes encoded; that is over a QR code's capacity")
	}
}
