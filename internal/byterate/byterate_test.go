package byterate

import "testing"

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"", 0, false},
		{"0", 0, false},
		{"100", 100, false},
		{"500K", 500 << 10, false},
		{"500kib/s", 500 << 10, false},
		{"10M", 10 << 20, false},
		{"1.5MB/s", 3 << 19, false},
		{"2g", 2 << 30, false},
		{"-1", 0, true},
		{"ten", 0, true},
		{"10X", 0, true},
		{"1e400", 0, true},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if (err != nil) != c.bad {
			t.Errorf("Parse(%q) error = %v, want error %v", c.in, err, c.bad)
			continue
		}
		if got != c.want {
			t.Errorf("Parse(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestFormat(t *testing.T) {
	cases := map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 29: "1.5 GiB"}
	for n, want := range cases {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
	if got := Rate(1536); got != "1.5 KiB/s" {
		t.Errorf("Rate(1536) = %q", got)
	}
}
