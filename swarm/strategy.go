package swarm

import "github.com/anacrolix/torrent"

// configureStrategy sets the library knobs that decide how a swarm shares
// pieces (see the swarm benchmark in BENCHMARKS.md).
func (e *Engine) configureStrategy(tc *torrent.ClientConfig) {}

// applyStrategy runs once a torrent's storage is open and its file
// priorities are set, before downloading starts.
func (m *managed) applyStrategy() {}
