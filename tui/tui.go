// Package tui is shoal's terminal UI: a bubbletea program over the swarm
// engine's snapshots. It lists torrents, shows one in tabs (peers, piece
// map, files, trackers and sources, rates), and acts on them through a
// small Engine interface. View renders only the latest snapshot; every
// engine call runs in a tea.Cmd.
package tui

import (
	"context"
	"io"

	tea "charm.land/bubbletea/v2"
)

// RunOptions are Run's extras: where the program reads and writes, which
// tests and benchmarks change.
type RunOptions struct {
	Options
	Input  io.Reader
	Output io.Writer
	// ProgramOptions are passed to tea.NewProgram after the above.
	ProgramOptions []tea.ProgramOption
}

// Run shows the UI on the terminal until the user quits or ctx ends.
// The engine keeps running: the caller closes it (and with it, seeding).
func Run(ctx context.Context, eng Engine, o RunOptions) error {
	if o.Context == nil {
		// Ends with the UI: the snapshot waiter and any add in flight stop
		// when the user quits.
		uiCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		o.Context = uiCtx
	}
	_, err := tea.NewProgram(New(eng, o.Options), programOptions(ctx, o)...).Run()
	if err != nil && ctx.Err() != nil {
		return nil // interrupted (SIGINT/SIGTERM): a normal way to leave
	}
	return err
}

// fps caps redraws. The screen changes once a second (a snapshot) or on a
// key; bubbletea's default 60 wakes an idle UI for nothing.
const fps = 30

func programOptions(ctx context.Context, o RunOptions) []tea.ProgramOption {
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithFPS(fps)}
	if o.Input != nil {
		opts = append(opts, tea.WithInput(o.Input))
	}
	if o.Output != nil {
		opts = append(opts, tea.WithOutput(o.Output))
	}
	return append(opts, o.ProgramOptions...)
}
