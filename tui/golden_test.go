package tui

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"
)

// update is -update: teatest's golden package already defines the flag
// (its init runs first, as a dependency), so share it.
var update = func() *bool {
	if flag.Lookup("update") != nil {
		return nil
	}
	return flag.Bool("update", false, "rewrite the golden files in testdata/")
}()

func updating() bool {
	if update != nil {
		return *update
	}
	return flag.Lookup("update").Value.String() == "true"
}

// golden compares a rendering with testdata/NAME.golden. The rendering
// goes through a fixed colour profile (16-colour ANSI), so the files hold
// exactly what a terminal of that kind would receive; on a mismatch the
// message shows both without escapes, which is what a person can read.
func golden(t *testing.T, name, got string) {
	t.Helper()
	var b bytes.Buffer
	w := &colorprofile.Writer{Forward: &b, Profile: colorprofile.ANSI}
	if _, err := w.WriteString(got); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".golden")
	if updating() {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui/ -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(want, b.Bytes()) {
		t.Errorf("%s differs from %s (go test ./tui/ -run '%s' -update rewrites it)\n--- got\n%s\n--- want\n%s",
			name, path, t.Name(), ansi.Strip(b.String()), ansi.Strip(string(want)))
	}
}

// checkScreen asserts the invariant every frame keeps: exactly h lines,
// none wider than w.
func checkScreen(t *testing.T, out string, w, h int) {
	t.Helper()
	if w <= 0 || h <= 0 {
		if out != "" {
			t.Errorf("%dx%d: want an empty frame, got %q", w, h, out)
		}
		return
	}
	lines := strings.Split(out, "\n")
	if len(lines) != h {
		t.Errorf("%dx%d: %d lines", w, h, len(lines))
	}
	for i, l := range lines {
		if cw := ansi.StringWidth(l); cw > w {
			t.Errorf("%dx%d: line %d is %d cells: %q", w, h, i, cw, ansi.Strip(l))
		}
	}
}
