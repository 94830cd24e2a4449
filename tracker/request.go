package tracker

import (
	"net/netip"
	"time"

	"shoal/tracker/store"
)

// AnnounceRequest is one announce, whatever protocol carried it. Front ends fill it from the
// wire; Logic.Announce sanitises it before use.
type AnnounceRequest struct {
	InfoHash store.InfoHash
	PeerID   [20]byte
	// Addr is the address and port to record: the packet's or connection's source address (or
	// a trusted ip= / X-Forwarded-For address) with the port the client asked for.
	Addr       netip.AddrPort
	Uploaded   uint64
	Downloaded uint64
	Left       uint64
	Event      store.Event
	// NumWant is how many peers the client wants; negative means "not given" (the default).
	NumWant int
	// Passkey is the path element of /<passkey>/announce, or "".
	Passkey string
}

// AnnounceResponse is the answer to an announce.
type AnnounceResponse struct {
	Interval    time.Duration
	MinInterval time.Duration
	Complete    int // seeders, both address families
	Incomplete  int // leechers, both address families
	// Peers are other peers of the requester's address family. Logic.Announce reuses the
	// slice's capacity, so a front end can keep one AnnounceResponse per connection or reader.
	Peers []netip.AddrPort
}

// ScrapeRequest asks for the counts of some torrents.
type ScrapeRequest struct {
	InfoHashes []store.InfoHash
	Passkey    string
}

// ScrapeResponse has one entry per requested infohash after sanitising (same order,
// truncated to the scrape limit).
type ScrapeResponse struct {
	InfoHashes []store.InfoHash
	Counts     []store.Counts
}
