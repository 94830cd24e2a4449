package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"shoal/internal/byterate"
	"shoal/swarm"
)

// swarmFlags are the flags shared by get, seed and open. Each also has a
// key in the config file ($XDG_CONFIG_HOME/shoal/config.toml, section
// [swarm]); a flag given on the command line wins over the file.
type swarmFlags struct {
	Listen       string   `toml:"listen"`
	Data         string   `toml:"data"`
	State        string   `toml:"state"`
	Peers        []string `toml:"peers"`
	Trackers     []string `toml:"trackers"`
	NoDHT        bool     `toml:"no_dht"`
	DHTBootstrap []string `toml:"dht_bootstrap"`
	NoLSD        bool     `toml:"no_lsd"`
	NoPEX        bool     `toml:"no_pex"`
	NoUPnP       bool     `toml:"no_upnp"`
	NoUTP        bool     `toml:"no_utp"`
	UpLimit      string   `toml:"up_limit"`
	DownLimit    string   `toml:"down_limit"`
	Encryption   string   `toml:"encryption"`
	JSON         bool     `toml:"-"`
	Verbose      bool     `toml:"-"`
}

func (f *swarmFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.Listen, "listen", ":42069", "HOST:PORT to accept peers on (port 0 picks one)")
	fs.StringVar(&f.Data, "data", "", "download folder (default $XDG_DOWNLOAD_DIR or ~/Downloads)")
	fs.StringVar(&f.State, "state", "", "state folder: piece completion, session (default $XDG_STATE_HOME/shoal)")
	fs.StringArrayVar(&f.Peers, "peer", nil, "HOST:PORT of a peer to dial directly (repeatable)")
	fs.StringArrayVar(&f.Trackers, "tracker", nil, "extra tracker URL (repeatable)")
	fs.BoolVar(&f.NoDHT, "no-dht", false, "do not use the DHT")
	fs.StringArrayVar(&f.DHTBootstrap, "dht-bootstrap", nil, "HOST:PORT of a DHT node to bootstrap from, replacing the public routers (repeatable)")
	fs.BoolVar(&f.NoLSD, "no-lsd", false, "do not use local service discovery (LAN multicast)")
	fs.BoolVar(&f.NoPEX, "no-pex", false, "do not exchange peers with peers (PEX)")
	fs.BoolVar(&f.NoUPnP, "no-upnp", false, "do not ask the router to forward the port (UPnP)")
	fs.BoolVar(&f.NoUTP, "no-utp", false, "peer connections over TCP only (uTP, preferred by default, yields to other traffic)")
	fs.StringVar(&f.UpLimit, "up-limit", "0", "upload limit in bytes/s, e.g. 500K or 2M (0 = none)")
	fs.StringVar(&f.DownLimit, "down-limit", "0", "download limit in bytes/s (0 = none)")
	fs.StringVar(&f.Encryption, "encryption", "prefer", "peer encryption: prefer, require or off")
	fs.BoolVar(&f.JSON, "json", false, "print newline-delimited JSON events on stdout")
	fs.BoolVar(&f.Verbose, "verbose", false, "log the engine's warnings and errors to stderr")
}

// configFile is the TOML config file's layout.
type configFile struct {
	Swarm swarmFlags `toml:"swarm"`
}

func configPath() string {
	if p := os.Getenv("SHOAL_CONFIG"); p != "" {
		return p
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "shoal", "config.toml")
}

// applyConfigFile fills every flag not given on the command line from the
// config file, when there is one.
func (f *swarmFlags) applyConfigFile(cmd *cobra.Command) error {
	path := configPath()
	var cf configFile
	md, err := toml.DecodeFile(path, &cf)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return badInput(fmt.Errorf("config file %s: %w", path, err))
	}
	for _, key := range md.Undecoded() {
		// [tui] belongs to the terminal UI, which checks it itself.
		if len(key) > 0 && key[0] == "tui" {
			continue
		}
		return badInput(fmt.Errorf("config file %s: unknown key %q", path, key.String()))
	}
	flags := cmd.Flags()
	set := func(name string, apply func()) {
		if md.IsDefined("swarm", tomlKey(name)) && !flags.Changed(name) {
			apply()
		}
	}
	c := cf.Swarm
	set("listen", func() { f.Listen = c.Listen })
	set("data", func() { f.Data = c.Data })
	set("state", func() { f.State = c.State })
	set("peer", func() { f.Peers = c.Peers })
	set("tracker", func() { f.Trackers = c.Trackers })
	set("no-dht", func() { f.NoDHT = c.NoDHT })
	set("dht-bootstrap", func() { f.DHTBootstrap = c.DHTBootstrap })
	set("no-lsd", func() { f.NoLSD = c.NoLSD })
	set("no-pex", func() { f.NoPEX = c.NoPEX })
	set("no-upnp", func() { f.NoUPnP = c.NoUPnP })
	set("no-utp", func() { f.NoUTP = c.NoUTP })
	set("up-limit", func() { f.UpLimit = c.UpLimit })
	set("down-limit", func() { f.DownLimit = c.DownLimit })
	set("encryption", func() { f.Encryption = c.Encryption })
	return nil
}

// tomlKey maps a flag name to its config key.
func tomlKey(flag string) string {
	switch flag {
	case "peer":
		return "peers"
	case "tracker":
		return "trackers"
	}
	out := []byte(flag)
	for i, c := range out {
		if c == '-' {
			out[i] = '_'
		}
	}
	return string(out)
}

// engineConfig turns the flags into the engine's configuration.
func (f *swarmFlags) engineConfig() (swarm.Config, error) {
	up, err := byterate.Parse(f.UpLimit)
	if err != nil {
		return swarm.Config{}, badInput(fmt.Errorf("--up-limit: %w", err))
	}
	down, err := byterate.Parse(f.DownLimit)
	if err != nil {
		return swarm.Config{}, badInput(fmt.Errorf("--down-limit: %w", err))
	}
	enc, err := swarm.ParseEncryption(f.Encryption)
	if err != nil {
		return swarm.Config{}, badInput(fmt.Errorf("--encryption: %w", err))
	}
	level := slog.LevelError + 1 // silent: the command reports errors itself
	if f.Verbose {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	return swarm.Config{
		DataDir:        f.Data,
		StateDir:       f.State,
		ListenAddr:     f.Listen,
		NoDHT:          f.NoDHT,
		DHTBootstrap:   f.DHTBootstrap,
		NoLSD:          f.NoLSD,
		NoPEX:          f.NoPEX,
		NoUPnP:         f.NoUPnP,
		NoUTP:          f.NoUTP,
		UpLimit:        up,
		DownLimit:      down,
		Encryption:     enc,
		Peers:          f.Peers,
		Trackers:       f.Trackers,
		SampleInterval: time.Second,
		Logger:         logger,
	}, nil
}
