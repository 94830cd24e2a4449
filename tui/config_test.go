package tui

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigRemapsKeysAndColours(t *testing.T) {
	p := writeConfig(t, `
[swarm]
listen = ":1234"   # not ours: left to the swarm flags

[tui.keys]
quit = "x"
remove_data = ["X", "ctrl+d"]
verify = []

[tui.colors]
accent = "#ff8700"
have = "10"
`)
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	keys, styles, err := cfg.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !matches("x", keys.Quit) || matches("q", keys.Quit) {
		t.Errorf("quit keys %q", keys.Quit.Keys())
	}
	if keys.RemoveData.Help().Key != "X/ctrl+d" || keys.RemoveData.Help().Desc != "remove with data" {
		t.Errorf("remove_data help %+v", keys.RemoveData.Help())
	}
	if keys.Verify.Enabled() {
		t.Error("verify still bound")
	}
	if !strings.Contains(styles.accent.pre, "38;2;255;135;0") {
		t.Errorf("accent ink %q", styles.accent.pre)
	}
	if !strings.Contains(styles.have.pre, "92") {
		t.Errorf("have ink %q", styles.have.pre)
	}

	// The remapped keys drive the UI and its help.
	m := New(newFakeEngine(fixtureSnapshot()), Options{Keys: keys, Styles: styles, Now: fixedNow})
	m.Update(snapshotMsg{snap: fixtureSnapshot()})
	if _, cmd := m.Update(keyPress("q")); isQuit(cmd) {
		t.Error("q still quits")
	}
	if _, cmd := m.Update(keyPress("x")); !isQuit(cmd) {
		t.Error("x does not quit")
	}
	m.Update(keyPress("?"))
	m.setSize(100, 30)
	if !strings.Contains(m.helpBox, "X/ctrl+d") {
		t.Error("help overlay does not show the remapped key")
	}
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]string{
		"[tui.keys]\nfly = \"f\"\n":         `unknown action "fly"`,
		"[tui.colors]\nsky = \"1\"\n":       `unknown colour "sky"`,
		"[tui.colors]\naccent = \"red\"\n":  `"red" is not #rrggbb`,
		"[tui.colors]\naccent = \"300\"\n":  `"300" is not`,
		"[tui.keys]\nquit = 3\n":            "want a key name",
		"[tui.keys]\nquit = [\" q\"]\n":     `bad key " q"`,
		"[tui]\nkeys = 1\n":                 "config file",
		"[tui]\ntheme = \"dark\"\n":         `unknown key "tui.theme"`,
		"[tui.keys\n":                       "config file",
		"[tui.keys]\nquit = [\"q\", 4]\n":   "want key names as strings",
		"[tui.colors]\naccent = \"#12345\"": "is not #rrggbb",
	}
	for body, want := range cases {
		cfg, err := LoadConfig(writeConfig(t, body))
		if err == nil {
			_, _, err = cfg.Build()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
	if cfg, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml")); err != nil || len(cfg.Keys) != 0 {
		t.Errorf("missing file: %v %v", cfg, err)
	}
}

// tui renders snapshots of plain values: it must not reach for the
// BitTorrent library or the tracker (only swarm's types and internal/).
func TestImportsStayInTheirLane(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if strings.Contains(p, "anacrolix") || strings.HasPrefix(p, "shoal/tracker") || strings.HasPrefix(p, "shoal/cmd") {
				t.Errorf("%s imports %s", f, p)
			}
		}
	}
}
