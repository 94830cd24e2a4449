// Package store defines what the tracker needs from a peer store, and the rules every
// implementation must keep. The rules are checked by the conformance suite in
// shoal/tracker/store/storetest, which each implementation runs with a one-line test.
//
// # The contract
//
// A store keeps, for each torrent (infohash), the peers that announced it recently. A peer is
// identified by its address and port (netip.AddrPort, never IPv4-mapped IPv6): the same
// address and port announcing again is the same peer, whatever peer_id it sends.
//
//  1. Families apart. An IPv4 peer and an IPv6 peer of the same torrent are in separate swarms:
//     Announce returns only peers of the requester's family.
//  2. Never yourself. Announce never returns the requesting peer.
//  3. At most NumWant, chosen at random. Announce returns min(NumWant, other live peers of the
//     family) peers, and which ones varies between calls when there are more than NumWant.
//     NumWant ≤ 0 returns no peers but still records the announce.
//  4. Seeders and leechers. A peer is a seeder when its last announce had Left == 0. Counts
//     (Complete = seeders, Incomplete = leechers) add both families; each peer is counted once,
//     in its latest state, so a leecher turning seeder moves from Incomplete to Complete.
//  5. Downloaded. A torrent's Downloaded count goes up by one when a known leecher announces as a
//     seeder, or when an unknown peer announces EventCompleted. A seeder announcing again, with or
//     without EventCompleted, changes nothing.
//  6. Stopped removes. An announce with EventStopped removes the peer (if known) and returns no
//     peers; the counts in its result are those after the removal.
//  7. Expiry. A peer whose latest announce is older than the store's TTL is expired: it is never
//     returned by Announce, and Collect removes it from the counts (and frees the torrent when it
//     has no peers left). Between its expiry and the next Collect an expired peer may still be
//     counted. Stores may keep time coarsely, to a 64th of the TTL (or 4 seconds) either side of
//     it, as opentracker does to 5 minutes; the suite allows 10 seconds at a 10-minute TTL.
//  8. Bounds. A store holds at most MaxTorrents torrents: an announce that would create one more
//     fails with ErrTooManyTorrents and changes nothing. A torrent holds at most
//     MaxPeersPerTorrent peers: a new peer beyond that gets peers and counts as usual but is not
//     recorded (announces of known peers are always recorded).
//  9. Scrape never creates a torrent; an unknown infohash scrapes as all zeros.
//  10. Safe for concurrent use by any number of goroutines.
package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// InfoHash is a torrent's 20-byte v1 infohash (or a v2 infohash truncated to 20 bytes, BEP 52).
type InfoHash [20]byte

// String returns the infohash as 40 lower-case hex digits.
func (h InfoHash) String() string { return hex.EncodeToString(h[:]) }

// ParseInfoHash reads 40 hex digits.
func ParseInfoHash(s string) (InfoHash, error) {
	var h InfoHash
	if len(s) != 40 {
		return h, fmt.Errorf("parse infohash %q: want 40 hex digits, got %d characters", s, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("parse infohash %q: %w", s, err)
	}
	return h, nil
}

// Event is the announce event (BEP 3; BEP 15 numbers them the same way).
type Event uint8

// The announce events, numbered as in BEP 15.
const (
	EventNone      Event = 0
	EventCompleted Event = 1
	EventStarted   Event = 2
	EventStopped   Event = 3
)

// String returns the event's name as sent over HTTP ("" for EventNone).
func (e Event) String() string {
	switch e {
	case EventCompleted:
		return "completed"
	case EventStarted:
		return "started"
	case EventStopped:
		return "stopped"
	}
	return ""
}

// Announce is one peer's announce, already checked by the tracker's sanitize step: Peer is a
// valid unmapped address with a non-zero port.
type Announce struct {
	InfoHash InfoHash
	Peer     netip.AddrPort
	Left     uint64
	Event    Event
	NumWant  int
}

// Counts are a torrent's peer counts, both address families together.
type Counts struct {
	Complete   int // seeders
	Incomplete int // leechers
	Downloaded int // completed downloads seen (rule 5)
}

// Totals describe the whole store.
type Totals struct {
	Torrents int
	Seeders  int
	Leechers int
}

// Store keeps the swarms. See the package comment for the rules.
type Store interface {
	// Announce records a (or, for EventStopped, removes the) peer and appends up to a.NumWant
	// other live peers of the same family to peers, returning the extended slice and the
	// torrent's counts after the update.
	// a is passed by value so callers' requests stay on the stack (a pointer through an
	// interface would escape to the heap on every announce).
	Announce(ctx context.Context, a Announce, peers []netip.AddrPort) ([]netip.AddrPort, Counts, error)
	// Scrape appends the counts of each infohash, in order, to out.
	Scrape(ctx context.Context, hashes []InfoHash, out []Counts) ([]Counts, error)
	// Collect removes the peers expired at now, and torrents left empty.
	Collect(ctx context.Context, now time.Time) error
	// Totals counts torrents, seeders and leechers (expired peers may still be counted until the
	// next Collect).
	Totals(ctx context.Context) (Totals, error)
}

// ErrTooManyTorrents is returned by Announce when the store already holds its maximum number of
// torrents and the announce is for a new one.
var ErrTooManyTorrents = errors.New("store holds its maximum number of torrents")

// Limits bound what a store holds. Every implementation takes them.
type Limits struct {
	// TTL is how long a peer stays after its latest announce.
	TTL time.Duration
	// MaxTorrents caps the number of torrents held.
	MaxTorrents int
	// MaxPeersPerTorrent caps the peers recorded per torrent (both families together).
	MaxPeersPerTorrent int
}

// DefaultLimits are the limits a store uses when given zero values: TTL 45 minutes (1.5 × the
// tracker's default 30-minute interval), one million torrents, 100,000 peers per torrent.
func DefaultLimits() Limits {
	return Limits{TTL: 45 * time.Minute, MaxTorrents: 1_000_000, MaxPeersPerTorrent: 100_000}
}

// WithDefaults returns l with each zero field replaced by its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.TTL <= 0 {
		l.TTL = d.TTL
	}
	if l.MaxTorrents <= 0 {
		l.MaxTorrents = d.MaxTorrents
	}
	if l.MaxPeersPerTorrent <= 0 {
		l.MaxPeersPerTorrent = d.MaxPeersPerTorrent
	}
	return l
}
