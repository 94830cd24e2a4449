package swarm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"shoal/internal/atomicfile"
)

// Version of shoal, reported to peers and trackers.
var Version = "0.1.0-dev"

// sessionTorrent is what the session file keeps of one torrent: enough to
// add it again after a restart. Piece completion lives in the bolt database
// beside it, so verified pieces are not fetched or hashed again.
type sessionTorrent struct {
	InfoHash    string           `json:"infohash"`
	Source      string           `json:"source"`                 // the SOURCE as given
	TorrentFile string           `json:"torrent_file,omitempty"` // cached .torrent once metadata is known
	DataDir     string           `json:"data_dir"`
	Paused      bool             `json:"paused,omitempty"`
	Priorities  map[int]Priority `json:"priorities,omitempty"`
	// Seeded is a folder seeded as it is: its files are the user's, keep their names, and
	// are never downloaded into. Fingerprint is the folder's, hashed, when it was seeded
	// (seed.go): a restart with another one checks the data again.
	Seeded      bool   `json:"seeded,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

type sessionFile struct {
	Version  int              `json:"version"`
	Torrents []sessionTorrent `json:"torrents"`
}

func (e *Engine) sessionPath() string { return filepath.Join(e.cfg.StateDir, "session.json") }

func (e *Engine) torrentCachePath(ih metainfo.Hash) string {
	return filepath.Join(e.cfg.StateDir, "torrents", ih.HexString()+".torrent")
}

func saveTorrentCache(path string, mi *metainfo.MetaInfo) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes(), 0o600)
}

func (e *Engine) saveSessionIfEnabled() {
	if e.cfg.RestoreSession {
		e.saveSession()
	}
}

// saveSession writes the torrent list atomically: a crash leaves the old
// list or the new one, never half of one.
func (e *Engine) saveSession() {
	e.sessionMu.Lock()
	defer e.sessionMu.Unlock()
	e.mu.Lock()
	sf := sessionFile{Version: 1}
	for _, ih := range e.order {
		m := e.torrents[ih]
		m.mu.Lock()
		rec := m.record
		rec.InfoHash = ih.HexString()
		rec.Paused = m.paused
		rec.Priorities = m.priorities
		m.mu.Unlock()
		sf.Torrents = append(sf.Torrents, rec)
	}
	e.mu.Unlock()
	data, err := json.MarshalIndent(sf, "", "  ")
	if err == nil {
		err = atomicfile.Write(e.sessionPath(), data, 0o600)
	}
	if err != nil {
		e.log.Error("save session", "path", e.sessionPath(), "err", err)
	}
}

func (e *Engine) restoreSession(ctx context.Context) error {
	data, err := os.ReadFile(e.sessionPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var sf sessionFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return fmt.Errorf("%s: %w", e.sessionPath(), err)
	}
	var errs []error
	for _, rec := range sf.Torrents {
		raw := rec.Source
		if rec.TorrentFile != "" {
			if _, err := os.Stat(rec.TorrentFile); err == nil {
				raw = rec.TorrentFile
			}
		}
		src, err := ParseSource(ctx, raw, e.cfg.Limits, e.httpClient)
		if err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", rec.InfoHash, err))
			continue
		}
		spec, err := src.spec()
		if err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", rec.InfoHash, err))
			continue
		}
		keep := rec
		if src.mi != nil {
			keep.TorrentFile = e.torrentCachePath(specKey(spec))
		}
		opts := AddOptions{DataDir: rec.DataDir, Paused: rec.Paused, FilePriorities: rec.Priorities}
		if rec.Seeded {
			// A file changed while we were not running is not noticed by a read (its
			// baseline is taken when the storage opens), so compare the folder as a whole.
			fp, err := fingerprint(rec.Source)
			opts.Verify = err != nil || rec.Fingerprint == "" || fingerprintHash(fp) != rec.Fingerprint
		}
		if _, err := e.addSpec(ctx, spec, opts, keep, src.magnetURI()); err != nil {
			errs = append(errs, fmt.Errorf("restore %s: %w", rec.InfoHash, err))
		}
	}
	return errors.Join(errs...)
}

// markAllComplete records every piece of a torrent as verified.
func (e *Engine) markAllComplete(ih metainfo.Hash, infoBytes []byte) error {
	var info metainfo.Info
	if err := bencode.Unmarshal(infoBytes, &info); err != nil {
		return err
	}
	for i := range info.NumPieces() {
		if err := e.completion.Set(metainfo.PieceKey{InfoHash: ih, Index: i}, g.Some(true)); err != nil {
			return err
		}
	}
	return nil
}

// allComplete reports whether the completion database holds every piece
// of a torrent as verified.
func (e *Engine) allComplete(ih metainfo.Hash, numPieces int) bool {
	for i := range numPieces {
		c, err := e.completion.Get(metainfo.PieceKey{InfoHash: ih, Index: i})
		if err != nil || !c.Ok || !c.Complete {
			return false
		}
	}
	return numPieces > 0
}

func (e *Engine) forgetCompletion(ih metainfo.Hash, info *metainfo.Info) {
	if info == nil {
		return
	}
	for i := range info.NumPieces() {
		e.completion.Set(metainfo.PieceKey{InfoHash: ih, Index: i}, g.None[bool]())
	}
}

// deleteTorrentFiles removes a torrent's own files (and, for downloads, their .part files)
// under dataDir, then the folders they leave empty. It refuses any path
// that resolves outside dataDir, so a symlink planted in the download
// folder cannot redirect the deletion.
func deleteTorrentFiles(dataDir string, info *metainfo.Info, partFiles bool) error {
	root, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return fmt.Errorf("delete data: %w", err)
	}
	var errs []error
	dirs := map[string]bool{}
	for _, f := range info.UpvertedFiles() {
		parts := torrentFilePath(info, &f)
		p := filepath.Join(append([]string{root}, parts...)...)
		if !within(root, p) {
			errs = append(errs, fmt.Errorf("delete %q: outside %s", p, root))
			continue
		}
		parent, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			continue // already gone
		}
		if !within(root, parent) && parent != root {
			errs = append(errs, fmt.Errorf("delete %q: parent resolves outside %s", p, root))
			continue
		}
		names := []string{p}
		if partFiles { // a seed's NAME.part is not ours (seeded files have none)
			names = append(names, p+".part")
		}
		for _, name := range names {
			if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		for d := filepath.Dir(p); within(root, d); d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	// Deepest first, so children go before parents; only empty ones go.
	ordered := make([]string, 0, len(dirs))
	for d := range dirs {
		ordered = append(ordered, d)
	}
	depth := func(p string) int { return strings.Count(p, string(filepath.Separator)) }
	slices.SortFunc(ordered, func(a, b string) int { return depth(b) - depth(a) })
	for _, d := range ordered {
		os.Remove(d)
	}
	return errors.Join(errs...)
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
