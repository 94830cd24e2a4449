package tui

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/BurntSushi/toml"
)

// Config is the [tui] section of shoal's config file:
//
//	[tui.keys]
//	quit = ["q", "ctrl+c"]   # a list, or one key as a string; [] unbinds
//	remove_data = "X"
//
//	[tui.colors]
//	accent = "#ff8700"       # #rrggbb, #rgb or an ANSI index 0-255
//	have = "10"
type Config struct {
	Keys   map[string]keyList `toml:"keys"`
	Colors map[string]string  `toml:"colors"`
}

// keyList accepts a TOML string or array of strings.
type keyList []string

func (k *keyList) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*k = keyList{v}
		return nil
	case []any:
		out := make(keyList, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want key names as strings, got %v", e)
			}
			out = append(out, s)
		}
		*k = out
		return nil
	}
	return fmt.Errorf("want a key name or a list of them, got %v", v)
}

// LoadConfig reads the [tui] section of the config file at path. A missing
// file is no error; other sections are left to their own readers, but an
// unknown key inside [tui] is reported, so a typo never silently does
// nothing.
func LoadConfig(path string) (Config, error) {
	var f struct {
		TUI Config `toml:"tui"`
	}
	md, err := toml.DecodeFile(path, &f)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("config file %s: %w", path, err)
	}
	for _, sec := range []string{"keys", "colors"} {
		if md.IsDefined("tui", sec) && md.Type("tui", sec) != "Hash" {
			return Config{}, fmt.Errorf("config file %s: tui.%s: want a table ([tui.%s])", path, sec, sec)
		}
	}
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] == "tui" {
			return Config{}, fmt.Errorf("config file %s: unknown key %q (want [tui.keys] or [tui.colors])", path, k.String())
		}
	}
	return f.TUI, nil
}

// Build returns the key map and styles the config describes: the defaults
// with its changes applied.
func (c Config) Build() (*KeyMap, *Styles, error) {
	keys := DefaultKeyMap()
	remap := make(map[string][]string, len(c.Keys))
	for k, v := range c.Keys {
		remap[k] = v
	}
	if err := keys.Remap(remap); err != nil {
		return nil, nil, err
	}
	pal, err := DefaultPalette().Merge(c.Colors)
	if err != nil {
		return nil, nil, err
	}
	st, err := NewStyles(pal)
	if err != nil {
		return nil, nil, err
	}
	return &keys, st, nil
}

// String lists the config's overrides, for error messages and tests.
func (c Config) String() string {
	var parts []string
	for k, v := range c.Keys {
		parts = append(parts, "keys."+k+"="+strings.Join(v, ","))
	}
	for k, v := range c.Colors {
		parts = append(parts, "colors."+k+"="+v)
	}
	return strings.Join(parts, " ")
}
