package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"shoal/internal/byterate"
	"shoal/swarm"
)

func newCreateCmd() *cobra.Command {
	var (
		out, pieceLength, comment string
		trackers, webSeeds        []string
		private, hybrid           bool
	)
	cmd := &cobra.Command{
		Use:   "create PATH -o FILE.torrent",
		Short: "Make a .torrent of a file or folder",
		Long: `Make a v1 .torrent of a file or folder, hashing on every core.

With --hybrid the torrent is a BEP 52 hybrid: v2 hashes (a SHA-256 merkle
tree per file, infohash v2) beside the v1 ones, each file starting on a
piece boundary after a BEP 47 pad file, laid out as libtorrent lays them
out. v2 clients (libtorrent 2, qBittorrent 4.4+) use the v2 hashes; older
ones see an ordinary v1 torrent. Both infohashes are in the magnet link.

The piece length is chosen from the total size (about 1,000 to 2,000
pieces, from 16 KiB to 16 MiB) unless --piece-length is given. Symbolic
links, devices, FIFOs and sockets are refused, as is a folder with nothing
to share. The file is written atomically: it appears whole or not at all.`,
		Example: `  shoal create ./release -o release.torrent --tracker udp://tracker.example:6969/announce
  shoal create big.iso -o big.torrent --piece-length 4M --private --tracker https://t.example/announce
  shoal create ./release -o release.torrent --hybrid`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return badInput(errors.New("create needs exactly one PATH"))
			}
			if out == "" {
				return badInput(errors.New("create needs -o FILE.torrent"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			pl, err := parsePieceLength(pieceLength)
			if err != nil {
				return err
			}
			return runCreate(cmd.Context(), args[0], out, swarm.CreateOptions{
				Trackers:    trackers,
				WebSeeds:    webSeeds,
				Private:     private,
				PieceLength: pl,
				Comment:     comment,
				CreatedBy:   "shoal " + swarm.Version,
				Hybrid:      hybrid,
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&out, "output", "o", "", "the .torrent file to write")
	fl.StringArrayVar(&trackers, "tracker", nil, "tracker announce URL (repeatable; the first is the main one)")
	fl.StringArrayVar(&webSeeds, "webseed", nil, "web seed URL, BEP 19 (repeatable)")
	fl.BoolVar(&private, "private", false, "private torrent: peers only from its trackers")
	fl.StringVar(&pieceLength, "piece-length", "", "piece length, a power of two from 16K to 64M (default: from the size)")
	fl.StringVar(&comment, "comment", "", "free-text comment")
	fl.BoolVar(&hybrid, "hybrid", false, "hybrid v1+v2 torrent (BEP 52, with BEP 47 pad files)")
	return cmd
}

func runCreate(ctx context.Context, path, out string, opts swarm.CreateOptions) error {
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	start := time.Now()
	if tty {
		opts.Progress = func(hashed, total int64) {
			pct := 100.0
			if total > 0 {
				pct = float64(hashed) * 100 / float64(total)
			}
			fmt.Fprintf(os.Stderr, "\r\033[Khashing %5.1f%% %s/%s", pct, byterate.Size(hashed), byterate.Size(total))
		}
	}
	created, err := swarm.Create(ctx, path, opts)
	if tty {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &exitError{code: 1, err: errors.New("interrupted")}
		}
		return badInput(err)
	}
	if err := created.WriteFile(out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	m := created.Meta
	kind := ""
	if m.InfoHashV2 != "" {
		kind = " (hybrid v1+v2)"
	}
	fmt.Fprintf(os.Stderr, "%s%s: %s in %d files, %d pieces of %s, hashed in %s\n", m.Name, kind, byterate.Size(m.Size),
		realFiles(m.Files), m.NumPieces, byterate.Size(m.PieceLength), time.Since(start).Round(time.Millisecond))
	fmt.Printf("%s\n%s\n", out, m.Magnet)
	return nil
}

// realFiles counts the files that are not BEP 47 padding.
func realFiles(files []swarm.FileMeta) int {
	n := 0
	for _, f := range files {
		if !f.Pad {
			n++
		}
	}
	return n
}
