package swarm

import (
	"strings"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	infohash_v2 "github.com/anacrolix/torrent/types/infohash-v2"

	"shoal/internal/textsafe"
)

// TorrentMeta describes a torrent in plain values, for `shoal info`, JSON output and the UI.
// Every string that came from the torrent or link has passed through textsafe.String.
type TorrentMeta struct {
	// Name is the torrent's suggested file or folder name.
	Name string `json:"name"`
	// InfoHashV1 is the SHA-1 infohash in lower-case hex; empty for a v2-only torrent.
	InfoHashV1 string `json:"info_hash_v1,omitempty"`
	// InfoHashV2 is the SHA-256 infohash (BEP 52) in lower-case hex, for v2 and hybrid torrents.
	InfoHashV2 string `json:"info_hash_v2,omitempty"`
	// Size is the bytes of file data, pad files excluded.
	Size int64 `json:"size"`
	// PieceLength is the bytes per piece (the last piece may be shorter).
	PieceLength int64 `json:"piece_length"`
	NumPieces   int   `json:"num_pieces"`
	// Files lists the files in the library's order, so an index here is the index the
	// engine's file priorities use. For a single-file torrent it has one entry named Name.
	Files []FileMeta `json:"files"`
	// Trackers are the announce URLs by tier (BEP 12).
	Trackers [][]string `json:"trackers"`
	// WebSeeds are the BEP 19 web seed URLs.
	WebSeeds []string `json:"web_seeds"`
	// Private is the BEP 27 flag: peers only from the torrent's own trackers.
	Private      bool      `json:"private"`
	Comment      string    `json:"comment,omitempty"`
	CreatedBy    string    `json:"created_by,omitempty"`
	CreationDate time.Time `json:"creation_date,omitzero"`
	// Magnet is a magnet link for the torrent: infohash(es), name, trackers and web seeds.
	Magnet string `json:"magnet"`
}

// FileMeta is one file of a torrent.
type FileMeta struct {
	// Path is relative to the torrent's folder, "/"-separated; for a single-file torrent it
	// is the torrent name.
	Path string `json:"path"`
	Size int64  `json:"size"`
	// Pad marks a BEP 47 padding file: zeros that align the next file to a piece, never
	// written by clients that understand them and not part of Size.
	Pad bool `json:"pad,omitempty"`
}

// metaView builds a TorrentMeta from a metainfo and its decoded info.
func metaView(mi *metainfo.MetaInfo, info *metainfo.Info) TorrentMeta {
	var ih metainfo.Hash
	var ihv2 g.Option[infohash_v2.T]
	if info.HasV1() {
		ih = mi.HashInfoBytes()
	}
	if info.HasV2() {
		ihv2.Set(infohash_v2.HashBytes(mi.InfoBytes))
	}
	trackers := mi.UpvertedAnnounceList()
	m := buildMeta(info, ih, ihv2, trackers, mi.UrlList)
	m.Magnet = magnetLink(ih, ihv2, info.BestName(), trackers, mi.UrlList, nil)
	m.Comment = textsafe.String(mi.Comment)
	m.CreatedBy = textsafe.String(mi.CreatedBy)
	if mi.CreationDate > 0 {
		m.CreationDate = time.Unix(mi.CreationDate, 0).UTC()
	}
	return m
}

// buildMeta fills what is known from a magnet link (info nil) or a decoded info.
func buildMeta(info *metainfo.Info, ih metainfo.Hash, ihv2 g.Option[infohash_v2.T], trackers [][]string, webSeeds []string) TorrentMeta {
	m := TorrentMeta{
		Trackers: make([][]string, 0, len(trackers)),
		WebSeeds: make([]string, 0, len(webSeeds)),
		Files:    []FileMeta{},
	}
	if !ih.IsZero() {
		m.InfoHashV1 = ih.HexString()
	}
	if ihv2.Ok {
		m.InfoHashV2 = ihv2.Value.HexString()
	}
	for _, tier := range trackers {
		safe := make([]string, len(tier))
		for i, u := range tier {
			safe[i] = textsafe.String(u)
		}
		m.Trackers = append(m.Trackers, safe)
	}
	for _, u := range webSeeds {
		m.WebSeeds = append(m.WebSeeds, textsafe.String(u))
	}
	if info == nil {
		return m
	}
	m.Name = textsafe.String(info.BestName())
	m.PieceLength = info.PieceLength
	m.NumPieces = info.NumPieces()
	m.Private = info.Private != nil && *info.Private
	for fi := range info.UpvertedFilesIter() {
		f := FileMeta{Size: fi.Length, Pad: strings.ContainsRune(fi.Attr, 'p')}
		f.Path = textsafe.String(fi.DisplayPath(info))
		if !f.Pad {
			m.Size += f.Size
		}
		m.Files = append(m.Files, f)
	}
	return m
}

// magnetLink builds a magnet link. Trackers are flattened, duplicates dropped.
func magnetLink(ih metainfo.Hash, ihv2 g.Option[infohash_v2.T], name string, trackers [][]string, webSeeds, peers []string) string {
	m := metainfo.MagnetV2{DisplayName: name, V2InfoHash: ihv2}
	if !ih.IsZero() {
		m.InfoHash.Set(ih)
	}
	seen := map[string]bool{}
	for _, tier := range trackers {
		for _, u := range tier {
			if !seen[u] {
				seen[u] = true
				m.Trackers = append(m.Trackers, u)
			}
		}
	}
	if len(webSeeds) > 0 || len(peers) > 0 {
		m.Params = map[string][]string{}
		if len(webSeeds) > 0 {
			m.Params["ws"] = webSeeds
		}
		if len(peers) > 0 {
			m.Params["x.pe"] = peers
		}
	}
	return m.String()
}
