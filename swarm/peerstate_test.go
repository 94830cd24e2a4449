package swarm

import "testing"

func TestValidBitfield(t *testing.T) {
	bits := func(n int, set ...int) []bool {
		b := make([]bool, n)
		for _, i := range set {
			b[i] = true
		}
		return b
	}
	tests := []struct {
		name      string
		bf        []bool
		numPieces int
		want      bool
	}{
		{"exact, all set", bits(16, 0, 15), 16, true},
		{"spare bits clear", bits(16, 0, 9), 10, true},
		{"spare bit set", bits(16, 0, 10), 10, false},
		{"a byte too long", bits(24), 16, false},
		{"a byte too short", bits(8), 10, false},
		{"empty for no pieces", nil, 0, true},
	}
	for _, tt := range tests {
		if got := validBitfield(tt.bf, tt.numPieces); got != tt.want {
			t.Errorf("%s: validBitfield = %v, want %v", tt.name, got, tt.want)
		}
	}
}
