package swarm

import "github.com/anacrolix/torrent"

// applyThroughputTuning sets the library knobs that decide transfer speed.
// Most of the speed comes from the storage (storage_hashing.go), not from
// knobs: see there and bench/throughput/RESULTS.md. The library's other
// knobs measured no better than its defaults against libtorrent (larger
// blocks stall it; a larger unverified window was slower), so they stay.
func applyThroughputTuning(tc *torrent.ClientConfig) {
	// Downloads are hashed as they arrive (storage_hashing.go), so the
	// hashers only check data already on disk (resume, verify, seeding a
	// folder): two use both cores of a small machine.
	tc.PieceHashersPerTorrent = 2
	// Whole-piece request buffers per peer, so a fast peer is never held
	// to a few blocks at a time.
	tc.MaxAllocPeerRequestDataPerConn = 4 << 20
}
