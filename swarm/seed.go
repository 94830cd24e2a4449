package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"

	"shoal/internal/atomicfile"
)

// Seeded describes a torrent the engine is seeding.
type Seeded struct {
	InfoHash string
	Magnet   string
	Meta     TorrentMeta
	// TorrentBytes is the bencoded .torrent, for --torrent-out.
	TorrentBytes []byte
	// Reused is true when the torrent came from the seed cache: the folder
	// was unchanged since the last run, so nothing was hashed.
	Reused bool
}

// SeedPath creates a torrent of a file or folder (or reuses the one made
// last time if no file changed) and seeds it from where it is. With
// opts.Hybrid the torrent is a hybrid v1+v2 one (see CreateOptions).
func (e *Engine) SeedPath(ctx context.Context, path string, opts CreateOptions) (*Seeded, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	cache := e.seedCachePaths(abs, opts)
	fp, fpErr := fingerprint(abs)
	var torrentBytes []byte
	reused, fpUnchanged := false, false
	if fpErr == nil {
		if old, err := os.ReadFile(cache.fingerprint); err == nil && string(old) == string(fp) {
			if b, err := os.ReadFile(cache.torrent); err == nil {
				torrentBytes, reused = b, true
			}
		}
	}
	if !reused {
		created, err := Create(ctx, abs, opts)
		if err != nil {
			return nil, err
		}
		torrentBytes = created.Bytes
		// Fingerprint again: the folder must not have changed during hashing.
		if fp2, err := fingerprint(abs); err == nil && fpErr == nil && string(fp2) == string(fp) {
			fpUnchanged = true
			os.MkdirAll(filepath.Dir(cache.torrent), 0o700)
			if atomicfile.Write(cache.torrent, torrentBytes, 0o600) == nil {
				atomicfile.Write(cache.fingerprint, fp, 0o600)
			}
		}
	}
	mi, err := metainfo.Load(bytes.NewReader(torrentBytes))
	if err != nil {
		return nil, fmt.Errorf("load created torrent: %w", err)
	}
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return nil, err
	}
	rec := sessionTorrent{Source: abs, TorrentFile: e.torrentCachePath(specKey(spec))}
	if fpErr == nil && (reused || fpUnchanged) {
		rec.Fingerprint = fingerprintHash(fp)
	}
	saveTorrentCache(rec.TorrentFile, mi)
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, err
	}
	// A fresh torrent was hashed just now; a reused one is trusted only if
	// the completion database agrees, otherwise it is checked.
	verified := !reused
	verify := reused && !e.allComplete(specKey(spec), info.NumPieces())
	ih, err := e.addSpec(ctx, spec, AddOptions{DataDir: filepath.Dir(abs), verified: verified, Verify: verify, seeded: true}, rec, "")
	if err != nil {
		return nil, err
	}
	meta := metaView(mi, &info)
	return &Seeded{
		InfoHash:     ih,
		Magnet:       meta.Magnet,
		Meta:         meta,
		TorrentBytes: torrentBytes,
		Reused:       reused,
	}, nil
}

// SeedTorrent seeds a torrent whose data is in dataDir, the user's files:
// they are hashed first, only read, and pieces that do not match are
// reported and not served.
func (e *Engine) SeedTorrent(ctx context.Context, src *Source, dataDir string) (string, error) {
	if !src.HasInfo() {
		return "", fmt.Errorf("%w: seeding needs a .torrent, not a magnet link or infohash", ErrBadSource)
	}
	if _, err := src.spec(); err != nil {
		return "", err
	}
	// Always checked: the completion records are per torrent, not per data
	// folder, and the files may have changed since (README: "checked first").
	return e.Add(ctx, src, AddOptions{DataDir: dataDir, Verify: true, seeded: true})
}

type seedCache struct{ torrent, fingerprint string }

// seedCachePaths names the cached torrent for a folder and the options it
// was made with: other options make another torrent.
func (e *Engine) seedCachePaths(abs string, opts CreateOptions) seedCache {
	key, _ := json.Marshal(struct {
		Path               string
		Trackers, WebSeeds []string
		Private            bool
		PieceLength        int64
		Comment            string
		// omitempty keeps the key of a v1 torrent what it was before hybrids existed.
		Hybrid bool `json:",omitempty"`
	}{abs, opts.Trackers, opts.WebSeeds, opts.Private, opts.PieceLength, opts.Comment, opts.Hybrid})
	sum := sha1.Sum(key)
	base := filepath.Join(e.cfg.StateDir, "seeds", hex.EncodeToString(sum[:]))
	return seedCache{torrent: base + ".torrent", fingerprint: base + ".files"}
}

// fingerprint lists every file under root with its size and modification
// time: if it is unchanged, so (for practical purposes) is the torrent.
func fingerprint(root string) ([]byte, error) {
	type entry struct {
		Path  string
		Size  int64
		MTime int64
	}
	var entries []entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		entries = append(entries, entry{p, fi.Size(), fi.ModTime().UnixNano()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b entry) int {
		if a.Path < b.Path {
			return -1
		}
		if a.Path > b.Path {
			return 1
		}
		return 0
	})
	return json.Marshal(entries)
}

// fingerprintHash is a fingerprint as kept in the session file.
func fingerprintHash(fp []byte) string {
	h := sha1.Sum(fp)
	return hex.EncodeToString(h[:])
}
