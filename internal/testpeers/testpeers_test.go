package testpeers

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The self-tests move data between the real peers alone (libtorrent to libtorrent on loopback,
// libtorrent to and from Transmission in namespaces), so that when a shoal test fails the
// harness is already known to work and only the shoal side is new.

func TestInfoHash(t *testing.T) {
	// The infohash is the sha1 of the info value's exact bytes, whatever surrounds it.
	meta := []byte("d8:announce3:foo4:infod4:name1:xe7:comment3:bare")
	got, err := InfoHash(meta)
	if err != nil {
		t.Fatal(err)
	}
	if got != sha1Hex("d4:name1:xe") {
		t.Errorf("InfoHash = %s, want sha1 of the info value %s", got, sha1Hex("d4:name1:xe"))
	}
	for _, bad := range []string{"", "le", "d4:info", "d3:foo3:bare", "d4:infod4:name1:x", "d4:infod4:name99:xee"} {
		if ih, err := InfoHash([]byte(bad)); err == nil {
			t.Errorf("InfoHash(%q) = %s, want an error", bad, ih)
		}
	}
}

func TestTopLevelKeys(t *testing.T) {
	keys, err := TopLevelKeys([]byte("d8:announce3:foo4:infod4:name1:xe5:nodesli1eee"))
	if err != nil || strings.Join(keys, ",") != "announce,info,nodes" {
		t.Errorf("TopLevelKeys = %q, %v", keys, err)
	}
	if _, err := TopLevelKeys([]byte("d8:announce3:foo")); err == nil {
		t.Error("TopLevelKeys accepted an unterminated dictionary")
	}
}

func TestInfoHashMatchesLibtorrent(t *testing.T) {
	skipShort(t)
	py := Libtorrent(t)
	p := NewPayload(t, true, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := run(ctx, py, "-c", "import libtorrent as lt,sys; print(lt.torrent_info(sys.argv[1]).info_hash())", p.Torrent)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != p.InfoHash {
		t.Errorf("InfoHash = %s, libtorrent says %s", p.InfoHash, strings.TrimSpace(out))
	}
}

// TestCompareCatchesCorruption is the negative check: the comparison every interop test relies
// on must fail when the download is wrong in any of the ways a broken client could make it so.
func TestCompareCatchesCorruption(t *testing.T) {
	src := filepath.Join(t.TempDir(), "tree")
	WriteTree(t, src, MultiFile, 42)
	single := filepath.Join(t.TempDir(), "one.bin")
	WriteFile(t, single, SingleFileSize, 43)

	copyTree := func(t *testing.T, from string) string {
		t.Helper()
		dst := filepath.Join(t.TempDir(), filepath.Base(from))
		err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(from, path)
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out := filepath.Join(dst, rel)
			if rel == "." {
				out = dst
			}
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			return os.WriteFile(out, b, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
		return dst
	}
	flipByte := func(path string, off int64) func(t *testing.T, root string) {
		return func(t *testing.T, root string) {
			f, err := os.OpenFile(filepath.Join(root, path), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := make([]byte, 1)
			if _, err := f.ReadAt(b, off); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x01
			if _, err := f.WriteAt(b, off); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name    string
		src     string
		mutate  func(t *testing.T, root string)
		wantErr string // substring of CompareTrees' error; "" = trees equal
	}{
		{"identical", src, func(*testing.T, string) {}, ""},
		{"one byte flipped mid-file", src, flipByte("sub/deeper/d.bin", 1<<20+3), "content differs from byte 1048579"},
		{"last byte flipped", src, flipByte("z.bin", 1<<20+65_536), "content differs from byte 1114112"},
		{"one-byte file flipped", src, flipByte("sub/deeper/c.txt", 0), "content differs from byte 0"},
		{"truncated", src, func(t *testing.T, root string) {
			if err := os.Truncate(filepath.Join(root, "a.bin"), 1<<20); err != nil {
				t.Fatal(err)
			}
		}, "a.bin: size 1048576, want 1048583"},
		{"missing file", src, func(t *testing.T, root string) {
			if err := os.Remove(filepath.Join(root, "sub", "b c.bin")); err != nil {
				t.Fatal(err)
			}
		}, "missing sub/b c.bin"},
		{"extra file", src, func(t *testing.T, root string) {
			if err := os.WriteFile(filepath.Join(root, "sub", "stray.part"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "unexpected file sub/stray.part"},
		{"renamed file", src, func(t *testing.T, root string) {
			if err := os.Rename(filepath.Join(root, "a.bin"), filepath.Join(root, "A.bin")); err != nil {
				t.Fatal(err)
			}
		}, "missing a.bin"},
		{"symlink instead of file", src, func(t *testing.T, root string) {
			p := filepath.Join(root, "z.bin")
			if err := os.Rename(p, p+".real"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("z.bin.real", p); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"single file identical", single, func(*testing.T, string) {}, ""},
		{"single file flipped", single, flipByte("", SingleFileSize-1), "content differs from byte 3158072"},
	}
	wantSum, err := TreeSHA256(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := copyTree(t, c.src)
			c.mutate(t, dst)
			err := CompareTrees(c.src, dst)
			srcSum, _ := TreeSHA256(c.src)
			dstSum, sumErr := TreeSHA256(dst)
			if c.wantErr == "" {
				if err != nil || sumErr != nil || srcSum != dstSum {
					t.Fatalf("equal trees: CompareTrees = %v, sha256 %s vs %s (%v)", err, srcSum, dstSum, sumErr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("CompareTrees = %v, want an error containing %q", err, c.wantErr)
			}
			if sumErr == nil && srcSum == dstSum {
				t.Errorf("TreeSHA256 did not change: %s", dstSum)
			}
			// And AssertSameTree, the helper the interop tests call, must report a failure.
			ft := &fakeT{TB: t}
			AssertSameTree(ft, c.src, dst)
			if !ft.failed {
				t.Errorf("AssertSameTree passed a corrupted download")
			}
		})
	}
	// The root's own name must not matter: a download lands under the torrent's name anywhere.
	if got, _ := TreeSHA256(copyTree(t, src)); got != wantSum {
		t.Errorf("TreeSHA256 of a copy = %s, want %s", got, wantSum)
	}
}

// skipShort skips tests that start real peers under -short (make test-short).
func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("real peers, skipped with -short")
	}
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// fakeT records failures instead of failing the real test, to test the assertion itself.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }
func (f *fakeT) Logf(string, ...any)   {}
func (f *fakeT) Helper()               {}

// TestLibtorrentToLibtorrent proves the libtorrent driver end to end on loopback: by .torrent
// and by magnet, with encryption preferred and required.
func TestLibtorrentToLibtorrent(t *testing.T) {
	skipShort(t)
	Libtorrent(t)
	for _, c := range []struct {
		name   string
		multi  bool
		magnet bool
		enc    string
	}{
		{"torrent multi-file", true, false, "prefer"},
		{"magnet single-file", false, true, "prefer"},
		{"encryption required", true, false, "require"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			p := NewPayload(t, c.multi, 7)
			seed := StartLibtorrent(t, ctx, LTOptions{
				Torrent: p.Torrent, Save: p.Dir, Listen: LoopbackIP() + ":0", Seed: true, Encryption: c.enc,
			})
			dst := t.TempDir()
			o := LTOptions{Save: dst, Listen: LoopbackIP() + ":0", Peers: []string{seed.Addr()}, Encryption: c.enc,
				Timeout: 45 * time.Second}
			if c.magnet {
				o.Magnet = p.Magnet()
			} else {
				o.Torrent = p.Torrent
			}
			leech := StartLibtorrent(t, ctx, o)
			done, err := leech.WaitDone(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("libtorrent → libtorrent: %.0f bytes in %.2fs (%.1f MiB/s), peers %+v",
				done.Num("bytes"), done.Num("wall_s"), done.Num("mib_s"), done.Peers())
			AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
			if c.enc == "require" {
				for _, pe := range done.Peers() {
					if pe.Downloaded > 0 && !pe.Encrypted {
						t.Errorf("peer %s sent data unencrypted with encryption required", pe.Addr)
					}
				}
			}
			ex, err := seed.StopSeed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Num("uploaded") < done.Num("bytes") {
				t.Errorf("seed uploaded %.0f bytes, less than the payload %.0f", ex.Num("uploaded"), done.Num("bytes"))
			}
		})
	}
}

// TestTransmissionLibtorrent proves the namespace topology and the Transmission driver: each
// direction with the peers in namespaces of their own on one bridge. libtorrent dials in both
// cases: Transmission cannot be told about a peer without a tracker.
func TestTransmissionLibtorrent(t *testing.T) {
	skipShort(t)
	Libtorrent(t)
	RequireTool(t, "transmission-daemon", "transmission-daemon")
	RequireNetns(t)
	t.Run("libtorrent seeds, transmission gets", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		p := NewPayload(t, true, 11)
		n := NewNet(t)
		trHost, ltHost := n.AddHost("tr"), n.AddHost("lt")
		tr := StartTransmission(t, ctx, trHost, TROptions{})
		dst := t.TempDir()
		tr.Add(ctx, p.Torrent, dst)
		seed := StartLibtorrent(t, ctx, LTOptions{Torrent: p.Torrent, Save: p.Dir, Listen: ltHost.Addr(6881),
			Seed: true, Peers: []string{tr.Addr()}, Netns: ltHost})
		start := time.Now()
		info, err := tr.WaitComplete(ctx, p.InfoHash)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("libtorrent → transmission in %v: have %s, peers %s", time.Since(start).Round(time.Millisecond), info["Have"], info["Peers"])
		if err := tr.Stop(); !ExitedCleanly(err) {
			t.Errorf("transmission-daemon exit: %v", err)
		}
		AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
		if _, err := seed.StopSeed(ctx); err != nil {
			t.Error(err)
		}
	})
	t.Run("transmission seeds, libtorrent gets", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		p := NewPayload(t, false, 12)
		n := NewNet(t)
		trHost, ltHost := n.AddHost("tr"), n.AddHost("lt")
		tr := StartTransmission(t, ctx, trHost, TROptions{})
		tr.Add(ctx, p.Torrent, p.Dir)
		tr.Verify(ctx, p.InfoHash)
		if _, err := tr.WaitComplete(ctx, p.InfoHash); err != nil {
			t.Fatalf("transmission seed check: %v", err)
		}
		dst := t.TempDir()
		leech := StartLibtorrent(t, ctx, LTOptions{Torrent: p.Torrent, Save: dst, Listen: ltHost.Addr(6881),
			Peers: []string{tr.Addr()}, Netns: ltHost, Timeout: 45 * time.Second})
		done, err := leech.WaitDone(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("transmission → libtorrent: %.2fs, peers %+v", done.Num("wall_s"), done.Peers())
		AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
	})
}
