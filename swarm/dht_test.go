package swarm

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent/metainfo"

	"shoal/internal/testpeers"
)

// No test may reach the public DHT routers: a DHT engine started without --dht-bootstrap
// gets an error here instead of DNS lookups and packets off the machine.
func init() {
	publicRouters = func(string) ([]dht.Addr, error) {
		return nil, errors.New("swarm tests: the public DHT routers are off limits; set DHTBootstrap")
	}
}

// dhtNode is an engine in a test DHT: its own loopback address, a port fixed in advance so
// others can bootstrap from it before it starts.
type dhtNode struct {
	ip, addr string
	cfg      Config
	e        *Engine
}

// dhtNet makes n engine configs on distinct loopback addresses, each bootstrapping from its
// two neighbours on a ring, so the network is connected whatever order they start in.
func dhtNet(t *testing.T, n int) []*dhtNode {
	t.Helper()
	nodes := make([]*dhtNode, n)
	for i := range nodes {
		ip := testpeers.LoopbackIP()
		port := testpeers.FreePort(t, ip)
		nodes[i] = &dhtNode{ip: ip, addr: net.JoinHostPort(ip, strconv.Itoa(port))}
	}
	for i, nd := range nodes {
		cfg := testConfig(t, nd.ip)
		cfg.ListenAddr = nd.addr
		cfg.NoDHT = false
		cfg.DHTBootstrap = []string{nodes[(i+n-1)%n].addr, nodes[(i+1)%n].addr}
		nd.cfg = cfg
	}
	return nodes
}

func (nd *dhtNode) start(t *testing.T) *Engine {
	t.Helper()
	nd.e = newEngine(t, nd.cfg)
	return nd.e
}

func dhtNodes(e *Engine) int {
	s := e.Snapshot()
	if s == nil {
		return 0
	}
	return s.DHTNodes
}

// A leecher given nothing but the infohash finds a seeder through a DHT of shoal nodes.
func TestDHTTrackerlessMagnet(t *testing.T) {
	nodes := dhtNet(t, 12)
	for _, nd := range nodes {
		nd.start(t)
	}
	seeder, leecher := nodes[3].e, nodes[9].e
	// Let the routing tables fill a little, as on a real network.
	deadline := time.Now().Add(20 * time.Second)
	for _, nd := range nodes {
		for dhtNodes(nd.e) < 3 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for i, nd := range nodes {
		t.Logf("node %d %s: %d DHT nodes", i, nd.addr, dhtNodes(nd.e))
	}

	content := filepath.Join(t.TempDir(), "trackerless")
	makeFolder(t, content, map[string]int64{"a.bin": 1<<20 + 3, "b.txt": 5000})
	seeded, err := seeder.SeedPath(context.Background(), content, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, seeder, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })

	start := time.Now()
	ih, err := leecher.Add(context.Background(), parse(t, "magnet:?xt=urn:btih:"+seeded.InfoHash), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tv := waitFor(t, leecher, ih, 90*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	t.Logf("leecher complete %v after adding the bare magnet; peers found %v", time.Since(start).Round(time.Millisecond), tv.PeersFound)
	if got, want := treeHash(t, filepath.Join(nodes[9].cfg.DataDir, "trackerless")), treeHash(t, content); got != want {
		t.Fatalf("tree hash %s, want %s", got, want)
	}
	// Either side may dial: the leecher after get_peers found the seeder, or the seeder
	// when the leecher's announce_peer reached the seeder's own node. Nothing else knew.
	var seedFound map[string]int
	if tv.PeersFound["dht"] < 1 {
		seedFound = dhtPeerFound(seeder, seeded.InfoHash, 10*time.Second)
	}
	if tv.PeersFound["dht"]+seedFound["dht"] < 1 {
		t.Errorf("peers found: leecher %v, seeder %v: want a DHT peer on one side", tv.PeersFound, seedFound)
	}
	for src := range tv.PeersFound {
		if src != "dht" && src != "incoming" {
			t.Errorf("leecher found a peer through %s", src)
		}
	}
	stored := 0
	for _, nd := range nodes {
		if d := nd.e.discovery(); d != nil && d.dht.store.has(mustHash(t, seeded.InfoHash)) {
			stored++
		}
	}
	t.Logf("%d of %d nodes store peers for the torrent", stored, len(nodes))
	if stored == 0 {
		t.Errorf("no node stored the seeder's announce")
	}
}

// dhtPeerFound waits up to timeout for e's snapshot, sampled on its own clock, to show a peer
// of torrent ih found through the DHT, and returns its peers by source.
func dhtPeerFound(e *Engine, ih string, timeout time.Duration) map[string]int {
	deadline := time.Now().Add(timeout)
	for {
		var found map[string]int
		for _, tv := range e.Snapshot().Torrents {
			if tv.InfoHash == ih {
				found = tv.PeersFound
			}
		}
		if found["dht"] > 0 || time.Now().After(deadline) {
			return found
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustHash(t testing.TB, hexIH string) (h [20]byte) {
	t.Helper()
	src := parse(t, "magnet:?xt=urn:btih:"+hexIH)
	spec, err := src.spec()
	if err != nil {
		t.Fatal(err)
	}
	return spec.InfoHash
}

// The routing table and node ID are saved in the state dir at close and used at the next
// start: a restarted node with a bootstrap list that leads nowhere still rejoins the DHT.
func TestDHTRoutingTablePersisted(t *testing.T) {
	nodes := dhtNet(t, 5)
	a := nodes[0]
	// a bootstraps from every other node, so that its table holds more than its two ring
	// neighbours without depending on what theirs held when it asked (a CI run once saw 2).
	a.cfg.DHTBootstrap = nil
	for _, nd := range nodes[1:] {
		a.cfg.DHTBootstrap = append(a.cfg.DHTBootstrap, nd.addr)
	}
	for _, nd := range nodes {
		nd.start(t)
	}
	waitDHTNodes(t, a.e, 3, 20*time.Second)
	id := a.e.discovery().dht.servers[0].ID()
	if err := a.e.Close(); err != nil {
		t.Fatal(err)
	}
	saved, err := readNodesFile(filepath.Join(a.cfg.StateDir, "dht-udp4.nodes"), 1000, "udp4")
	if err != nil || len(saved) < 3 {
		t.Fatalf("saved nodes: %d, %v", len(saved), err)
	}
	t.Logf("saved %d nodes", len(saved))

	cfg := a.cfg
	cfg.ListenAddr = a.ip + ":0"     // the old sockets close in the background
	deadIP := testpeers.LoopbackIP() // nobody listens there
	cfg.DHTBootstrap = []string{deadIP + ":9"}
	again := newEngine(t, cfg)
	if got := again.discovery().dht.servers[0].ID(); got != id {
		t.Errorf("node ID %x after restart, was %x", got, id)
	}
	waitDHTNodes(t, again, 3, 20*time.Second)
}

func waitDHTNodes(t *testing.T, e *Engine, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for dhtNodes(e) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d DHT nodes after %v, want %d", dhtNodes(e), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// BEP 27: a private torrent is never looked up or announced on the DHT, on either side,
// while a public one next to it is.
func TestDHTNotForPrivateTorrents(t *testing.T) {
	var mu sync.Mutex
	queried := map[metainfo.Hash]int{}
	dhtQueryHook = func(q string, ih metainfo.Hash) {
		if q == "get_peers" || q == "announce_peer" {
			mu.Lock()
			queried[ih]++
			mu.Unlock()
		}
	}
	t.Cleanup(func() { dhtQueryHook = nil })
	nodes := dhtNet(t, 6)
	seederNode, leecherNode := nodes[1], nodes[4]
	leecherNode.cfg.Peers = []string{seederNode.addr}
	for _, nd := range nodes {
		nd.start(t)
	}
	seeder, leecher := seederNode.e, leecherNode.e
	priv := filepath.Join(t.TempDir(), "private")
	makeFolder(t, priv, map[string]int64{"p.bin": 300_000})
	seeded, err := seeder.SeedPath(context.Background(), priv, CreateOptions{Private: true})
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "public")
	makeFolder(t, pub, map[string]int64{"q.bin": 1000})
	public, err := seeder.SeedPath(context.Background(), pub, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	torrentFile := filepath.Join(t.TempDir(), "private.torrent")
	if err := os.WriteFile(torrentFile, seeded.TorrentBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	ih, err := leecher.Add(context.Background(), parse(t, torrentFile), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tv := waitFor(t, leecher, ih, 30*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	// Give any stray announce time to land: the public torrent's shows up within this.
	deadline := time.Now().Add(5 * time.Second)
	pubIH := mustHash(t, public.InfoHash)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := queried[pubIH]
		mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if queried[pubIH] == 0 {
		t.Errorf("no DHT query seen for the public torrent: the check below would prove nothing")
	}
	privIH := mustHash(t, seeded.InfoHash)
	if n := queried[privIH]; n != 0 {
		t.Errorf("%d DHT queries for the private torrent", n)
	}
	for i, nd := range nodes {
		if nd.e.discovery().dht.store.has(privIH) {
			t.Errorf("node %d stores peers for the private torrent", i)
		}
	}
	for src := range tv.PeersFound {
		if src != "direct" && src != "incoming" {
			t.Errorf("private torrent found peers through %s: %v", src, tv.PeersFound)
		}
	}
}

// Our address as the repliers see it makes the next start's node ID a BEP 42 one.
func TestDHTSecureNodeIDFromVotes(t *testing.T) {
	c := &dhtConn{}
	if _, ok := c.externalIP(); ok {
		t.Fatal("external address without votes")
	}
	public := net.ParseIP("203.0.113.7")
	for range 2 {
		c.vote(public)
	}
	c.vote(net.ParseIP("10.0.0.1"))
	if _, ok := c.externalIP(); ok {
		t.Error("external address from two votes")
	}
	c.vote(public)
	ip, ok := c.externalIP()
	if !ok || ip.String() != "203.0.113.7" {
		t.Fatalf("external address %v %v, want 203.0.113.7", ip, ok)
	}
	old := randomID()
	id, changed := secureNodeID(old, ip)
	if !dht.NodeIdSecure(id, ip.AsSlice()) {
		t.Errorf("new ID %x is not secure for %v", id, ip)
	}
	if again, ch := secureNodeID(id, ip); ch || again != id {
		t.Errorf("a secure ID was changed")
	}
	t.Logf("changed %v: %x -> %x", changed, old, id)
	// Private addresses never count: BEP 42 exempts them.
	p := &dhtConn{}
	for range 5 {
		p.vote(net.ParseIP("192.168.1.2"))
	}
	if _, ok := p.externalIP(); ok {
		t.Error("a private address taken as the external one")
	}
	// The tally is bounded whatever the repliers claim.
	for i := range 100 {
		p.vote(net.IPv4(198, 51, 100, byte(i)))
	}
	if len(p.votes) > maxIPVotes {
		t.Errorf("%d addresses tallied, cap %d", len(p.votes), maxIPVotes)
	}
}

// A magnet added while the DHT was unreachable is looked up again later: the leecher's
// bootstrap node and the seeder come up only after it gave up its first lookup.
func TestDHTRetriesLookups(t *testing.T) {
	old := discoveryLimitsFor
	discoveryLimitsFor = func(*Engine) DiscoveryLimits {
		l := DefaultDiscoveryLimits()
		l.DHTRetryMin, l.DHTRetryMax = 2*time.Second, 4*time.Second
		return l
	}
	t.Cleanup(func() { discoveryLimitsFor = old })
	nodes := dhtNet(t, 3)
	boot, seedNode, leechNode := nodes[0], nodes[1], nodes[2]
	// Nobody but the leecher itself knows its address: only its own lookups can help it.
	leechNode.cfg.DHTBootstrap = []string{boot.addr} // down for now
	seedNode.cfg.DHTBootstrap = []string{boot.addr}
	boot.cfg.DHTBootstrap = []string{seedNode.addr}
	leecher := leechNode.start(t)

	content := filepath.Join(t.TempDir(), "late")
	makeFolder(t, content, map[string]int64{"l.bin": 200_000})
	// The infohash is known before anyone seeds: make the torrent on a throwaway engine.
	maker := newEngine(t, testConfig(t, testpeers.LoopbackIP()))
	made, err := maker.SeedPath(context.Background(), content, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	maker.Close()
	ih, err := leecher.Add(context.Background(), parse(t, "magnet:?xt=urn:btih:"+made.InfoHash), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Second) // the first lookup gives up on the silent node
	boot.start(t)
	seeder := seedNode.start(t)
	if _, err := seeder.SeedPath(context.Background(), content, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tv := waitFor(t, leecher, ih, 60*time.Second, func(tv TorrentView) bool { return tv.Complete() })
	t.Logf("complete %v after the seeder started; found %v", time.Since(start).Round(time.Millisecond), tv.PeersFound)
}
