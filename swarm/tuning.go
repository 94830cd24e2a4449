package swarm

import "github.com/anacrolix/torrent"

// applyThroughputTuning sets the library knobs that decide transfer speed.
// Each value is measured in BENCHMARKS.md.
func applyThroughputTuning(tc *torrent.ClientConfig) {
	tc.PieceHashersPerTorrent = 2
	// Whole-piece request buffers per peer, so a fast peer is never held
	// to a few blocks at a time.
	tc.MaxAllocPeerRequestDataPerConn = 4 << 20
}
