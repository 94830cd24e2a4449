package interop_test

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"shoal/internal/testpeers"
)

// BEP 52 hybrid and v2 torrents between shoal and libtorrent (2.0, which has v2 throughout).
//
// "As v1" and "as v2" are the two ways a client joins a hybrid torrent: knowing only its v1
// infohash it handshakes with the SHA-1 infohash (the v1 swarm); knowing only its v2
// infohash it handshakes with the truncated SHA-256 one, and, coming from a magnet link, it
// must also fetch the piece layers with BEP 52 hash requests before it can check a piece by
// its v2 hashes. A magnet link with one xt is how libtorrent is made to know only one.
//
// libtorrent asks for the tail of an unaligned file in a whole 16 KiB block that runs into the
// padding after it, which unpatched anacrolix/torrent v1.62.0 drops the connection for; shoal
// serves it thanks to third_party/patches/anacrolix-torrent-v1.62.0-padding.patch.

// hybridTree has names whose v1 "/"-joined order differs from the BEP 52 file-tree order
// ("a b/x" sorts before "a/x" joined, after it by component), files that straddle piece
// boundaries and a one-byte file: every file but an exact multiple of the piece length gets a
// pad file after it.
var hybridTree = []testpeers.File{
	{Path: "a/x.bin", Size: 1<<20 + 7},
	{Path: "a b/y.bin", Size: 300_001},
	{Path: "a-b", Size: 1},
	{Path: "sub/deeper/d.bin", Size: 2<<20 - 3},
	{Path: "sub/exact.bin", Size: 256 << 10},
	{Path: "z.bin", Size: 65_537},
}

// ltCreate makes a .torrent of path with libtorrent's create_torrent (mode "hybrid" or "v2")
// and returns its path.
func ltCreate(t *testing.T, ctx context.Context, path string, pieceLength int, mode string) string {
	t.Helper()
	py := testpeers.Libtorrent(t)
	script, err := filepath.Abs("testdata/hybrid/lt_create.py")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(path)+"."+mode+".torrent")
	cmd := exec.CommandContext(ctx, py, script, "--path", path, "--out", out,
		"--piece-length", strconv.Itoa(pieceLength), "--mode", mode)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lt_create.py: %v\n%s", err, b)
	}
	return out
}

// hashes reads a .torrent and returns its v1 and v2 infohashes in hex ("" when it has none)
// and its name; computed here, from the info bytes, not by the code under test.
func hashes(t *testing.T, torrent string) (v1, v2, name string) {
	t.Helper()
	mi, err := metainfo.LoadFromFile(torrent)
	if err != nil {
		t.Fatal(err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.HasV1() {
		s := sha1.Sum(mi.InfoBytes)
		v1 = hex.EncodeToString(s[:])
	}
	if info.HasV2() {
		s := sha256.Sum256(mi.InfoBytes)
		v2 = hex.EncodeToString(s[:])
	}
	return v1, v2, info.BestName()
}

// hybridPayload writes a test's data under a new folder: hybridTree as "tree" when multi,
// else testpeers.SingleFileSize bytes as "single.bin" (content from seed+1).
func hybridPayload(t *testing.T, multi bool, seed uint64) testpeers.Payload {
	t.Helper()
	p := testpeers.Payload{Dir: filepath.Join(t.TempDir(), "src"), Name: "single.bin"}
	if multi {
		p.Name = "tree"
		testpeers.WriteTree(t, p.Path(), hybridTree, seed)
	} else {
		testpeers.WriteFile(t, p.Path(), testpeers.SingleFileSize, seed+1)
	}
	return p
}

func magnetV1(ih, name string) string {
	return "magnet:?xt=urn:btih:" + ih + "&dn=" + url.QueryEscape(name)
}

func magnetV2(ih, name string) string {
	return "magnet:?xt=urn:btmh:1220" + ih + "&dn=" + url.QueryEscape(name)
}

// TestHybridShoalSeedsLibtorrentGets: shoal makes a hybrid torrent (`seed --hybrid`, or
// `create --hybrid` then `seed FILE.torrent`) and seeds it; libtorrent downloads it as v2 and
// as v1, and by the .torrent itself. The .torrent shoal wrote must carry both infohashes and
// the magnet link both xt.
func TestHybridShoalSeedsLibtorrentGets(t *testing.T) {
	for _, c := range []struct {
		name   string
		multi  bool
		create bool   // shoal create --hybrid, then seed the .torrent; else seed --hybrid
		join   string // "v1", "v2" (magnet with that infohash only) or "torrent"
	}{
		{"folder as v2", true, false, "v2"},
		{"folder as v1", true, false, "v1"},
		{"folder by torrent", true, true, "torrent"},
		{"file as v2", false, true, "v2"},
		{"file as v1", false, false, "v1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := newCtx(t)
			testpeers.Libtorrent(t)
			p := hybridPayload(t, c.multi, 505)
			torrent := filepath.Join(t.TempDir(), "shoal.torrent")
			var seed *shoalSeed
			if c.create {
				out := testpeers.StartShoal(t, nil, "shoal create", "create", p.Path(), "-o", torrent, "--hybrid", "--piece-length", "256K")
				if err := out.Wait(ctx); err != nil {
					t.Fatalf("shoal create --hybrid: %v\n%s", err, out.Stderr())
				}
				seed = startShoalSeed(t, ctx, nil, loopback(t), torrent, "--data", p.Dir)
			} else {
				seed = startShoalSeed(t, ctx, nil, loopback(t), p.Path(), "--hybrid", "--torrent-out", torrent)
			}
			v1, v2, name := hashes(t, torrent)
			if v1 == "" || v2 == "" {
				t.Fatalf("shoal's torrent is not hybrid: v1 %q, v2 %q", v1, v2)
			}
			if m := strings.ToLower(seed.Magnet); !strings.Contains(m, "urn:btih:"+v1) || !strings.Contains(m, "urn:btmh:1220"+v2) {
				t.Errorf("magnet %s lacks an infohash of the torrent (v1 %s, v2 %s)", seed.Magnet, v1, v2)
			}

			dst := t.TempDir()
			o := testpeers.LTOptions{Save: dst, Listen: testpeers.LoopbackIP() + ":0", Peers: []string{seed.Addr},
				Timeout: 45 * time.Second}
			switch c.join {
			case "v1":
				o.Magnet = magnetV1(v1, name)
			case "v2":
				o.Magnet = magnetV2(v2, name)
			default:
				o.Torrent = torrent
			}
			leech := testpeers.StartLibtorrent(t, ctx, o)
			done, err := leech.WaitDone(ctx)
			if err != nil {
				t.Fatal(err)
			}
			logLeech(t, "shoal → libtorrent ("+c.join+")", done)
			testpeers.AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
			seed.stop(t)
		})
	}
}

// TestV2OnlyShoalSeedsLibtorrentGets: shoal seeds a v2-only torrent libtorrent made, and a
// libtorrent that knows only the v2 infohash downloads it. Here there are no v1 hashes to fall
// back on: libtorrent checks every piece against the piece layers shoal sends it in answer to
// its hash requests.
func TestV2OnlyShoalSeedsLibtorrentGets(t *testing.T) {
	ctx := newCtx(t)
	p := hybridPayload(t, true, 507)
	torrent := ltCreate(t, ctx, p.Path(), 64<<10, "v2")
	v1, v2, name := hashes(t, torrent)
	if v1 != "" || v2 == "" {
		t.Fatalf("libtorrent's v2 torrent: v1 %q, v2 %q", v1, v2)
	}
	seed := startShoalSeed(t, ctx, nil, loopback(t), torrent, "--data", p.Dir)
	dst := t.TempDir()
	leech := testpeers.StartLibtorrent(t, ctx, testpeers.LTOptions{
		Magnet: magnetV2(v2, name), Save: dst, Listen: testpeers.LoopbackIP() + ":0",
		Peers: []string{seed.Addr}, Timeout: 45 * time.Second,
	})
	done, err := leech.WaitDone(ctx)
	if err != nil {
		t.Fatal(err)
	}
	logLeech(t, "shoal → libtorrent (v2 only)", done)
	testpeers.AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
	seed.stop(t)
}

// TestHybridLibtorrentSeedsShoalGets: libtorrent makes hybrid and v2-only torrents and seeds
// them; shoal downloads each by the .torrent and by a magnet link carrying only the v2
// infohash (metadata from libtorrent, BEP 9; piece layers by BEP 52 hash requests), and a
// hybrid one by a magnet link carrying only the v1 infohash.
func TestHybridLibtorrentSeedsShoalGets(t *testing.T) {
	for _, c := range []struct {
		name  string
		mode  string // lt_create.py --mode
		multi bool
		join  string // "v1", "v2" (magnet with that infohash only) or "torrent"
	}{
		{"hybrid folder by torrent", "hybrid", true, "torrent"},
		{"hybrid folder by v2 magnet", "hybrid", true, "v2"},
		{"hybrid folder by v1 magnet", "hybrid", true, "v1"},
		{"hybrid file by torrent", "hybrid", false, "torrent"},
		{"v2 folder by torrent", "v2", true, "torrent"},
		{"v2 folder by magnet", "v2", true, "v2"},
		{"v2 file by torrent", "v2", false, "torrent"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := newCtx(t)
			p := hybridPayload(t, c.multi, 508)
			torrent := ltCreate(t, ctx, p.Path(), 32<<10, c.mode)
			v1, v2, name := hashes(t, torrent)
			seed := testpeers.StartLibtorrent(t, ctx, testpeers.LTOptions{
				Torrent: torrent, Save: p.Dir, Listen: testpeers.LoopbackIP() + ":0", Seed: true,
			})
			source := torrent
			switch c.join {
			case "v1":
				source = magnetV1(v1, name)
			case "v2":
				source = magnetV2(v2, name)
			}
			dst := t.TempDir()
			shoalGet(t, ctx, nil, source, dst, testpeers.LoopbackIP()+":0", []string{seed.Addr()})
			testpeers.AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
			if c.multi {
				// Pad files are zeros the v1 view needs, never files on disk.
				if _, err := os.Stat(filepath.Join(dst, p.Name, ".pad")); err == nil {
					t.Error("shoal wrote the BEP 47 pad files to disk")
				}
			}
			ex, err := seed.StopSeed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			logSeed(t, "libtorrent seed ("+c.mode+")", ex)
		})
	}
}
