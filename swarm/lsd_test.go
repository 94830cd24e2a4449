package swarm

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
	"golang.org/x/net/ipv4"
)

func TestLSDPacketsRoundTrip(t *testing.T) {
	var ihs []metainfo.Hash
	for i := range 60 {
		ihs = append(ihs, ihN(i+1))
	}
	pkts := lsdPackets(6881, ihs, "c00k1e")
	if len(pkts) < 2 {
		t.Fatalf("%d packets for 60 infohashes; want them split", len(pkts))
	}
	var got []metainfo.Hash
	for _, p := range pkts {
		if len(p) > lsdMaxPacket {
			t.Errorf("packet of %d bytes, cap %d", len(p), lsdMaxPacket)
		}
		m, err := parseLSD(p, 64)
		if err != nil {
			t.Fatalf("%v\n%s", err, p)
		}
		if m.Port != 6881 || m.Cookie != "c00k1e" {
			t.Errorf("port %d cookie %q", m.Port, m.Cookie)
		}
		got = append(got, m.InfoHashes...)
	}
	if len(got) != len(ihs) {
		t.Errorf("%d infohashes back, sent %d", len(got), len(ihs))
	}
}

func TestParseLSD(t *testing.T) {
	ih := "0123456789ABCDEF0123456789ABCDEF01234567"
	// libtorrent's form (lower-case cookie header, LF-only tolerated too).
	for _, s := range []string{
		"BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\nInfohash: " + ih + "\r\ncookie: 1a2b\r\n\r\n\r\n",
		"BT-SEARCH * HTTP/1.1\nhost: 239.192.152.143:6771\nport: 51413\ninfohash: " + strings.ToLower(ih) + "\n\n",
	} {
		m, err := parseLSD([]byte(s), 8)
		if err != nil || m.Port != 51413 || len(m.InfoHashes) != 1 || m.InfoHashes[0].HexString() != strings.ToLower(ih) {
			t.Errorf("%q: %+v, %v", s, m, err)
		}
	}
	for _, s := range []string{
		"",
		"GET / HTTP/1.1\r\nPort: 1\r\nInfohash: " + ih + "\r\n\r\n",
		"BT-SEARCH * HTTP/1.1\r\nInfohash: " + ih + "\r\n\r\n",                // no port
		"BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: " + ih + "\r\n\r\n",     // port 0
		"BT-SEARCH * HTTP/1.1\r\nPort: 70000\r\nInfohash: " + ih + "\r\n\r\n", // port too big
		"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: xyz\r\n\r\n",            // no usable infohash
		"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nno colon here\r\n\r\n",
		"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n" + strings.Repeat("Infohash: "+ih+"\r\n", 9), // over the cap of 8
	} {
		if _, err := parseLSD([]byte(s), 8); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func FuzzParseLSD(f *testing.F) {
	f.Add([]byte("BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: 0123456789abcdef0123456789abcdef01234567\r\ncookie: x\r\n\r\n\r\n"))
	f.Add([]byte("BT-SEARCH * HTTP/1.1\nPort:1\nInfohash:0123456789abcdef0123456789abcdef01234567\nInfohash:0123456789abcdef0123456789abcdef01234567"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseLSD(b, 8)
		if err != nil {
			return
		}
		if m.Port == 0 || len(m.InfoHashes) == 0 || len(m.InfoHashes) > 8 {
			t.Fatalf("accepted %+v", m)
		}
	})
}

// The receive path: only announces sent to the group, on a joined interface, from that
// interface's subnet, and not our own, reach the torrents.
func TestLSDHandleFilters(t *testing.T) {
	d := &discovery{limits: DefaultDiscoveryLimits(), e: &Engine{torrents: map[metainfo.Hash]*managed{}}}
	s := &lsdService{
		d: d, cookie: "mine",
		perIP:  newIPLimiter(100, 100, 10),
		ifaces: map[int]lsdIface{2: {ifi: net.Interface{Index: 2, Name: "eth0"}, nets: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")}}},
	}
	pkt := lsdPackets(6881, []metainfo.Hash{ihN(1)}, "theirs")[0]
	own := lsdPackets(6881, []metainfo.Hash{ihN(1)}, "mine")[0]
	from := &net.UDPAddr{IP: net.ParseIP("10.1.0.7"), Port: 6771}
	group := &ipv4.ControlMessage{Dst: lsdGroup4, IfIndex: 2}
	cases := []struct {
		name      string
		b         []byte
		truncated bool
		cm        *ipv4.ControlMessage
		src       net.Addr
		ok        bool
	}{
		{"announce", pkt, false, group, from, true},
		{"own", own, false, group, from, true},
		{"truncated", pkt, true, group, from, false},
		{"unicast", pkt, false, &ipv4.ControlMessage{Dst: net.ParseIP("10.1.0.1"), IfIndex: 2}, from, false},
		{"other interface", pkt, false, &ipv4.ControlMessage{Dst: lsdGroup4, IfIndex: 3}, from, false},
		{"other subnet", pkt, false, group, &net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 6771}, false},
		{"garbage", bytes.Repeat([]byte{'x'}, 100), false, group, from, false},
	}
	for _, c := range cases {
		if got := s.handle(c.b, c.truncated, c.cm, c.src); got != c.ok {
			t.Errorf("%s: handled %v, want %v", c.name, got, c.ok)
		}
	}
	if own := s.stats.Own.Load(); own != 1 {
		t.Errorf("%d own announces recognised, want 1", own)
	}
}
