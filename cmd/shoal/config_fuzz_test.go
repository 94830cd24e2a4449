package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
)

// FuzzConfigFile feeds arbitrary bytes to every reader of the config file
// (the [swarm] section as get and seed read it, and [swarm] plus [tui] as
// open reads it): none may panic, and every refusal is bad input (exit 2)
// rather than a failure while running.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{
		"",
		"[swarm]\nlisten = \"127.0.0.2:0\"\npeers = [\"127.0.0.3:6881\"]\nno_dht = true\nup_limit = \"1M\"\nencryption = \"require\"\n",
		"[swarm]\nup_limit = \"-5\"\ndown_limit = \"1e400\"\nencryption = \"\\u001b[2J\"\n",
		"[swarm]\nlisten = 5\n",
		"[tui.keys]\nquit = [\"q\", \"ctrl+c\"]\nremove_data = \"X\"\n[tui.colors]\naccent = \"#ff8700\"\nhave = \"300\"\n",
		"[tui]\nkeys = 1\n",
		"[[swarm]]\n",
		"a = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
		"[swarm]\nnope = 1\n",
		"\xff\xfe[swarm]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("SHOAL_CONFIG", path)
		cmd := &cobra.Command{}
		var sf swarmFlags
		sf.register(cmd.Flags())
		err := sf.applyConfigFile(cmd)
		if err == nil {
			_, err = sf.engineConfig()
		}
		if err != nil && !isUsageError(err) {
			t.Fatalf("[swarm] refused as a runtime failure, not bad input: %v", err)
		}

		open := &cobra.Command{}
		var of swarmFlags
		of.register(open.Flags())
		tcfg, err := loadOpenConfig(open, &of)
		if err != nil && !isUsageError(err) {
			t.Fatalf("open's config refused as a runtime failure, not bad input: %v", err)
		}
		if err == nil {
			tcfg.Build() // errors are fine; panics are not
		}
	})
}
