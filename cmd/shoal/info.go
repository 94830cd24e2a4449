package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"shoal/internal/byterate"
	"shoal/swarm"
)

func newInfoCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "info SOURCE",
		Short: "Show a torrent's name, infohashes, size, pieces, files, trackers and web seeds",
		Long: `Show what a .torrent file, URL, magnet link or infohash says, without
downloading anything. A magnet link or infohash carries no file list: only
what the link itself holds is shown.`,
		Example: `  shoal info release.torrent
  shoal info --json 'magnet:?xt=urn:btih:...'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return badInput(errors.New("info needs exactly one SOURCE"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := swarm.ParseSource(cmd.Context(), args[0], swarm.DefaultLimits(), &http.Client{Timeout: time.Minute})
			if err != nil {
				return badInput(err)
			}
			return printInfo(cmd.OutOrStdout(), src, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printInfo(w io.Writer, src *swarm.Source, asJSON bool) error {
	meta, hasInfo := src.View()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Kind    string `json:"kind"`
			HasInfo bool   `json:"has_info"`
			swarm.TorrentMeta
		}{src.Kind.String(), hasInfo, meta})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("name:", meta.Name)
	if meta.InfoHashV1 != "" {
		row("infohash:", meta.InfoHashV1)
	}
	if meta.InfoHashV2 != "" {
		row("infohash v2:", meta.InfoHashV2)
	}
	switch {
	case meta.InfoHashV1 != "" && meta.InfoHashV2 != "":
		row("version:", "hybrid v1+v2 (BEP 52)")
	case meta.InfoHashV2 != "":
		row("version:", "v2 only (BEP 52): v1-only clients cannot use it")
	}
	if hasInfo {
		row("size:", fmt.Sprintf("%s (%d bytes)", byterate.Size(meta.Size), meta.Size))
		row("pieces:", fmt.Sprintf("%d of %s", meta.NumPieces, byterate.Size(meta.PieceLength)))
		row("private:", fmt.Sprint(meta.Private))
	} else {
		row("metadata:", "not in a "+src.Kind.String()+"; fetched from peers on download")
	}
	if meta.Comment != "" {
		row("comment:", meta.Comment)
	}
	if meta.CreatedBy != "" {
		row("created by:", meta.CreatedBy)
	}
	if !meta.CreationDate.IsZero() {
		row("created:", meta.CreationDate.UTC().Format(time.RFC3339))
	}
	for i, tier := range meta.Trackers {
		row(fmt.Sprintf("tracker tier %d:", i), strings.Join(tier, " "))
	}
	for _, ws := range meta.WebSeeds {
		row("web seed:", ws)
	}
	if meta.Magnet != "" {
		row("magnet:", meta.Magnet)
	}
	tw.Flush()
	if len(meta.Files) > 0 {
		fmt.Fprintf(w, "files (%d):\n", realFiles(meta.Files))
		for _, f := range meta.Files {
			if f.Pad {
				continue
			}
			fmt.Fprintf(w, "  %10s  %s\n", byterate.Size(f.Size), f.Path)
		}
	}
	return nil
}
