package swarm

import (
	"runtime"
	"time"
)

// Limits bounds what shoal accepts from outside: .torrent files, magnet links, metadata from
// peers and .torrent downloads. Every field is a plain value so a Config can compare Limits with
// ==. DefaultLimits gives the values shoal uses; a zero field means its default, never
// "unlimited".
type Limits struct {
	// MaxTorrentFileBytes caps a .torrent file read from disk, checked before it is read.
	// The largest real torrents (many files, small pieces) are a few MiB.
	MaxTorrentFileBytes int64
	// MaxHTTPSourceBytes caps a .torrent downloaded from an http(s) URL, counted after any
	// transparent gzip decoding, so a compressed bomb stops at the cap.
	MaxHTTPSourceBytes int64
	// HTTPSourceTimeout bounds the whole download of a .torrent URL, redirects included.
	HTTPSourceTimeout time.Duration
	// MaxMetadataBytes caps the bencoded info dictionary, from a .torrent or from peers
	// (BEP 9); the library has the same 16 MiB cap for metadata exchange.
	MaxMetadataBytes int64
	// MaxMagnetBytes caps the length of a magnet link (a pasted link can be anything).
	MaxMagnetBytes int
	// MaxBencodeDepth caps how deeply lists and dictionaries nest. A v1 torrent needs 5 levels;
	// a v2 file tree adds one per folder. The library's decoder recurses and stops at 64.
	MaxBencodeDepth int
	// MaxFiles caps the number of files in a torrent (pad files included): each file costs
	// memory and possibly an open file descriptor in storage.
	MaxFiles int
	// MaxPieces caps the piece count; 2^21 is libtorrent's default too (a 16 MiB info dict
	// holds at most ~800k v1 piece hashes anyway).
	MaxPieces int
	// MinPieceLength and MaxPieceLength bound the piece length. 16 KiB is the block size every
	// peer requests in; over 64 MiB a single bad piece costs too much to fetch again.
	MinPieceLength int64
	MaxPieceLength int64
	// MaxNameBytes caps one path component (the torrent name or a folder or file name); 255
	// bytes is the limit of ext4, btrfs, xfs and most other file systems.
	MaxNameBytes int
	// MaxPathDepth caps how many components a file path has, so a torrent cannot make the
	// client create absurdly deep folder trees.
	MaxPathDepth int
	// MaxPathBytes caps a file path inside the torrent (name included, joined by "/"), leaving
	// room for the download folder under Linux's 4096-byte PATH_MAX.
	MaxPathBytes int
	// MaxTrackers caps the tracker URLs of a torrent or magnet link: a torrent listing
	// thousands of URLs would turn the client into a traffic source against their hosts.
	MaxTrackers int
	// MaxWebSeeds caps the web seed URLs (BEP 19) of a torrent or magnet link, for the same reason.
	MaxWebSeeds int
	// MaxPeerAddrs caps the x.pe peer addresses of a magnet link.
	MaxPeerAddrs int
	// CaseInsensitivePaths refuses torrents with two file paths that differ only in letter
	// case. On a case-insensitive file system (the Windows and macOS defaults) they are one
	// file and would overwrite each other; on Linux they are distinct, and real torrents (the
	// Linux kernel sources, say) have such pairs.
	CaseInsensitivePaths bool
}

// DefaultLimits returns the limits shoal uses unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxTorrentFileBytes:  10 << 20,
		MaxHTTPSourceBytes:   10 << 20,
		HTTPSourceTimeout:    30 * time.Second,
		MaxMetadataBytes:     16 << 20,
		MaxMagnetBytes:       64 << 10,
		MaxBencodeDepth:      64,
		MaxFiles:             1 << 18,
		MaxPieces:            1 << 21,
		MinPieceLength:       16 << 10,
		MaxPieceLength:       64 << 20,
		MaxNameBytes:         255,
		MaxPathDepth:         64,
		MaxPathBytes:         3072,
		MaxTrackers:          500,
		MaxWebSeeds:          100,
		MaxPeerAddrs:         500,
		CaseInsensitivePaths: runtime.GOOS == "windows" || runtime.GOOS == "darwin",
	}
}

// withDefaults fills zero fields from DefaultLimits, so a Limits that sets only a few fields
// does not refuse everything.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	setIfZero(&l.MaxTorrentFileBytes, d.MaxTorrentFileBytes)
	setIfZero(&l.MaxHTTPSourceBytes, d.MaxHTTPSourceBytes)
	setIfZero(&l.HTTPSourceTimeout, d.HTTPSourceTimeout)
	setIfZero(&l.MaxMetadataBytes, d.MaxMetadataBytes)
	setIfZero(&l.MaxMagnetBytes, d.MaxMagnetBytes)
	setIfZero(&l.MaxBencodeDepth, d.MaxBencodeDepth)
	setIfZero(&l.MaxFiles, d.MaxFiles)
	setIfZero(&l.MaxPieces, d.MaxPieces)
	setIfZero(&l.MinPieceLength, d.MinPieceLength)
	setIfZero(&l.MaxPieceLength, d.MaxPieceLength)
	setIfZero(&l.MaxNameBytes, d.MaxNameBytes)
	setIfZero(&l.MaxPathDepth, d.MaxPathDepth)
	setIfZero(&l.MaxPathBytes, d.MaxPathBytes)
	setIfZero(&l.MaxTrackers, d.MaxTrackers)
	setIfZero(&l.MaxWebSeeds, d.MaxWebSeeds)
	setIfZero(&l.MaxPeerAddrs, d.MaxPeerAddrs)
	return l
}

func setIfZero[T int | int64 | time.Duration](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}
