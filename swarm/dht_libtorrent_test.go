package swarm

import (
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"shoal/internal/testpeers"
)

// startLTDHT runs testdata/dht/lt_dht.py: libtorrent with its DHT bootstrapping from boot.
func startLTDHT(t *testing.T, ctx context.Context, listen string, boot []string, args ...string) (*testpeers.Proc, int) {
	t.Helper()
	py := testpeers.Libtorrent(t)
	script, err := filepath.Abs(filepath.Join("testdata", "dht", "lt_dht.py"))
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{py, "-u", script, "--listen", listen}
	for _, b := range boot {
		argv = append(argv, "--bootstrap", b)
	}
	argv = append(argv, args...)
	p := testpeers.Start(t, nil, "libtorrent dht", argv...)
	ev, err := p.WaitEvent(ctx, "listening", "error")
	if err != nil || ev.Str("event") == "error" {
		t.Fatalf("libtorrent: %v %v", err, ev)
	}
	return p, int(ev.Num("port"))
}

// libtorrent joins a DHT of shoal nodes: it finds a shoal seed there with nothing but the
// infohash, and shoal, given nothing but the infohash, finds a libtorrent seed.
func TestDHTLibtorrent(t *testing.T) {
	if testing.Short() {
		t.Skip("libtorrent: skipped with -short")
	}
	testpeers.Libtorrent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	nodes := dhtNet(t, 10)
	for _, nd := range nodes {
		nd.start(t)
	}
	boot := []string{nodes[0].addr, nodes[5].addr}

	// libtorrent leeches from a shoal seed.
	content := filepath.Join(t.TempDir(), "from-shoal")
	makeFolder(t, content, map[string]int64{"x.bin": 2<<20 + 11, "y.txt": 777})
	seeded, err := nodes[2].e.SeedPath(context.Background(), content, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, nodes[2].e, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })
	ltIP := testpeers.LoopbackIP()
	save := t.TempDir()
	leech, _ := startLTDHT(t, ctx, ltIP+":"+strconv.Itoa(testpeers.FreePort(t, ltIP)), boot,
		"--infohash", seeded.InfoHash, "--save", save, "--timeout", "90")
	start := time.Now()
	ev, err := leech.WaitEvent(ctx, "done", "error")
	if err != nil || ev.Str("event") == "error" {
		t.Fatalf("libtorrent leech: %v %v\n%s", err, ev, leech.Stderr())
	}
	t.Logf("libtorrent got shoal's seed through the DHT in %v: peers %v", time.Since(start).Round(time.Millisecond), ev["peers"])
	testpeers.AssertSameTree(t, content, filepath.Join(save, "from-shoal"))
	// Either side may dial: libtorrent after get_peers, or our seed when libtorrent's
	// announce_peer reached the seed's own node.
	if !ltSawSource(ev, nodes[2].e.ListenAddr(), "dht") {
		if seedFound := dhtPeerFound(nodes[2].e, seeded.InfoHash, 10*time.Second); seedFound["dht"] < 1 {
			t.Errorf("libtorrent's peers %v, shoal seed's %v: want a DHT peer on one side", ev["peers"], seedFound)
		}
	}

	// shoal leeches from a libtorrent seed.
	ltContent := filepath.Join(t.TempDir(), "from-libtorrent")
	testpeers.WriteTree(t, ltContent, []testpeers.File{{Path: "p.bin", Size: 1<<20 + 5}, {Path: "q/r.bin", Size: 70_000}}, 11)
	torrentFile := filepath.Join(t.TempDir(), "lt.torrent")
	ih := testpeers.MakeTorrent(t, ltContent, torrentFile, 16)
	ltIP2 := testpeers.LoopbackIP()
	seed, _ := startLTDHT(t, ctx, ltIP2+":"+strconv.Itoa(testpeers.FreePort(t, ltIP2)), boot,
		"--torrent", torrentFile, "--save", filepath.Dir(ltContent))
	if ev, err := seed.WaitEvent(ctx, "ready", "error"); err != nil || ev.Str("event") == "error" {
		t.Fatalf("libtorrent seed: %v %v\n%s", err, ev, seed.Stderr())
	}
	leecher := nodes[7]
	start = time.Now()
	got, err := leecher.e.Add(context.Background(), parse(t, "magnet:?xt=urn:btih:"+ih), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tv := waitFor(t, leecher.e, got, 90*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	t.Logf("shoal got libtorrent's seed through the DHT in %v: peers found %v", time.Since(start).Round(time.Millisecond), tv.PeersFound)
	testpeers.AssertSameTree(t, ltContent, filepath.Join(leecher.cfg.DataDir, "from-libtorrent"))
	// Either side may dial (see TestDHTTrackerlessMagnet): libtorrent says how it found us.
	exit := stopLT(t, ctx, seed)
	if tv.PeersFound["dht"] < 1 && !ltSawSource(exit, leecher.e.ListenAddr(), "dht") {
		t.Errorf("peers found %v, libtorrent's peers %v: want a DHT peer on one side", tv.PeersFound, exit["peers"])
	}
	// libtorrent is a node of this DHT, not only a client of it (its routing-table entries
	// stay after it stopped).
	inTables := 0
	for _, nd := range nodes {
		for _, s := range nd.e.discovery().dht.servers {
			for _, ni := range s.Nodes() {
				if ni.Addr.IP.String() == ltIP2 {
					inTables++
				}
			}
		}
	}
	t.Logf("the libtorrent seed's DHT node is in %d of %d shoal routing tables", inTables, len(nodes))
	if inTables == 0 {
		t.Errorf("no shoal node has libtorrent's DHT node %s in its routing table", ltIP2)
	}
}

// ltSawSource reports whether a libtorrent event lists addr among its peers with source src.
func ltSawSource(ev testpeers.Event, addr, src string) bool {
	list, _ := ev["peers"].([]any)
	for _, x := range list {
		m, _ := x.(map[string]any)
		if m["addr"] != addr {
			continue
		}
		srcs, _ := m["sources"].([]any)
		if slices.Contains(srcs, any(src)) {
			return true
		}
	}
	return false
}

// stopLT stops a libtorrent seed and returns its exit event.
func stopLT(t *testing.T, ctx context.Context, p *testpeers.Proc) testpeers.Event {
	t.Helper()
	if err := p.Stop(); !testpeers.ExitedCleanly(err) {
		t.Errorf("libtorrent exit: %v", err)
	}
	ev, err := p.WaitEvent(ctx, "exit")
	if err != nil {
		t.Errorf("libtorrent exit event: %v", err)
	}
	return ev
}
