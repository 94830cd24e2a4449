package interop_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/internal/testpeers"
)

// Against libtorrent the peers share the host's loopback, each on its own 127.0.x.y, so no
// namespace is needed and the tests run in parallel.

// TestShoalSeedsLibtorrentGets: shoal makes the torrent of a folder or file and seeds it;
// libtorrent dials it and downloads, by the .torrent shoal wrote and by shoal's magnet link
// (then the metadata itself comes from shoal, BEP 9).
func TestShoalSeedsLibtorrentGets(t *testing.T) {
	for _, c := range []struct {
		name   string
		multi  bool
		magnet bool
	}{
		{"folder by torrent", true, false},
		{"file by magnet", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := newCtx(t)
			testpeers.Libtorrent(t)
			p := testpeers.NewData(t, c.multi, 101)
			torrent := filepath.Join(t.TempDir(), "shoal.torrent")
			seed := startShoalSeed(t, ctx, nil, loopback(t), p.Path(), "--torrent-out", torrent)
			ih, err := testpeers.InfoHashFile(torrent)
			if err != nil {
				t.Fatalf("--torrent-out: %v", err)
			}
			if !strings.Contains(strings.ToLower(seed.Magnet), "urn:btih:"+ih) {
				t.Errorf("magnet %s does not carry the infohash %s of the torrent shoal wrote", seed.Magnet, ih)
			}
			assertNoWayOut(t, torrent, seed.Magnet)

			dst := t.TempDir()
			o := testpeers.LTOptions{Save: dst, Listen: testpeers.LoopbackIP() + ":0", Peers: []string{seed.Addr},
				Timeout: 45 * time.Second}
			if c.magnet {
				o.Magnet = seed.Magnet
			} else {
				o.Torrent = torrent
			}
			leech := testpeers.StartLibtorrent(t, ctx, o)
			done, err := leech.WaitDone(ctx)
			if err != nil {
				t.Fatal(err)
			}
			logLeech(t, "shoal → libtorrent", done)
			testpeers.AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
			seed.stop(t)
		})
	}
}

// TestLibtorrentSeedsShoalGets: libtorrent seeds a torrent made by mktorrent; shoal downloads it
// by .torrent file and by magnet link (metadata from libtorrent, BEP 9), dialling the seed.
func TestLibtorrentSeedsShoalGets(t *testing.T) {
	for _, c := range []struct {
		name   string
		multi  bool
		magnet bool
	}{
		{"torrent folder", true, false},
		{"torrent file", false, false},
		{"magnet folder", true, true},
		{"magnet file", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := newCtx(t)
			p := testpeers.NewPayload(t, c.multi, 202)
			seed := testpeers.StartLibtorrent(t, ctx, testpeers.LTOptions{
				Torrent: p.Torrent, Save: p.Dir, Listen: testpeers.LoopbackIP() + ":0", Seed: true,
			})
			source := p.Torrent
			if c.magnet {
				source = p.Magnet()
			}
			dst := t.TempDir()
			shoalGet(t, ctx, nil, source, dst, testpeers.LoopbackIP()+":0", []string{seed.Addr()})
			testpeers.AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
			ex, err := seed.StopSeed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			logSeed(t, "libtorrent seed", ex)
		})
	}
}

// TestEncryptionRequired: with encryption required on both sides (shoal --encryption require,
// libtorrent's policy "forced" with RC4 preferred) data flows both ways, libtorrent reports the
// connection encrypted; and a shoal that requires encryption gets nothing from a peer that
// refuses it, so "require" is not silently "prefer".
func TestEncryptionRequired(t *testing.T) {
	t.Run("shoal seeds, libtorrent gets", func(t *testing.T) {
		t.Parallel()
		ctx := newCtx(t)
		testpeers.Libtorrent(t)
		p := testpeers.NewData(t, true, 303)
		torrent := filepath.Join(t.TempDir(), "shoal.torrent")
		seed := startShoalSeed(t, ctx, nil, loopback(t), p.Path(), "--torrent-out", torrent, "--encryption", "require")
		dst := t.TempDir()
		leech := testpeers.StartLibtorrent(t, ctx, testpeers.LTOptions{
			Torrent: torrent, Save: dst, Listen: testpeers.LoopbackIP() + ":0", Peers: []string{seed.Addr},
			Encryption: "require", Timeout: 45 * time.Second,
		})
		done, err := leech.WaitDone(ctx)
		if err != nil {
			t.Fatal(err)
		}
		logLeech(t, "shoal → libtorrent, encrypted", done)
		testpeers.AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
		assertEncrypted(t, done.Peers(), func(pe testpeers.LTPeerSeen) bool { return pe.Addr == seed.Addr })
		seed.stop(t)
	})
	t.Run("libtorrent seeds, shoal gets", func(t *testing.T) {
		t.Parallel()
		ctx := newCtx(t)
		p := testpeers.NewPayload(t, true, 304)
		seed := testpeers.StartLibtorrent(t, ctx, testpeers.LTOptions{
			Torrent: p.Torrent, Save: p.Dir, Listen: testpeers.LoopbackIP() + ":0", Seed: true, Encryption: "require",
		})
		dst := t.TempDir()
		shoalGet(t, ctx, nil, p.Torrent, dst, testpeers.LoopbackIP()+":0", []string{seed.Addr()}, "--encryption", "require")
		testpeers.AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
		ex, err := seed.StopSeed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		logSeed(t, "libtorrent seed, encrypted", ex)
		// Only shoal connects to this seed, so every peer it saw is shoal. (Byte counts are
		// sampled and can miss a transfer that fits between two samples.)
		assertEncrypted(t, ex.Peers(), func(testpeers.LTPeerSeen) bool { return true })
	})
	t.Run("shoal requires, libtorrent refuses encryption", func(t *testing.T) {
		t.Parallel()
		ctx := newCtx(t)
		p := testpeers.NewPayload(t, false, 305)
		seed := testpeers.StartLibtorrent(t, ctx, testpeers.LTOptions{
			Torrent: p.Torrent, Save: p.Dir, Listen: testpeers.LoopbackIP() + ":0", Seed: true, Encryption: "off",
		})
		dst := t.TempDir()
		args := []string{"get", p.Torrent, "-o", dst, "--listen", testpeers.LoopbackIP() + ":0",
			"--state", t.TempDir(), "--timeout", "8s", "--encryption", "require", "--peer", seed.Addr()}
		get := testpeers.StartShoal(t, nil, "shoal get", append(args, testpeers.QuietFlags...)...)
		err := get.Wait(ctx)
		if err == nil {
			t.Fatalf("shoal get --encryption require finished against a peer that only speaks plaintext")
		}
		t.Logf("shoal get gave up as it should: %v: %s", err, lastLines(get.Stderr(), 3))
		ex, err := seed.StopSeed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if up := ex.Num("uploaded"); up > 0 {
			t.Errorf("the plaintext-only seed uploaded %.0f bytes to a shoal that requires encryption", up)
		}
		if err := testpeers.CompareTrees(p.Path(), filepath.Join(dst, p.Name)); err == nil {
			t.Errorf("the file is complete although no encrypted peer existed")
		}
	})
}

// assertEncrypted fails unless libtorrent saw at least one peer selected by which, and every
// such peer's connection encrypted.
func assertEncrypted(t *testing.T, peers []testpeers.LTPeerSeen, which func(testpeers.LTPeerSeen) bool) {
	t.Helper()
	n := 0
	for _, pe := range peers {
		if !which(pe) {
			continue
		}
		n++
		if !pe.Encrypted {
			t.Errorf("libtorrent reports the connection with shoal (%s, %q) unencrypted", pe.Addr, pe.Client)
		}
	}
	if n == 0 {
		t.Errorf("libtorrent saw no connection with shoal to check for encryption: %+v", peers)
	}
}

// assertNoWayOut fails if a torrent or magnet shoal made without --tracker or --webseed names
// a tracker, web seed or DHT node anyway: seeding it would send packets off the machine.
func assertNoWayOut(t *testing.T, torrent, magnet string) {
	t.Helper()
	b, err := os.ReadFile(torrent)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := testpeers.TopLevelKeys(b)
	if err != nil {
		t.Fatalf("%s: %v", torrent, err)
	}
	for _, k := range keys {
		switch k {
		case "announce", "announce-list", "url-list", "httpseeds", "nodes":
			t.Errorf("shoal put %q in a torrent made without trackers or web seeds", k)
		}
	}
	for _, p := range []string{"&tr=", "&ws=", "&x.pe="} {
		if strings.Contains(magnet, p) {
			t.Errorf("shoal's magnet %s has %s without trackers, web seeds or peers given", magnet, p)
		}
	}
}

func logLeech(t *testing.T, what string, done testpeers.Event) {
	t.Helper()
	t.Logf("%s: %.0f bytes in %.2fs (%.1f MiB/s); peers %+v", what, done.Num("bytes"), done.Num("wall_s"),
		done.Num("mib_s"), done.Peers())
	if f := done.Num("failed_bytes"); f > 0 {
		t.Errorf("libtorrent discarded %.0f bytes that failed the hash check: shoal sent corrupt pieces", f)
	}
}

func logSeed(t *testing.T, what string, ex testpeers.Event) {
	t.Helper()
	t.Logf("%s uploaded %.0f bytes; peers %+v", what, ex.Num("uploaded"), ex.Peers())
}

// TestCheckCatchesCorruption is the negative check on the comparison every test above relies
// on: the same helpers, given a download with one byte flipped or one file cut short, must
// report a mismatch. (internal/testpeers tests more kinds of damage.)
func TestCheckCatchesCorruption(t *testing.T) {
	p := testpeers.NewData(t, true, 404)
	got := filepath.Join(t.TempDir(), p.Name)
	if err := os.CopyFS(got, os.DirFS(p.Path())); err != nil {
		t.Fatal(err)
	}
	want, err := testpeers.TreeSHA256(p.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := testpeers.CompareTrees(p.Path(), got); err != nil {
		t.Fatalf("an exact copy does not compare equal: %v", err)
	}

	victim := filepath.Join(got, "sub", "deeper", "d.bin")
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x80
	if err := os.WriteFile(victim, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if sum, _ := testpeers.TreeSHA256(got); sum == want {
		t.Errorf("sha256 unchanged after flipping one byte: %s", sum)
	}
	if err := testpeers.CompareTrees(p.Path(), got); err == nil || !strings.Contains(err.Error(), "d.bin: content differs") {
		t.Errorf("CompareTrees after a flipped byte = %v, want a content mismatch in d.bin", err)
	}

	b[len(b)/2] ^= 0x80
	if err := os.WriteFile(victim, b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if sum, _ := testpeers.TreeSHA256(got); sum == want {
		t.Errorf("sha256 unchanged after cutting the last byte: %s", sum)
	}
	if err := testpeers.CompareTrees(p.Path(), got); err == nil || !strings.Contains(err.Error(), "d.bin: size") {
		t.Errorf("CompareTrees after truncation = %v, want a size mismatch in d.bin", err)
	}
}
