package swarm

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// The engine dials uTP first, as libtorrent does, TCP first with
// Strategy.PreferTCP, and TCP only with NoUTP; the snapshot flags the transport of each peer.
func TestDialPrefersUTP(t *testing.T) {
	if !UTPAvailable {
		t.Skip("this build has no uTP")
	}
	content := filepath.Join(t.TempDir(), "release")
	makeFolder(t, content, map[string]int64{"a.bin": 4 << 20})
	seeder := newEngine(t, testConfig(t, "127.0.0.20"))
	seeded, err := seeder.SeedPath(context.Background(), content, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, seeder, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })

	for _, tc := range []struct {
		ip        string
		noUTP     bool
		preferTCP bool
		wantUTP   bool
	}{
		{ip: "127.0.0.21", wantUTP: true},
		{ip: "127.0.0.22", noUTP: true},
		{ip: "127.0.0.23", preferTCP: true},
	} {
		cfg := testConfig(t, tc.ip)
		cfg.NoUTP = tc.noUTP
		cfg.Strategy.PreferTCP = tc.preferTCP
		// Slow enough that the connection is still up when sampled.
		cfg.DownLimit = 1 << 20
		leecher, ih := leechFrom(t, cfg, seeded.Magnet, seeder.ListenAddr())
		tv := waitFor(t, leecher, ih, 30*time.Second, func(tv TorrentView) bool { return len(tv.Peers) > 0 && tv.Done > 0 })
		for _, p := range tv.Peers {
			if p.UTP != tc.wantUTP {
				t.Errorf("NoUTP=%v PreferTCP=%v: peer %s has UTP=%v, want %v", tc.noUTP, tc.preferTCP, p.Addr, p.UTP, tc.wantUTP)
			}
		}
		leecher.Close()
	}
}
