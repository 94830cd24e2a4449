package main

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

// TestCreateHybridAndInfo: `create --hybrid` writes a hybrid torrent whose two infohashes
// (computed here from the info bytes) are the ones `info` prints, in text and JSON, with the
// pad files left out of the file list.
func TestCreateHybridAndInfo(t *testing.T) {
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "album", "one.flac"), 300_000)
	writeRandom(t, filepath.Join(dir, "album", "two.flac"), 200_001)
	tf := filepath.Join(dir, "album.torrent")
	r := run(t, "create", filepath.Join(dir, "album"), "-o", tf, "--hybrid", "--piece-length", "64K")
	if r.code != 0 {
		t.Fatalf("create --hybrid: exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "hybrid v1+v2") || !strings.Contains(r.stderr, "in 2 files") {
		t.Errorf("create --hybrid summary: %s", r.stderr)
	}
	mi, err := metainfo.LoadFromFile(tf)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := sha1.Sum(mi.InfoBytes), sha256.Sum256(mi.InfoBytes)
	v1, v2 := hex.EncodeToString(s1[:]), hex.EncodeToString(s2[:])
	if len(mi.PieceLayers) != 2 {
		t.Errorf("%d piece layers, want one per file over 64 KiB", len(mi.PieceLayers))
	}
	if !strings.Contains(r.stdout, "urn:btih:"+v1) || !strings.Contains(r.stdout, "urn:btmh:1220"+v2) {
		t.Errorf("create printed %q, want a magnet with btih %s and btmh %s", r.stdout, v1, v2)
	}

	r = run(t, "info", tf)
	if r.code != 0 {
		t.Fatalf("info: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"infohash:     " + v1, "infohash v2:  " + v2, "hybrid v1+v2", "files (2):"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("info lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, ".pad") {
		t.Errorf("info lists pad files:\n%s", r.stdout)
	}
	r = run(t, "info", "--json", tf)
	var meta struct {
		V1    string `json:"info_hash_v1"`
		V2    string `json:"info_hash_v2"`
		Size  int64  `json:"size"`
		Files []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &meta); err != nil {
		t.Fatalf("info --json: %v\n%s", err, r.stdout)
	}
	if meta.V1 != v1 || meta.V2 != v2 || meta.Size != 500_001 || len(meta.Files) != 2 {
		t.Errorf("info --json gave %+v", meta)
	}
}
