package swarm

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/merkle"
	"github.com/anacrolix/torrent/metainfo"

	"shoal/internal/testpeers"
)

// createHybrid makes a hybrid torrent of root and returns it with its parsed metainfo and info.
func createHybrid(t *testing.T, root string, pl int64) (*Created, *metainfo.MetaInfo, *metainfo.Info) {
	t.Helper()
	c, err := Create(context.Background(), root, CreateOptions{Hybrid: true, PieceLength: pl})
	if err != nil {
		t.Fatal(err)
	}
	mi, err := metainfo.Load(bytes.NewReader(c.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	return c, mi, &info
}

// TestHybridStructure checks a hybrid torrent against computations written independently of
// hybrid.go: the v1 pieces as SHA-1 over the files concatenated with zeros up to each piece
// boundary, each pieces root as the library's streaming merkle.Hash over the whole file, the
// piece layers with the library's ValidatePieceLayers, and both infohashes as hashes of the
// info bytes.
func TestHybridStructure(t *testing.T) {
	for _, pl := range []int64{16 << 10, 32 << 10, 1 << 20} {
		t.Run(fmt.Sprint(pl), func(t *testing.T) {
			root := writeTree(t, "tree", trickyTree)
			c, mi, info := createHybrid(t, root, pl)
			if !info.HasV1() || !info.HasV2() || info.MetaVersion != 2 {
				t.Fatalf("not hybrid: meta version %d, v1 %v", info.MetaVersion, info.HasV1())
			}

			// File-tree order, each real file followed by its pad.
			var got, want []string
			for _, f := range info.Files {
				s := strings.Join(f.Path, "/")
				if f.Attr != "" {
					s += " attr=" + f.Attr
				}
				got = append(got, fmt.Sprintf("%s %d", s, f.Length))
			}
			keys := sortedByComponent(trickyTree)
			var stream bytes.Buffer // the v1 torrent's bytes, pads included
			for _, k := range keys {
				n := int64(trickyTree[k])
				want = append(want, fmt.Sprintf("%s %d", k, n))
				data, err := os.ReadFile(filepath.Join(root, k))
				if err != nil {
					t.Fatal(err)
				}
				stream.Write(data)
				if n%pl != 0 {
					pad := pl - n%pl
					want = append(want, fmt.Sprintf(".pad/%d attr=p %d", pad, pad))
					stream.Write(make([]byte, pad))
				}
			}
			eq(t, "v1 files", strings.Join(got, "\n"), strings.Join(want, "\n"))

			var pieces []byte
			for b := stream.Bytes(); len(b) > 0; b = b[min(int64(len(b)), pl):] {
				sum := sha1.Sum(b[:min(int64(len(b)), pl)])
				pieces = append(pieces, sum[:]...)
			}
			if !bytes.Equal(info.Pieces, pieces) {
				t.Errorf("v1 pieces differ from SHA-1 over the padded files")
			}
			if n := info.NumPieces(); n*20 != len(pieces) {
				t.Errorf("v2 piece count %d, v1 %d", n, len(pieces)/20)
			}

			// Each file's pieces root from the library's own merkle hash of its whole content.
			nLayers := 0
			for fi := range info.UpvertedFilesIter() {
				p := strings.Join(fi.Path, "/")
				if fi.Length == 0 {
					if fi.PiecesRoot.Ok {
						t.Errorf("%s: empty file with a pieces root", p)
					}
					continue
				}
				data, err := os.ReadFile(filepath.Join(root, p))
				if err != nil {
					t.Fatal(err)
				}
				h := merkle.NewHash()
				h.Write(data)
				if !fi.PiecesRoot.Ok || !bytes.Equal(h.Sum(nil), fi.PiecesRoot.Value[:]) {
					t.Errorf("%s: pieces root differs from merkle.Hash of the file", p)
				}
				if fi.Length > pl {
					nLayers++
				}
			}
			if len(mi.PieceLayers) != nLayers {
				t.Errorf("%d piece layers, want one per file over a piece: %d", len(mi.PieceLayers), nLayers)
			}
			if err := metainfo.ValidatePieceLayers(mi.PieceLayers, &info.FileTree, pl); err != nil {
				t.Errorf("piece layers: %v", err)
			}

			src := c.Source()
			s1 := sha1.Sum(mi.InfoBytes)
			s2 := sha256.Sum256(mi.InfoBytes)
			eq(t, "v1 infohash", src.InfoHash(), hex.EncodeToString(s1[:]))
			eq(t, "v2 infohash", src.InfoHashV2(), hex.EncodeToString(s2[:]))
			eq(t, "meta v2 infohash", c.Meta.InfoHashV2, hex.EncodeToString(s2[:]))
			if !strings.Contains(c.Meta.Magnet, "urn:btmh:1220"+hex.EncodeToString(s2[:])) ||
				!strings.Contains(c.Meta.Magnet, "urn:btih:"+hex.EncodeToString(s1[:])) {
				t.Errorf("magnet %s lacks an infohash", c.Meta.Magnet)
			}
		})
	}
}

func TestHybridSingleFile(t *testing.T) {
	f := filepath.Join(writeTree(t, "d", map[string]int{"one.bin": 3<<20 + 7}), "one.bin")
	_, mi, info := createHybrid(t, f, 1<<20)
	if info.Length != 3<<20+7 || len(info.Files) != 0 || info.Name != "one.bin" {
		t.Fatalf("single file: length %d, %d files, name %q", info.Length, len(info.Files), info.Name)
	}
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	// No pad: the last v1 piece is short, as in any single-file torrent.
	var pieces []byte
	for b := data; len(b) > 0; b = b[min(len(b), 1<<20):] {
		sum := sha1.Sum(b[:min(len(b), 1<<20)])
		pieces = append(pieces, sum[:]...)
	}
	if !bytes.Equal(info.Pieces, pieces) {
		t.Error("v1 pieces differ")
	}
	if err := metainfo.ValidatePieceLayers(mi.PieceLayers, &info.FileTree, info.PieceLength); err != nil || len(mi.PieceLayers) != 1 {
		t.Errorf("piece layers (%d): %v", len(mi.PieceLayers), err)
	}
}

// TestHybridRefusals: the walk's refusals apply to hybrid torrents too, and so does the limit
// on pieces, counted with every file starting a piece.
func TestHybridRefusals(t *testing.T) {
	files := map[string]int{}
	for i := range 40 {
		files[fmt.Sprintf("f%02d", i)] = 1
	}
	root := writeTree(t, "many", files)
	// 40 one-byte files make 40 pieces in a hybrid torrent, 1 in a v1 one.
	c, _, info := createHybrid(t, root, 16<<10)
	if got := info.NumPieces(); got != 40 || len(info.Pieces) != 40*20 {
		t.Errorf("%d pieces (%d v1), want 40", got, len(info.Pieces)/20)
	}
	if c.Meta.Size != 40 {
		t.Errorf("Meta.Size = %d: pad files counted?", c.Meta.Size)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(context.Background(), root, CreateOptions{Hybrid: true}); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("symlink: %v", err)
	}
}

// sortedByComponent lists the keys of a tree in BEP 52 file-tree order.
func sortedByComponent(tree map[string]int) []string {
	var keys []string
	for k := range tree {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return slices.Compare(strings.Split(a, "/"), strings.Split(b, "/")) })
	return keys
}

// TestHybridMatchesLibtorrent makes hybrid torrents of the same data with libtorrent's
// create_torrent (python3-libtorrent) and checks the info dictionaries are byte for byte the
// same — so both infohashes are — and so are the piece layers.
func TestHybridMatchesLibtorrent(t *testing.T) {
	py := testpeers.Libtorrent(t)
	script, err := filepath.Abs("../interop/testdata/hybrid/lt_create.py")
	if err != nil {
		t.Fatal(err)
	}
	trees := map[string]map[string]int{
		"tricky": trickyTree,
		"aligned": {
			"x/a": 64 << 10, "x/b": 16 << 10, "y": 1,
		},
	}
	for name, tree := range trees {
		for _, pl := range []int64{16 << 10, 64 << 10, 2 << 20} {
			t.Run(fmt.Sprintf("%s/%d", name, pl), func(t *testing.T) {
				root := writeTree(t, "release", tree)
				_, mi, _ := createHybrid(t, root, pl)
				ltInfo, ltLayers, ltHashes := libtorrentCreate(t, py, script, root, pl, "hybrid")
				if !bytes.Equal(mi.InfoBytes, ltInfo) {
					t.Errorf("info dictionaries differ:\nshoal      %s\nlibtorrent %s", briefBencode(mi.InfoBytes), briefBencode(ltInfo))
				}
				s1, s2 := sha1.Sum(mi.InfoBytes), sha256.Sum256(mi.InfoBytes)
				eq(t, "v1 infohash", hex.EncodeToString(s1[:]), ltHashes.V1)
				eq(t, "v2 infohash", hex.EncodeToString(s2[:]), ltHashes.V2)
				if !maps.Equal(mi.PieceLayers, ltLayers) {
					t.Errorf("piece layers differ (%d, libtorrent %d)", len(mi.PieceLayers), len(ltLayers))
				}
			})
		}
	}
	t.Run("single file", func(t *testing.T) {
		f := filepath.Join(writeTree(t, "d", map[string]int{"one.bin": 3<<20 + 7}), "one.bin")
		_, mi, _ := createHybrid(t, f, 256<<10)
		ltInfo, ltLayers, _ := libtorrentCreate(t, py, script, f, 256<<10, "hybrid")
		if !bytes.Equal(mi.InfoBytes, ltInfo) {
			t.Errorf("info dictionaries differ:\nshoal      %s\nlibtorrent %s", briefBencode(mi.InfoBytes), briefBencode(ltInfo))
		}
		if !maps.Equal(mi.PieceLayers, ltLayers) {
			t.Error("piece layers differ")
		}
	})
}

type ltHashes struct{ V1, V2 string }

// libtorrentCreate runs lt_create.py and returns libtorrent's info bytes, piece layers and the
// infohashes it reports.
func libtorrentCreate(t *testing.T, py, script, path string, pl int64, mode string) ([]byte, map[string]string, ltHashes) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "lt.torrent")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, script, "--path", path, "--out", out, "--piece-length", fmt.Sprint(pl), "--mode", mode)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("lt_create.py: %v\n%s", err, stderr.String())
	}
	var h ltHashes
	if err := json.Unmarshal(stdout, &h); err != nil {
		t.Fatalf("lt_create.py output %q: %v", stdout, err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mi, err := metainfo.Load(io.Reader(f))
	if err != nil {
		t.Fatal(err)
	}
	return mi.InfoBytes, mi.PieceLayers, h
}

// briefBencode shows an info dictionary without its binary hashes, for failure messages.
func briefBencode(b []byte) string {
	var v map[string]any
	if err := bencode.Unmarshal(b, &v); err != nil {
		return err.Error()
	}
	delete(v, "pieces")
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			for k, v := range x {
				if k == "pieces root" {
					x[k] = "…"
				} else {
					x[k] = walk(v)
				}
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		}
		return x
	}
	j, _ := json.Marshal(walk(v))
	return string(j)
}

// TestHybridSeedAndGet: an engine seeds a hybrid torrent it made (SeedPath with Hybrid) and
// another downloads it, by the v2-only magnet link (metadata and piece layers from the seed)
// and by the .torrent; the data arrive intact, a single file at the top of the data folder.
// The seed's torrent is reused on a second SeedPath, and its cache key differs from the v1
// torrent of the same folder.
func TestHybridSeedAndGet(t *testing.T) {
	for _, c := range []struct {
		name   string
		seed   string           // the file or folder seeded
		files  map[string]int64 // in the folder that holds it
		magnet bool
	}{
		{"folder by v2 magnet", "release", map[string]int64{
			"release/a.bin": 1<<20 + 17, "release/a b/x": 70_000, "release/sub/b.txt": 100_000, "release/sub/deeper/c": 1}, true},
		{"file by torrent", "one.bin", map[string]int64{"one.bin": 1<<20 + 5}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := CreateOptions{Hybrid: true, PieceLength: 64 << 10}
			seeder, seeded, content := seedFrom(t, testConfig(t, "127.0.0.2"), c.seed, c.files, opts)
			if seeded.Meta.InfoHashV2 == "" || seeded.Meta.InfoHashV1 == "" {
				t.Fatalf("not hybrid: %+v", seeded.Meta)
			}
			if a, b := seeder.seedCachePaths(content, opts), seeder.seedCachePaths(content, CreateOptions{PieceLength: 64 << 10}); a == b {
				t.Error("hybrid and v1 torrents of one folder share a seed cache entry")
			}

			src := "magnet:?xt=urn:btmh:1220" + seeded.Meta.InfoHashV2
			if !c.magnet {
				src = filepath.Join(t.TempDir(), "h.torrent")
				if err := os.WriteFile(src, seeded.TorrentBytes, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := testConfig(t, "127.0.0.3")
			leecher, ih := leechFrom(t, cfg, src, seeder.ListenAddr())
			tv := waitFor(t, leecher, ih, 60*time.Second, func(tv TorrentView) bool { return tv.Complete() })
			if tv.Done != tv.Size {
				t.Fatalf("complete torrent with %d of %d bytes", tv.Done, tv.Size)
			}
			// A single file is compared as a tree of one, at the top of the data folder.
			if treeHash(t, filepath.Join(cfg.DataDir, c.seed)) != treeHash(t, content) {
				t.Fatal("downloaded data differ")
			}

			again, err := seeder.SeedPath(context.Background(), content, opts)
			if err != nil || !again.Reused || again.InfoHash != seeded.InfoHash {
				t.Errorf("second SeedPath: reused %v, infohash %s (first %s), err %v", again != nil && again.Reused, again.InfoHash, seeded.InfoHash, err)
			}
		})
	}
}

// TestTorrentFilePath: a single-file torrent's data lives at the top of the data folder whether
// the torrent is v1, hybrid or v2-only; a folder torrent's under its name.
func TestTorrentFilePath(t *testing.T) {
	one := filepath.Join(writeTree(t, "d", map[string]int{"one.bin": 100}), "one.bin")
	dir := writeTree(t, "dir", map[string]int{"x/y": 100, "z": 1})
	for _, c := range []struct {
		path   string
		hybrid bool
		want   string
	}{
		{one, false, "one.bin"},
		{one, true, "one.bin"},
		{dir, false, "dir/x/y|dir/z"},
		{dir, true, "dir/x/y|dir/z"},
	} {
		cr, err := Create(context.Background(), c.path, CreateOptions{Hybrid: c.hybrid})
		if err != nil {
			t.Fatal(err)
		}
		info := cr.Source().info
		var got []string
		for fi := range info.UpvertedFilesIter() {
			got = append(got, strings.Join(torrentFilePath(info, &fi), "/"))
		}
		eq(t, fmt.Sprintf("%s hybrid=%v", filepath.Base(c.path), c.hybrid), strings.Join(got, "|"), c.want)
	}
	// v2-only: the same tree without the v1 keys.
	info := metainfo.Info{Name: "one.bin", PieceLength: 16 << 10, MetaVersion: 2, FileTree: metainfo.FileTree{
		Dir: map[string]metainfo.FileTree{"one.bin": {File: metainfo.FileTreeFile{Length: 100, PiecesRoot: strings.Repeat("x", 32)}}}}}
	for fi := range info.UpvertedFilesIter() {
		eq(t, "v2-only single file", strings.Join(torrentFilePath(&info, &fi), "/"), "one.bin")
	}
}
