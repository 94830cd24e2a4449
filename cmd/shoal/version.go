package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"shoal/swarm"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the library versions and which transports this build has",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "shoal %s (%s, %s/%s)\n", swarm.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(out, "anacrolix/torrent %s, anacrolix/dht %s\n",
				moduleVersion("github.com/anacrolix/torrent"), moduleVersion("github.com/anacrolix/dht/v2"))
			if swarm.UTPAvailable {
				fmt.Fprintln(out, "transports: TCP, uTP (BEP 29)")
			} else {
				fmt.Fprintln(out, "transports: TCP only; uTP unavailable in this build (the UDP socket carries the DHT)")
			}
		},
	}
}

func moduleVersion(path string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil {
				return d.Version + " => " + d.Replace.Path
			}
			return d.Version
		}
	}
	return "unknown"
}
