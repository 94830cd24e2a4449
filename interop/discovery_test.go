package interop_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shoal/internal/testpeers"
)

// Trackerless discovery between shoal processes, each in a network namespace of its own on
// one bridge (testpeers.Net): a LAN with no tracker, and nothing beyond it. These run the
// binary, so they also check the --no-dht, --dht-bootstrap, --no-lsd and --private wiring.

// discoverySeed runs `shoal seed PATH --json` with UPnP off and the given flags, and returns
// the process and the infohash from its "done" event.
func discoverySeed(t *testing.T, ctx context.Context, ns *testpeers.Netns, addr, path string, flags ...string) (*testpeers.Proc, string) {
	t.Helper()
	args := append([]string{"seed", path, "--listen", addr, "--state", t.TempDir(), "--no-upnp", "--json"}, flags...)
	p := testpeers.StartShoal(t, ns, "shoal seed", args...)
	ev, err := p.WaitEvent(ctx, "done")
	if err != nil {
		t.Fatalf("shoal seed: %v\n%s", err, p.Stderr())
	}
	return p, ev.Str("infohash")
}

// discoveryGet runs `shoal get magnet:?xt=urn:btih:IH --json` (no tr=, no --peer) until it
// exits, and returns its exit error.
func discoveryGet(t *testing.T, ctx context.Context, ns *testpeers.Netns, ih, out, state, addr, timeout string, flags ...string) (*testpeers.Proc, error) {
	t.Helper()
	args := append([]string{"get", "magnet:?xt=urn:btih:" + ih, "-o", out, "--listen", addr,
		"--state", state, "--no-upnp", "--json", "--timeout", timeout}, flags...)
	p := testpeers.StartShoal(t, ns, "shoal get", args...)
	return p, p.Wait(ctx)
}

// sawSource reports whether any progress event of p counted a peer from src, connected
// ("peer_sources") or ever ("peers_found").
func sawSource(p *testpeers.Proc, src string) bool {
	for _, line := range p.Lines() {
		if !strings.Contains(line, `"event":"progress"`) {
			continue
		}
		for _, key := range []string{`"peer_sources":{`, `"peers_found":{`} {
			i := strings.Index(line, key)
			if i < 0 {
				continue
			}
			obj := line[i+len(key):]
			if j := strings.IndexByte(obj, '}'); j >= 0 && strings.Contains(obj[:j], `"`+src+`":`) {
				return true
			}
		}
	}
	return false
}

// waitSource waits for a progress event of p that counts a peer from src (progress comes
// every 5 s from `shoal seed`).
func waitSource(ctx context.Context, p *testpeers.Proc, src string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if sawSource(p, src) {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return sawSource(p, src)
}

// TestLSDOnOneLAN: with no tracker and no DHT, a leecher on the same LAN finds the seeder
// through local service discovery (BEP 14, on by default), given only the infohash; a
// private torrent on the same seeder is never found that way (BEP 27).
func TestLSDOnOneLAN(t *testing.T) {
	t.Parallel()
	ctx := newCtx(t)
	n := testpeers.NewNet(t)
	seedHost, leechHost := n.AddHost("lsd-seed"), n.AddHost("lsd-leech")
	pub := testpeers.NewPayload(t, true, 707)
	priv := testpeers.NewPayload(t, false, 708)
	seed, ih := discoverySeed(t, ctx, seedHost, seedHost.Addr(6881), pub.Path(), "--no-dht")
	privSeed, privIH := discoverySeed(t, ctx, seedHost, seedHost.Addr(6882), priv.Path(), "--no-dht", "--private")

	type result struct {
		p   *testpeers.Proc
		err error
	}
	privRes := make(chan result, 1)
	privOut := t.TempDir()
	go func() {
		// A magnet says nothing of privacy, so this leecher does announce the infohash: the
		// seeder must neither answer it nor announce the torrent itself.
		p, err := discoveryGet(t, ctx, leechHost, privIH, privOut, t.TempDir(), leechHost.Addr(6882), "10s", "--no-dht")
		privRes <- result{p, err}
	}()
	out := t.TempDir()
	start := time.Now()
	get, err := discoveryGet(t, ctx, leechHost, ih, out, t.TempDir(), leechHost.Addr(6881), getTimeout, "--no-dht")
	if err != nil {
		t.Fatalf("shoal get over LSD: %v\n%s", err, lastLines(get.Stderr(), 20))
	}
	t.Logf("shoal get found the seed over LSD and finished in %v", time.Since(start).Round(time.Millisecond))
	testpeers.AssertSameTree(t, pub.Path(), filepath.Join(out, pub.Name))
	// One side heard the other's announce and dialled: the seed counts the leecher as an
	// LSD peer, or the leecher the seed.
	if !waitSource(ctx, seed, "lsd", 12*time.Second) && !sawSource(get, "lsd") {
		t.Errorf("neither side counted a peer from LSD\nseed:\n%s\nget:\n%s",
			lastLines(strings.Join(seed.Lines(), "\n"), 5), lastLines(strings.Join(get.Lines(), "\n"), 5))
	}

	r := <-privRes
	if r.err == nil {
		t.Errorf("a private torrent was found over LSD")
	} else if !strings.Contains(r.p.Stderr(), "no peers") {
		t.Errorf("private torrent: want \"no peers\" before the timeout, got: %v\n%s", r.err, lastLines(r.p.Stderr(), 5))
	}
	if sawSource(privSeed, "lsd") {
		t.Errorf("the private seed counted an LSD peer")
	}
	seed.Stop()
	privSeed.Stop()
}

// TestDHTBootstrapFlag: two shoal processes on a LAN form a DHT of their own from
// --dht-bootstrap alone (LSD off): the leecher, given only the infohash, finds the seed, and
// keeps the node it learnt in its state dir.
func TestDHTBootstrapFlag(t *testing.T) {
	t.Parallel()
	ctx := newCtx(t)
	n := testpeers.NewNet(t)
	seedHost, leechHost := n.AddHost("dht-seed"), n.AddHost("dht-leech")
	pub := testpeers.NewPayload(t, false, 709)
	seedAddr, leechAddr := seedHost.Addr(6881), leechHost.Addr(6881)
	seed, ih := discoverySeed(t, ctx, seedHost, seedAddr, pub.Path(), "--no-lsd", "--dht-bootstrap", leechAddr)
	out, state := t.TempDir(), t.TempDir()
	start := time.Now()
	get, err := discoveryGet(t, ctx, leechHost, ih, out, state, leechAddr, getTimeout,
		"--no-lsd", "--dht-bootstrap", seedAddr)
	if err != nil {
		t.Fatalf("shoal get over the DHT: %v\n%s", err, lastLines(get.Stderr(), 20))
	}
	t.Logf("shoal get found the seed over the DHT and finished in %v", time.Since(start).Round(time.Millisecond))
	testpeers.AssertSameTree(t, pub.Path(), filepath.Join(out, pub.Name))
	if !sawSource(get, "dht") && !waitSource(ctx, seed, "dht", 12*time.Second) {
		t.Errorf("neither side counted a peer from the DHT")
	}
	if fi, err := os.Stat(filepath.Join(state, "dht-udp4.nodes")); err != nil || fi.Size() < 38 {
		t.Errorf("leecher's saved DHT nodes: %v, %v", fi, err)
	}
	seed.Stop()
}

// startLTLSD runs testdata/discovery/lt_lsd.py (libtorrent with LSD on, all else off) in ns.
func startLTLSD(t *testing.T, ctx context.Context, ns *testpeers.Netns, listen string, args ...string) *testpeers.Proc {
	t.Helper()
	py := testpeers.Libtorrent(t)
	script, err := filepath.Abs(filepath.Join("testdata", "discovery", "lt_lsd.py"))
	if err != nil {
		t.Fatal(err)
	}
	p := testpeers.Start(t, ns, "libtorrent lsd", append([]string{py, "-u", script, "--listen", listen}, args...)...)
	if ev, err := p.WaitEvent(ctx, "listening", "error"); err != nil || ev.Str("event") == "error" {
		t.Fatalf("libtorrent: %v %v\n%s", err, ev, p.Stderr())
	}
	return p
}

// TestLSDWithLibtorrent: shoal's LSD and libtorrent's find each other on a LAN, both ways,
// with no tracker, no DHT and no peer given.
func TestLSDWithLibtorrent(t *testing.T) {
	t.Parallel()
	ctx := newCtx(t)
	testpeers.Libtorrent(t)
	n := testpeers.NewNet(t)
	shoalHost, ltHost := n.AddHost("lsd-shoal"), n.AddHost("lsd-lt")

	// libtorrent leeches from a shoal seed.
	pub := testpeers.NewPayload(t, true, 710)
	seed, ih := discoverySeed(t, ctx, shoalHost, shoalHost.Addr(6881), pub.Path(), "--no-dht")
	save := t.TempDir()
	leech := startLTLSD(t, ctx, ltHost, ltHost.Addr(6881), "--infohash", ih, "--save", save, "--timeout", "40")
	start := time.Now()
	ev, err := leech.WaitEvent(ctx, "done", "error")
	if err != nil || ev.Str("event") == "error" {
		t.Fatalf("libtorrent leech: %v %v\n%s", err, ev, leech.Stderr())
	}
	t.Logf("libtorrent found the shoal seed over LSD and finished in %v: peers %v", time.Since(start).Round(time.Millisecond), ev["peers"])
	testpeers.AssertSameTree(t, pub.Path(), filepath.Join(save, pub.Name))
	seed.Stop()

	// shoal leeches from a libtorrent seed.
	q := testpeers.NewPayload(t, false, 711)
	ltSeed := startLTLSD(t, ctx, ltHost, ltHost.Addr(6882), "--torrent", q.Torrent, "--save", q.Dir)
	if ev, err := ltSeed.WaitEvent(ctx, "ready", "error"); err != nil || ev.Str("event") == "error" {
		t.Fatalf("libtorrent seed: %v %v\n%s", err, ev, ltSeed.Stderr())
	}
	out := t.TempDir()
	start = time.Now()
	get, err := discoveryGet(t, ctx, shoalHost, q.InfoHash, out, t.TempDir(), shoalHost.Addr(6882), getTimeout, "--no-dht")
	if err != nil {
		t.Fatalf("shoal get from libtorrent over LSD: %v\n%s", err, lastLines(get.Stderr(), 20))
	}
	t.Logf("shoal found the libtorrent seed over LSD and finished in %v", time.Since(start).Round(time.Millisecond))
	testpeers.AssertSameTree(t, q.Path(), filepath.Join(out, q.Name))
	ltSeed.Stop()
}
