package interop_test

import (
	"path/filepath"
	"testing"
	"time"

	"shoal/internal/testpeers"
)

// Transmission 3.00 refuses peers on 127.x and takes one peer per IP, so Transmission and shoal
// each run in a network namespace of their own, joined by a bridge (testpeers.Net), and shoal
// listens on its namespace's 10.x address. Transmission cannot be handed a peer address (no
// tracker here, no DHT, no PEX), so whichever side is not Transmission dials.

// TestTransmissionSeedsShoalGets: Transmission seeds a torrent made by mktorrent; shoal
// downloads it by .torrent and by magnet link (metadata from Transmission).
func TestTransmissionSeedsShoalGets(t *testing.T) {
	for _, c := range []struct {
		name   string
		multi  bool
		magnet bool
	}{
		{"torrent folder", true, false},
		{"magnet file", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := newCtx(t)
			testpeers.RequireTool(t, "transmission-daemon", "transmission-daemon")
			p := testpeers.NewPayload(t, c.multi, 505)
			n := testpeers.NewNet(t)
			trHost, shoalHost := n.AddHost("tr"), n.AddHost("shoal")
			tr := testpeers.StartTransmission(t, ctx, trHost, testpeers.TROptions{})
			tr.Add(ctx, p.Torrent, p.Dir)
			tr.Verify(ctx, p.InfoHash)
			if _, err := tr.WaitComplete(ctx, p.InfoHash); err != nil {
				t.Fatalf("transmission seed check: %v", err)
			}
			source := p.Torrent
			if c.magnet {
				source = p.Magnet()
			}
			dst := t.TempDir()
			shoalGet(t, ctx, shoalHost, source, dst, shoalHost.Addr(6881), []string{tr.Addr()})
			testpeers.AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
		})
	}
}

// TestShoalSeedsTransmissionGets: Transmission is given the torrent (made by mktorrent) and
// waits; shoal seeds the same data from the .torrent and dials Transmission with --peer.
func TestShoalSeedsTransmissionGets(t *testing.T) {
	t.Parallel()
	ctx := newCtx(t)
	testpeers.RequireTool(t, "transmission-daemon", "transmission-daemon")
	p := testpeers.NewPayload(t, true, 606)
	n := testpeers.NewNet(t)
	trHost, shoalHost := n.AddHost("tr"), n.AddHost("shoal")
	tr := testpeers.StartTransmission(t, ctx, trHost, testpeers.TROptions{})
	dst := t.TempDir()
	tr.Add(ctx, p.Torrent, dst)
	seed := startShoalSeed(t, ctx, shoalHost, shoalHost.Addr(6881), p.Torrent, "--data", p.Dir, "--peer", tr.Addr())
	start := time.Now()
	info, err := tr.WaitComplete(ctx, p.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shoal → transmission in %v: have %s, corrupt %s", time.Since(start).Round(time.Millisecond),
		info["Have"], info["Corrupt DL"])
	if c := info["Corrupt DL"]; c != "" && c != "None" {
		t.Errorf("transmission discarded corrupt data from shoal: %s", c)
	}
	// Stop Transmission first so its cache is flushed to the files being hashed.
	if err := tr.Stop(); !testpeers.ExitedCleanly(err) {
		t.Errorf("transmission-daemon exit: %v", err)
	}
	testpeers.AssertSameTree(t, p.Path(), filepath.Join(dst, p.Name))
	seed.stop(t)
}
