// Command shoal-tracker is `shoal tracker` in a binary of its own, for servers that only
// track: the same flags, defaults and behaviour (package trackercmd), without shoal's client
// and terminal UI linked in. The executable is 40% of shoal's size and, since Go runs the
// initialisation of every package linked in, it starts with 2 MiB less resident memory
// (bench/tracker/RESULTS.md).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"shoal/internal/textsafe"
	"shoal/tracker/trackercmd"
)

func main() {
	root := trackercmd.New()
	root.Use = "shoal-tracker"
	root.SilenceUsage = true
	root.SilenceErrors = true
	badFlag := false
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		badFlag = true
		return fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())
	})
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "shoal-tracker:", textsafe.String(err.Error()))
		if badFlag {
			os.Exit(2) // bad input, as shoal exits for a bad flag
		}
		os.Exit(1)
	}
}
