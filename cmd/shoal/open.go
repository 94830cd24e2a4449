package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"shoal/swarm"
	"shoal/tui"
)

func newOpenCmd() *cobra.Command {
	var sf swarmFlags
	cmd := &cobra.Command{
		Use:   "open SOURCE...",
		Short: "Open torrents in the terminal UI, with the saved session",
		Long: `Add each SOURCE to the saved session and show every torrent in the
terminal UI: peers, piece map, files and priorities, trackers, rates.

SOURCE is a magnet link, a .torrent file or URL, or a bare infohash. Press
? in the UI for its keys. Torrents stay in the session when the UI quits
(plain 'shoal' opens it again); seeding runs only while shoal runs.

Keys and colours can be changed in the config file, sections [tui.keys]
and [tui.colors] (names as in the ? overlay; colours #rrggbb or 0-255).`,
		Example: `  shoal open 'magnet:?xt=urn:btih:...'
  shoal open release.torrent https://example.org/other.torrent`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return badInput(errors.New("open needs at least one SOURCE (magnet link, .torrent, URL or infohash); plain 'shoal' opens the saved session"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			tcfg, err := loadOpenConfig(cmd, &sf)
			if err != nil {
				return err
			}
			return runTUI(cmd.Context(), &sf, tcfg, args)
		},
	}
	sf.register(cmd.Flags())
	return cmd
}

// withSessionTUI makes plain `shoal` open the terminal UI over the saved
// session, with the same swarm flags as open. Off a terminal it prints the
// help, as a command without a subcommand used to.
func withSessionTUI(root *cobra.Command) {
	var sf swarmFlags
	sf.register(root.Flags())
	root.Long += "\n\nWith no command, shoal opens the terminal UI over the saved session (see 'shoal open --help')."
	root.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return badInput(fmt.Errorf("unknown command %q (see 'shoal --help')", args[0]))
		}
		return nil
	}
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if !isTerminal() {
			return cmd.Help()
		}
		tcfg, err := loadOpenConfig(cmd, &sf)
		if err != nil {
			return err
		}
		return runTUI(cmd.Context(), &sf, tcfg, nil)
	}
}

func isTerminal() bool {
	return term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
}

func runTUI(ctx context.Context, sf *swarmFlags, tcfg tui.Config, args []string) error {
	if sf.JSON {
		return badInput(errors.New("--json: the terminal UI has no JSON output; use 'shoal get --json'"))
	}
	keys, styles, err := tcfg.Build()
	if err != nil {
		return badInput(fmt.Errorf("config file %s: %w", configPath(), err))
	}
	cfg, err := sf.engineConfig()
	if err != nil {
		return err
	}
	cfg.RestoreSession = true
	// Parse every source before starting anything: a bad one changes
	// nothing, not even the session.
	httpClient := &http.Client{Timeout: time.Minute}
	cfg.HTTPClient = httpClient
	sources := make([]*swarm.Source, 0, len(args))
	for _, a := range args {
		src, err := swarm.ParseSource(ctx, a, swarm.DefaultLimits(), httpClient)
		if err != nil {
			return badInput(err)
		}
		sources = append(sources, src)
	}
	if !isTerminal() {
		return badInput(errors.New("the terminal UI needs a terminal; use 'shoal get' to download headless"))
	}
	// The UI owns the terminal: the engine's log must not write over it.
	if cfg.StateDir == "" {
		cfg.StateDir = swarm.DefaultStateDir()
	}
	logFile, err := tuiLogger(&cfg, sf.Verbose)
	if err != nil {
		return err
	}
	if logFile != nil {
		defer logFile.Close()
	}
	eng, err := swarm.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer eng.Close()
	for _, src := range sources {
		if _, err := eng.Add(ctx, src, swarm.AddOptions{}); err != nil {
			return err
		}
	}
	err = tui.Run(ctx, tui.NewSwarmEngine(eng, httpClient), tui.RunOptions{
		Options: tui.Options{Keys: keys, Styles: styles},
	})
	n := len(eng.Snapshot().Torrents)
	fmt.Printf("shoal: %d torrent(s) kept in the session (%s); 'shoal' opens it again. Seeding runs only while shoal runs.\n",
		n, cfg.StateDir)
	return err
}

// tuiLogger sends the engine's log to a file in the state folder with
// --verbose, and nowhere otherwise: on stderr it would scribble over the UI.
func tuiLogger(cfg *swarm.Config, verbose bool) (*os.File, error) {
	if !verbose {
		cfg.Logger = slog.New(slog.DiscardHandler)
		return nil, nil
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	path := filepath.Join(cfg.StateDir, "tui.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return f, nil
}

// loadOpenConfig reads the config file for the UI: [swarm] exactly as the
// other swarm commands do (a flag given wins over the file), and [tui].
//
// It cannot use swarmFlags.applyConfigFile, which rejects every key
// outside [swarm] and so a [tui] section. Once flags.go skips [tui] there,
// this becomes tui.LoadConfig plus sf.applyConfigFile.
func loadOpenConfig(cmd *cobra.Command, f *swarmFlags) (tui.Config, error) {
	path := configPath()
	tcfg, err := tui.LoadConfig(path)
	if err != nil {
		return tui.Config{}, badInput(err)
	}
	var cf struct {
		Swarm swarmFlags     `toml:"swarm"`
		TUI   toml.Primitive `toml:"tui"`
	}
	md, err := toml.DecodeFile(path, &cf)
	if errors.Is(err, fs.ErrNotExist) {
		return tcfg, nil
	}
	if err != nil {
		return tui.Config{}, badInput(fmt.Errorf("config file %s: %w", path, err))
	}
	for _, k := range md.Undecoded() {
		if len(k) > 0 && k[0] != "tui" { // [tui] was checked by tui.LoadConfig
			return tui.Config{}, badInput(fmt.Errorf("config file %s: unknown key %q", path, k.String()))
		}
	}
	flags := cmd.Flags()
	c := cf.Swarm
	for name, apply := range map[string]func(){
		"listen":        func() { f.Listen = c.Listen },
		"data":          func() { f.Data = c.Data },
		"state":         func() { f.State = c.State },
		"peer":          func() { f.Peers = c.Peers },
		"tracker":       func() { f.Trackers = c.Trackers },
		"no-dht":        func() { f.NoDHT = c.NoDHT },
		"dht-bootstrap": func() { f.DHTBootstrap = c.DHTBootstrap },
		"no-lsd":        func() { f.NoLSD = c.NoLSD },
		"no-pex":        func() { f.NoPEX = c.NoPEX },
		"no-upnp":       func() { f.NoUPnP = c.NoUPnP },
		"up-limit":      func() { f.UpLimit = c.UpLimit },
		"down-limit":    func() { f.DownLimit = c.DownLimit },
		"encryption":    func() { f.Encryption = c.Encryption },
	} {
		if md.IsDefined("swarm", tomlKey(name)) && !flags.Changed(name) {
			apply()
		}
	}
	return tcfg, nil
}
