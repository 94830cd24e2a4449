package main

import (
	"strings"

	"rsc.io/qr"
)

// qrQuiet is the light margin around the code, in modules. The standard
// asks for 4; phone cameras read a terminal code with 2, and it saves rows.
const qrQuiet = 2

// qrText renders text as a QR code in half-block characters, two rows of
// modules per line of text, so a magnet link fits a terminal (about 30
// lines for a link with a tracker). With color the code is drawn black on
// white whatever the terminal's colours; without (not a terminal, or
// NO_COLOR), dark modules are drawn as blocks, which reads right on a light
// background or on paper.
func qrText(text string, color bool) (string, error) {
	// Level L: the largest modules for a given length; a screen is clean.
	code, err := qr.Encode(text, qr.L)
	if err != nil {
		return "", err
	}
	dark := func(x, y int) bool { return code.Black(x-qrQuiet, y-qrQuiet) }
	size := code.Size + 2*qrQuiet
	var b strings.Builder
	for y := 0; y < size; y += 2 {
		if color {
			b.WriteString("\x1b[30;107m") // black on bright white
		}
		for x := 0; x < size; x++ {
			// Outside the code (y+1 == size) is light margin: Black says false.
			b.WriteRune(halfBlock(dark(x, y), dark(x, y+1)))
		}
		if color {
			b.WriteString("\x1b[0m")
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// halfBlock is the character whose upper and lower halves are dark as given
// (drawn in the foreground colour, the rest in the background).
func halfBlock(top, bottom bool) rune {
	switch {
	case top && bottom:
		return '█'
	case top:
		return '▀'
	case bottom:
		return '▄'
	}
	return ' '
}
