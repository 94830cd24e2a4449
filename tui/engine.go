package tui

import (
	"context"
	"net/http"

	"shoal/swarm"
)

// Engine is what the UI needs from the swarm engine. It is declared here,
// small, so tests drive the UI with a fake. Only Update's commands call it:
// View renders the snapshot it was given and never reaches the library.
type Engine interface {
	// Snapshot returns the latest immutable picture of every torrent.
	Snapshot() *swarm.Snapshot
	// Changed is signalled after a new snapshot is published.
	Changed() <-chan struct{}
	// AddSource parses a magnet link, .torrent path or URL, or infohash and
	// adds it; a bad source returns the parser's error and changes nothing.
	AddSource(ctx context.Context, raw string) (infohash string, err error)
	Pause(infohash string) error
	Resume(infohash string) error
	Remove(ctx context.Context, infohash string, deleteData bool) error
	Verify(infohash string) error
	SetFilePriority(infohash string, file int, p swarm.Priority) error
	// Availability counts, per piece, the connected peers that have it. It
	// walks every peer's bitfield, so the UI asks only while the piece map
	// is on screen.
	Availability(infohash string) ([]uint16, error)
}

// SwarmEngine adapts *swarm.Engine to Engine: adding takes a raw SOURCE
// string, parsed with the engine's default limits.
type SwarmEngine struct {
	*swarm.Engine
	// HTTPClient fetches .torrent URLs; nil means swarm's default.
	HTTPClient *http.Client
	Limits     swarm.Limits
}

// NewSwarmEngine wraps e with the default source limits.
func NewSwarmEngine(e *swarm.Engine, httpClient *http.Client) *SwarmEngine {
	return &SwarmEngine{Engine: e, HTTPClient: httpClient, Limits: swarm.DefaultLimits()}
}

// AddSource implements Engine.
func (s *SwarmEngine) AddSource(ctx context.Context, raw string) (string, error) {
	src, err := swarm.ParseSource(ctx, raw, s.Limits, s.HTTPClient)
	if err != nil {
		return "", err
	}
	return s.Add(ctx, src, swarm.AddOptions{})
}

var _ Engine = (*SwarmEngine)(nil)
