package swarm

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"

	"shoal/internal/testpeers"
)

// pexSwarm seeds content from a rate-limited seeder and starts five leechers that know only
// the seeder, so six peers are still trading when a newcomer arrives. It returns the seeder
// first.
func pexSwarm(t *testing.T, opts CreateOptions) (*Seeded, []*Engine) {
	t.Helper()
	content := filepath.Join(t.TempDir(), "pex")
	makeFolder(t, content, map[string]int64{"big.bin": 4 << 20})
	scfg := testConfig(t, testpeers.LoopbackIP())
	scfg.UpLimit = 256 << 10 // keeps the leechers downloading, and connected, for a while
	seeder := newEngine(t, scfg)
	seeded, err := seeder.SeedPath(context.Background(), content, opts)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, seeder, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })
	torrentFile := filepath.Join(t.TempDir(), "pex.torrent")
	if err := os.WriteFile(torrentFile, seeded.TorrentBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	swarm := []*Engine{seeder}
	for range 5 {
		cfg := testConfig(t, testpeers.LoopbackIP())
		cfg.Peers = []string{seeder.ListenAddr()}
		l := newEngine(t, cfg)
		if _, err := l.Add(context.Background(), parse(t, torrentFile), AddOptions{}); err != nil {
			t.Fatal(err)
		}
		swarm = append(swarm, l)
	}
	waitFor(t, seeder, seeded.InfoHash, 20*time.Second, func(tv TorrentView) bool { return tv.PeersConnected >= 5 })
	return seeded, swarm
}

// A leecher that knows one peer of a six-peer swarm learns the other five through PEX.
func TestPEXLearnsTheSwarm(t *testing.T) {
	seeded, swarm := pexSwarm(t, CreateOptions{})
	known := swarm[3]
	// The known peer must be connected to the others before it can tell anyone about them.
	waitFor(t, known, seeded.InfoHash, 30*time.Second, func(tv TorrentView) bool { return tv.PeersConnected >= 5 })

	cfg := testConfig(t, testpeers.LoopbackIP())
	cfg.Peers = []string{known.ListenAddr()}
	newcomer := newEngine(t, cfg)
	ih, err := newcomer.Add(context.Background(), parse(t, "magnet:?xt=urn:btih:"+seeded.InfoHash), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tv := waitFor(t, newcomer, ih, 30*time.Second, func(tv TorrentView) bool { return tv.PeersFound["pex"] >= 5 })
	t.Logf("learnt %d peers through PEX in %v; found %v, connected %v", tv.PeersFound["pex"],
		time.Since(start).Round(time.Millisecond), tv.PeersFound, tv.PeerSources)
	if tv.PeersFound["direct"] != 1 {
		t.Errorf("peers found %v: want the one known peer as direct", tv.PeersFound)
	}
	if st := newcomer.discovery().pex.stats(); st.Accepted < 1 {
		t.Errorf("pex stats %+v: no message accepted", st)
	}
}

// BEP 27: a private torrent's peers learn nothing through PEX.
func TestPEXNotForPrivateTorrents(t *testing.T) {
	seeded, swarm := pexSwarm(t, CreateOptions{Private: true})
	known := swarm[3]
	waitFor(t, known, seeded.InfoHash, 30*time.Second, func(tv TorrentView) bool { return tv.PeersConnected >= 1 })
	torrentFile := filepath.Join(t.TempDir(), "private.torrent")
	if err := os.WriteFile(torrentFile, seeded.TorrentBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, testpeers.LoopbackIP())
	cfg.Peers = []string{known.ListenAddr()}
	newcomer := newEngine(t, cfg)
	ih, err := newcomer.Add(context.Background(), parse(t, torrentFile), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, newcomer, ih, 20*time.Second, func(tv TorrentView) bool { return tv.PeersConnected >= 1 })
	// The library sends PEX right after the extended handshake: a few seconds is plenty.
	time.Sleep(4 * time.Second)
	for _, e := range append(swarm, newcomer) {
		for _, tv := range e.Snapshot().Torrents {
			if tv.PeersFound["pex"] != 0 {
				t.Errorf("%s: private torrent found peers through PEX: %v", e.ListenAddr(), tv.PeersFound)
			}
		}
		if st := e.discovery().pex.stats(); st.Accepted != 0 {
			t.Errorf("%s: accepted %d PEX messages for a private torrent", e.ListenAddr(), st.Accepted)
		}
	}
}

func pexMsg(n4 int) []byte {
	var m pp.PexMsg
	for i := range n4 {
		m.Added = append(m.Added, krpc.NodeAddr{IP: net.IPv4(10, 1, byte(i>>8), byte(i)).To4(), Port: 6881})
	}
	return bencode.MustMarshal(m)
}

func TestParsePEX(t *testing.T) {
	l := DefaultDiscoveryLimits()
	msg, err := parsePEX(pexMsg(3), l)
	if err != nil || len(msg.Added) != 3 {
		t.Fatalf("3 peers: %d, %v", len(msg.Added), err)
	}
	if _, err := parsePEX(pexMsg(l.PEXMaxPeersPerMessage+1), l); !errors.Is(err, errPEXTooMany) {
		t.Errorf("over the count cap: %v", err)
	}
	big := make([]byte, l.PEXMaxMessageBytes+1)
	if _, err := parsePEX(big, l); !errors.Is(err, errPEXTooLarge) {
		t.Errorf("over the size cap: %v", err)
	}
	for _, bad := range []string{"", "x", "d5:added3:abce", "li1ee"} {
		if _, err := parsePEX([]byte(bad), l); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A peer whose list of live connections (added minus dropped, over all its messages)
// passes the cap has its message spoilt, so the library drops it and the connection.
func TestPEXLiveListCap(t *testing.T) {
	l := DefaultDiscoveryLimits()
	l.PEXMaxLivePerConn = 4
	g := newPEXGuard(l)
	lmap := torrent.LocalLtepProtocolMap{Index: []pp.ExtensionName{pp.ExtensionNameMetadata, pp.ExtensionNamePex}, NumBuiltin: 2}
	pc := &torrent.PeerConn{LocalLtepProtocolMap: &lmap}
	send := func(m pp.PexMsg) []byte {
		b := bencode.MustMarshal(m)
		g.onExtensionMessage(torrent.PeerConnReadExtensionMessageEvent{PeerConn: pc, ExtensionNumber: 2, Payload: b})
		return b
	}
	addr := func(i int) krpc.NodeAddr { return krpc.NodeAddr{IP: net.IPv4(10, 2, 0, byte(i)).To4(), Port: 6881} }
	if b := send(pp.PexMsg{Added: krpc.CompactIPv4NodeAddrs{addr(1), addr(2), addr(3)}}); b[0] != 'd' {
		t.Fatal("a message within the caps was spoilt")
	}
	// Dropping two makes room for three more: 1 + 3 = 4, at the cap.
	if b := send(pp.PexMsg{Added: krpc.CompactIPv4NodeAddrs{addr(4), addr(5), addr(6)}, Dropped: krpc.CompactIPv4NodeAddrs{addr(1), addr(2)}}); b[0] != 'd' {
		t.Fatal("a message that stays at the cap was spoilt")
	}
	b := send(pp.PexMsg{Added: krpc.CompactIPv4NodeAddrs{addr(7)}})
	if b[0] == 'd' {
		t.Fatal("a message past the live cap was passed on")
	}
	if _, err := pp.LoadPexMsg(b); err == nil {
		t.Fatal("the library would still decode the spoilt message")
	}
	if st := g.stats(); st.Accepted != 2 || st.TooLive != 1 {
		t.Errorf("stats %+v", st)
	}
	if len(g.live) != 0 {
		t.Errorf("the refused connection is still tracked")
	}
	// Other extensions pass untouched.
	other := []byte("d1:ai1ee")
	g.onExtensionMessage(torrent.PeerConnReadExtensionMessageEvent{PeerConn: pc, ExtensionNumber: 1, Payload: other})
	if other[0] != 'd' {
		t.Error("a ut_metadata message was touched")
	}
}

func FuzzParsePEX(f *testing.F) {
	f.Add(pexMsg(2))
	f.Add([]byte("d5:added6:abcdef7:added.f1:\x01e"))
	f.Add([]byte("d6:added618:abcdefghijklmnopqr8:dropped6:abcdefe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l := DefaultDiscoveryLimits()
		msg, err := parsePEX(b, l)
		if err != nil {
			return
		}
		if n := len(msg.Added) + len(msg.Added6); n > l.PEXMaxPeersPerMessage {
			t.Fatalf("%d peers, cap %d", n, l.PEXMaxPeersPerMessage)
		}
		g := newPEXGuard(l)
		g.track(&torrent.PeerConn{}, msg)
	})
}

// rawPeer is a minimal BitTorrent peer speaking the wire protocol by hand, to send what no
// real client would.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRawPeer(t *testing.T, addr string, ih metainfo.Hash) *rawPeer {
	t.Helper()
	conn, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(testpeers.LoopbackIP())}}).Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var hs []byte
	hs = append(hs, 19)
	hs = append(hs, "BitTorrent protocol"...)
	reserved := make([]byte, 8)
	reserved[5] |= 0x10 // LTEP (BEP 10)
	hs = append(hs, reserved...)
	hs = append(hs, ih[:]...)
	hs = append(hs, "-XX0001-rawpeer00000"...)
	if _, err := conn.Write(hs); err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{t: t, conn: conn, r: bufio.NewReader(conn)}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(p.r, make([]byte, 68)); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return p
}

func (p *rawPeer) sendExtended(id byte, payload []byte) error {
	b := make([]byte, 4, 6+len(payload))
	binary.BigEndian.PutUint32(b, uint32(2+len(payload)))
	b = append(b, 20, id)
	b = append(b, payload...)
	_, err := p.conn.Write(b)
	return err
}

// extendedIDs reads messages until the remote's extended handshake and returns its "m".
func (p *rawPeer) extendedIDs() map[string]int {
	for {
		var n uint32
		if err := binary.Read(p.r, binary.BigEndian, &n); err != nil {
			p.t.Fatalf("read: %v", err)
		}
		msg := make([]byte, n)
		if _, err := io.ReadFull(p.r, msg); err != nil {
			p.t.Fatalf("read: %v", err)
		}
		if n >= 2 && msg[0] == 20 && msg[1] == 0 {
			var hs struct {
				M map[string]int `bencode:"m"`
			}
			if err := bencode.Unmarshal(msg[2:], &hs); err != nil {
				p.t.Fatalf("extended handshake: %v", err)
			}
			return hs.M
		}
	}
}

// Oversized PEX messages are dropped whole, with the connection that sent them; a normal
// one gets through.
func TestPEXDropsOversizedLists(t *testing.T) {
	content := filepath.Join(t.TempDir(), "pexguard")
	makeFolder(t, content, map[string]int64{"f": 100_000})
	e := newEngine(t, testConfig(t, testpeers.LoopbackIP()))
	seeded, err := e.SeedPath(context.Background(), content, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, e, seeded.InfoHash, 10*time.Second, func(tv TorrentView) bool { return tv.State == StateSeeding })
	ih := metainfo.NewHashFromHex(seeded.InfoHash)
	limits := DefaultDiscoveryLimits()
	for _, c := range []struct {
		name   string
		msg    []byte
		closed bool
	}{
		{"over the size cap", pexMsg(5000), true}, // ~30 KiB
		{"over the count cap", pexMsg(limits.PEXMaxPeersPerMessage + 50), true},
		{"fine", pexMsg(3), false},
	} {
		p := dialRawPeer(t, e.ListenAddr(), ih)
		if err := p.sendExtended(0, bencode.MustMarshal(map[string]any{"m": map[string]int{"ut_pex": 1}})); err != nil {
			t.Fatal(err)
		}
		id := p.extendedIDs()["ut_pex"]
		if id == 0 {
			t.Fatal("engine does not advertise ut_pex")
		}
		p.sendExtended(byte(id), c.msg)
		if closed := p.closedWithin(2 * time.Second); closed != c.closed {
			t.Errorf("%s: connection closed %v, want %v", c.name, closed, c.closed)
		}
	}
	st := e.discovery().pex.stats()
	t.Logf("pex stats %+v", st)
	if st.TooLarge != 1 || st.TooMany != 1 || st.Accepted != 1 {
		t.Errorf("pex stats %+v: want one each of too large, too many, accepted", st)
	}
	time.Sleep(200 * time.Millisecond)
	if tv := e.Snapshot().Torrents[0]; tv.PeersKnown > 10 {
		t.Errorf("%d peers known after the oversized lists: they reached the torrent", tv.PeersKnown)
	}
}

// closedWithin reads (and discards) until the remote closes the connection or d passes.
func (p *rawPeer) closedWithin(d time.Duration) bool {
	p.conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, p.r)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}
