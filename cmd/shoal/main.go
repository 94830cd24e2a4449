// Command shoal is a BitTorrent client and tracker: get and seed torrents
// headless, create and inspect .torrent files, and run a tracker.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"shoal/internal/textsafe"
	"shoal/swarm"
	"shoal/tracker/trackercmd"
)

// exitError carries the process exit status with an error: 2 for bad input
// (a malformed source, a bad flag), 1 for failures while running.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func badInput(err error) error { return &exitError{code: 2, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	stop()
	if err == nil {
		return
	}
	// Error text may quote names from the network: never print it raw.
	fmt.Fprintln(os.Stderr, "shoal:", textsafe.String(err.Error()))
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case errors.Is(err, swarm.ErrBadSource):
		os.Exit(2)
	case isUsageError(err):
		os.Exit(2)
	}
	os.Exit(1)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "shoal",
		Short: "A BitTorrent client and tracker",
		Long: `shoal downloads and seeds torrents, makes .torrent files and runs a tracker.

Seeding runs only while shoal runs.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput(fmt.Errorf("%w (see '%s --help')", err, c.CommandPath()))
	})
	root.AddCommand(
		newGetCmd(),
		newSeedCmd(),
		newCreateCmd(),
		newInfoCmd(),
		trackercmd.New(),
		newVersionCmd(),
		newOpenCmd(),
	)
	withSessionTUI(root)
	return root
}

// isUsageError recognises cobra's argument-count errors.
func isUsageError(err error) bool {
	var ee *exitError
	return errors.As(err, &ee) && ee.code == 2
}
