package swarm

import (
	"path/filepath"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// A single-file v2 or hybrid torrent has a BEP 52 file tree of one file, keyed by its name:
// {"single.bin": {"": {...}}}. The library lists that file with the path ["single.bin"] and
// its default path maker puts the torrent's name in front, so the data would live at
// single.bin/single.bin, where neither libtorrent nor the creator keeps it (and a seed of the
// original file would find nothing). torrentFilePath puts it where v1 puts a single file.

// isV2SingleFile reports whether info is a single-file torrent described by a BEP 52 file
// tree: the tree holds one entry, a file, and no v1 "files" list says otherwise.
func isV2SingleFile(info *metainfo.Info) bool {
	if !info.HasV2() || len(info.Files) != 0 || info.FileTree.NumEntries() != 1 {
		return false
	}
	for k, sub := range info.FileTree.Dir {
		if k != metainfo.FileTreePropertiesKey {
			return !sub.IsDir()
		}
	}
	return false
}

// torrentFilePath is where file fi of info lives below the data folder, as path components:
// the torrent's name then the file's path (only the file's path for metainfo.NoName), or for a
// single-file torrent, v1 or v2, the name of the file alone.
func torrentFilePath(info *metainfo.Info, fi *metainfo.FileInfo) []string {
	if isV2SingleFile(info) {
		return fi.BestPath()
	}
	var parts []string
	if info.BestName() != metainfo.NoName {
		parts = append(parts, info.BestName())
	}
	return append(parts, fi.BestPath()...)
}

// filePathMaker is torrentFilePath for the library's file storage (NewFileClientOpts).
func filePathMaker(o storage.FilePathMakerOpts) string {
	return filepath.Join(torrentFilePath(o.Info, o.File)...)
}
