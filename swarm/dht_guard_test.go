package swarm

import (
	"crypto/rand"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/bep44"
	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"shoal/internal/testpeers"
)

// Datagrams on which the library's KRPC decoder panics (a compact address shorter than its
// two port bytes). Its server decodes in the socket's read goroutine, so one of these from
// anywhere on the internet would end the process; the guard drops them.
var krpcCrashers = []string{
	"d1:t2:aa1:y1:r2:ip1:xe",
	"d1:t2:aa1:y1:r2:ip0:e",
	"d1:t2:aa1:y1:r1:rd2:id20:aaaaaaaaaaaaaaaaaaaa6:valuesl1:xeee",
}

func TestDecodeKRPCRefusesCrashers(t *testing.T) {
	for _, s := range krpcCrashers {
		libPanics := func() (p bool) {
			defer func() { p = recover() != nil }()
			var m krpc.Msg
			bencode.Unmarshal([]byte(s), &m)
			return false
		}()
		if !libPanics {
			t.Logf("%q: the library's decoder no longer panics", s)
		}
		if _, err := decodeKRPC([]byte(s)); !errors.Is(err, errKRPCPanic) && libPanics {
			t.Errorf("%q: err %v, want errKRPCPanic", s, err)
		}
	}
	for _, s := range []string{"", "x", "de", "d1:y1:qe", "d1:t1:a1:y1:qe", "d1:t1:a1:y1:re", "d1:t1:a1:y1:ze", "le"} {
		if _, err := decodeKRPC([]byte(s)); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	ping := bencode.MustMarshal(krpc.Msg{T: "aa", Y: "q", Q: "ping", A: &krpc.MsgArgs{ID: randomID()}})
	if _, err := decodeKRPC(ping); err != nil {
		t.Errorf("ping refused: %v", err)
	}
}

func randomID() (id krpc.ID) {
	rand.Read(id[:])
	return id
}

// krpcClient is a UDP socket on its own loopback address speaking KRPC to one node.
type krpcClient struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
	id   krpc.ID
}

func newKRPCClient(t *testing.T, to string) *krpcClient {
	t.Helper()
	ip := testpeers.LoopbackIP()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ua, err := net.ResolveUDPAddr("udp4", to)
	if err != nil {
		t.Fatal(err)
	}
	return &krpcClient{t: t, conn: conn, to: ua, id: randomID()}
}

func (c *krpcClient) send(b []byte) {
	if _, err := c.conn.WriteToUDP(b, c.to); err != nil {
		c.t.Fatal(err)
	}
}

func (c *krpcClient) query(tid, q string, a krpc.MsgArgs) {
	a.ID = c.id
	c.send(bencode.MustMarshal(krpc.Msg{T: tid, Y: "q", Q: q, A: &a}))
}

// replies reads replies (not the node's own queries to us) until none comes for quiet.
func (c *krpcClient) replies(quiet time.Duration) []krpc.Msg {
	var out []krpc.Msg
	buf := make([]byte, 65536)
	for {
		c.conn.SetReadDeadline(time.Now().Add(quiet))
		n, _, err := c.conn.ReadFromUDP(buf)
		if err != nil {
			return out
		}
		var m krpc.Msg
		if bencode.Unmarshal(buf[:n], &m) == nil && m.Y != krpc.YQuery {
			out = append(out, m)
		}
	}
}

// A DHT node survives crashing, malformed and flooding datagrams with bounded state, and
// still answers afterwards.
func TestDHTSurvivesMalformedAndFloods(t *testing.T) {
	old := discoveryLimitsFor
	discoveryLimitsFor = func(*Engine) DiscoveryLimits {
		l := DefaultDiscoveryLimits()
		l.DHTMaxTrackedIPs = 64
		return l
	}
	t.Cleanup(func() { discoveryLimitsFor = old })
	ip := testpeers.LoopbackIP()
	cfg := testConfig(t, ip)
	cfg.NoDHT = false
	cfg.DHTBootstrap = []string{testpeers.LoopbackIP() + ":9"} // a DHT of one
	e := newEngine(t, cfg)
	addr := e.ListenAddr()
	d := e.discovery().dht
	goroutines := runtime.NumGoroutine()

	// Crashers and garbage, then a ping that must still be answered.
	c := newKRPCClient(t, addr)
	for _, s := range krpcCrashers {
		c.send([]byte(s))
	}
	for _, s := range []string{"", "hello", "d", "de", "d1:y1:qe", "i42e", string(make([]byte, 5000))} {
		c.send([]byte(s))
	}
	c.query("p1", "ping", krpc.MsgArgs{})
	if rs := c.replies(time.Second); len(rs) != 1 || rs[0].T != "p1" {
		t.Fatalf("after malformed datagrams: replies %+v, want the ping's", rs)
	}
	if n := d.dropped.Panicked.Load(); n < int64(len(krpcCrashers)) {
		t.Errorf("%d crashers dropped, want %d", n, len(krpcCrashers))
	}
	t.Logf("dropped: %d would-panic, %d malformed, %d too large", d.dropped.Panicked.Load(), d.dropped.Malformed.Load(), d.dropped.TooLarge.Load())

	// A get_peers flood from one address: about a burst is answered, the rest dropped.
	flood := newKRPCClient(t, addr)
	const n = 1000
	start := time.Now()
	for i := range n {
		var ih krpc.ID
		ih[0], ih[1] = byte(i), byte(i>>8)
		flood.query(string(rune('a'+i%26))+string(rune('a'+i/26%26)), "get_peers", krpc.MsgArgs{InfoHash: ih})
	}
	answered := len(flood.replies(500 * time.Millisecond))
	limit := DefaultDiscoveryLimits()
	allowed := float64(limit.DHTPacketBurstPerIP) + limit.DHTPacketsPerIP*time.Since(start).Seconds() + 5
	t.Logf("get_peers flood of %d from one address: %d answered in %v", n, answered, time.Since(start).Round(time.Millisecond))
	if float64(answered) > allowed {
		t.Errorf("%d of %d flooding queries answered, want at most %.0f", answered, n, allowed)
	}

	// Many sources: the rate-limit table stays at its cap.
	for range 150 {
		s := newKRPCClient(t, addr)
		s.query("x", "ping", krpc.MsgArgs{})
	}
	time.Sleep(200 * time.Millisecond)
	if got := d.perIP.size(); got > 64 {
		t.Errorf("per-IP table holds %d addresses, cap 64", got)
	}

	// One host announcing many ports for one torrent holds at most DHTMaxPeersPerIP.
	ann := newKRPCClient(t, addr)
	ih := krpc.ID(metainfo.NewHashFromHex("0123456789abcdef0123456789abcdef01234567"))
	ann.query("g", "get_peers", krpc.MsgArgs{InfoHash: ih})
	rs := ann.replies(time.Second)
	if len(rs) != 1 || rs[0].R == nil || rs[0].R.Token == nil {
		t.Fatalf("get_peers reply %+v: want a token", rs)
	}
	for p := range 30 {
		port := 2000 + p
		ann.query("a", "announce_peer", krpc.MsgArgs{InfoHash: ih, Token: *rs[0].R.Token, Port: &port})
	}
	ann.replies(300 * time.Millisecond)
	ann.query("h", "get_peers", krpc.MsgArgs{InfoHash: ih})
	rs = ann.replies(time.Second)
	if len(rs) != 1 || rs[0].R == nil || len(rs[0].R.Values) == 0 || len(rs[0].R.Values) > limit.DHTMaxPeersPerIP {
		t.Errorf("after 30 announces from one address: reply %+v, want 1..%d values", rs, limit.DHTMaxPeersPerIP)
	} else {
		t.Logf("30 announces from one address, %d stored", len(rs[0].R.Values))
	}

	// The node still works, and the flood left no goroutines behind.
	c.query("p2", "ping", krpc.MsgArgs{})
	if rs := c.replies(time.Second); len(rs) != 1 {
		t.Errorf("ping after the floods: %d replies", len(rs))
	}
	time.Sleep(time.Second)
	if g := runtime.NumGoroutine(); g > goroutines+30 {
		t.Errorf("%d goroutines after the floods, %d before", g, goroutines)
	}
}

// BEP 44 items kept for others are bounded; the oldest go first.
func TestItemStoreBounded(t *testing.T) {
	s := newItemStore(3)
	var first bep44.Target
	for i := range 10 {
		it := &bep44.Item{V: i}
		if i == 0 {
			first = it.Target()
		}
		if err := s.Put(it); err != nil {
			t.Fatal(err)
		}
		if i == 5 {
			s.Del(it.Target())
		}
	}
	if n := s.len(); n != 3 {
		t.Errorf("%d items kept, cap 3", n)
	}
	if _, err := s.Get(first); !errors.Is(err, bep44.ErrItemNotFound) {
		t.Errorf("the oldest item is still there: %v", err)
	}
	if len(s.order) > 6 {
		t.Errorf("eviction order holds %d targets for 3 items", len(s.order))
	}
}
