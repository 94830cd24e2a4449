package swarm

import (
	"encoding/binary"
	"net"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/metainfo"
)

func smallStoreLimits() DiscoveryLimits {
	l := DefaultDiscoveryLimits()
	l.DHTPeerTTL = 30 * time.Minute
	l.DHTMaxPeersPerInfoHash = 5
	l.DHTMaxPeersPerIP = 2
	l.DHTMaxInfoHashes = 3
	l.DHTMaxPeers = 12
	l.DHTMaxValues = 4
	return l
}

func ihN(n int) (h metainfo.Hash) {
	binary.BigEndian.PutUint32(h[:], uint32(n))
	return h
}

func na(ip string, port int) krpc.NodeAddr { return krpc.NodeAddr{IP: net.ParseIP(ip), Port: port} }

func TestPeerStoreKeysByIPAndPort(t *testing.T) {
	s := newPeerStore(DefaultDiscoveryLimits())
	ih := ihN(1)
	s.AddPeer(ih, na("10.0.0.1", 6881))
	s.AddPeer(ih, na("10.0.0.1", 6882)) // same IP, another client behind one NAT
	s.AddPeer(ih, na("10.0.0.1", 6881)) // re-announce: refreshes, not a second entry
	s.AddPeer(ih, na("::ffff:10.0.0.2", 7000))
	got := map[string]bool{}
	for _, p := range s.GetPeers(ih) {
		got[p.String()] = true
	}
	want := []string{"10.0.0.1:6881", "10.0.0.1:6882", "10.0.0.2:7000"}
	if len(got) != len(want) {
		t.Fatalf("GetPeers = %v, want %v", got, want)
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("GetPeers lacks %s: %v", w, got)
		}
	}
	if st := s.stats(); st.Peers != 3 || st.InfoHashes != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestPeerStoreRefusesBadAddresses(t *testing.T) {
	s := newPeerStore(DefaultDiscoveryLimits())
	ih := ihN(1)
	for _, a := range []krpc.NodeAddr{
		na("10.0.0.1", 0), na("10.0.0.1", 70000), na("0.0.0.0", 1), na("224.0.0.1", 1),
		na("255.255.255.255", 1), {IP: nil, Port: 1}, {IP: net.IP{1, 2, 3}, Port: 1},
	} {
		s.AddPeer(ih, a)
	}
	if st := s.stats(); st.Peers != 0 || st.Dropped != 7 {
		t.Errorf("stats %+v: want nothing stored, 7 dropped", st)
	}
}

func TestPeerStoreCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newPeerStore(smallStoreLimits())
		ih := ihN(1)
		// Per IP: a third port of one address is refused.
		s.AddPeer(ih, na("10.0.0.1", 1))
		s.AddPeer(ih, na("10.0.0.1", 2))
		s.AddPeer(ih, na("10.0.0.1", 3))
		if n := len(s.GetPeers(ih)); n != 2 {
			t.Errorf("%d peers from one IP, cap 2", n)
		}
		// Per infohash: the oldest makes room.
		for i := 2; i <= 6; i++ {
			time.Sleep(time.Second)
			s.AddPeer(ih, na("10.0.1."+strconv.Itoa(i), 1))
		}
		if st := s.stats(); st.Peers != 5 {
			t.Errorf("%d peers for one infohash, cap 5", st.Peers)
		}
		for _, p := range s.GetPeers(ih) {
			if p.IP.String() == "10.0.0.1" {
				t.Errorf("the oldest peer %v was kept over newer ones", p)
			}
		}
		// GetPeers returns at most DHTMaxValues.
		if n := len(s.GetPeers(ih)); n != 4 {
			t.Errorf("GetPeers returned %d, cap 4", n)
		}
		// Infohashes: the least recently announced goes.
		for i := 2; i <= 4; i++ {
			time.Sleep(time.Second)
			s.AddPeer(ihN(i), na("10.0.2.1", 1))
		}
		if s.has(ih) {
			t.Errorf("the stalest infohash was kept")
		}
		if st := s.stats(); st.InfoHashes != 3 || st.Peers != 3 {
			t.Errorf("stats %+v: want 3 infohashes of 1 peer", st)
		}
	})
}

func TestPeerStoreTotalCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := smallStoreLimits()
		l.DHTMaxInfoHashes = 100
		s := newPeerStore(l)
		for i := range 40 {
			s.AddPeer(ihN(i/4), na("10.0.3."+strconv.Itoa(i), 1))
		}
		if st := s.stats(); st.Peers != 12 {
			t.Errorf("%d peers stored, total cap 12", st.Peers)
		}
		// Once entries expire there is room again.
		time.Sleep(31 * time.Minute)
		s.AddPeer(ihN(99), na("10.0.4.1", 1))
		if st := s.stats(); st.Peers != 1 {
			t.Errorf("after expiry: %d peers, want only the new one", st.Peers)
		}
	})
}

func TestPeerStoreExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newPeerStore(DefaultDiscoveryLimits())
		ih := ihN(7)
		s.AddPeer(ih, na("10.0.0.1", 1))
		time.Sleep(20 * time.Minute)
		s.AddPeer(ih, na("10.0.0.2", 1))
		time.Sleep(11 * time.Minute) // the first is 31 minutes old, the second 11
		got := s.GetPeers(ih)
		if len(got) != 1 || got[0].IP.String() != "10.0.0.2" {
			t.Errorf("GetPeers = %v, want only the fresh announce", got)
		}
		time.Sleep(30 * time.Minute)
		s.AddPeer(ihN(8), na("10.0.0.3", 1)) // triggers a sweep
		if s.has(ih) {
			t.Errorf("expired swarm still stored")
		}
	})
}

// FuzzPeerStore drives the store with announces and lookups decoded from the input, and
// checks the caps and the addresses it hands out.
func FuzzPeerStore(f *testing.F) {
	f.Add([]byte{0, 1, 10, 0, 0, 1, 0x1a, 0xe1, 1, 1})
	f.Add([]byte{0, 2, 0, 0, 0, 0, 0, 0, 0, 3, 255, 255, 255, 255, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		l := smallStoreLimits()
		s := newPeerStore(l)
		for len(b) >= 2 {
			op, ih := b[0], ihN(int(b[1]%8))
			b = b[2:]
			switch op % 3 {
			case 0, 1: // announce: 4 or 16 address bytes, then a port
				n := 4
				if op%3 == 1 {
					n = 16
				}
				if len(b) < n+2 {
					return
				}
				s.AddPeer(ih, krpc.NodeAddr{IP: net.IP(append([]byte(nil), b[:n]...)), Port: int(binary.BigEndian.Uint16(b[n:]))})
				b = b[n+2:]
			case 2:
				got := s.GetPeers(ih)
				if len(got) > l.DHTMaxValues {
					t.Fatalf("GetPeers returned %d, cap %d", len(got), l.DHTMaxValues)
				}
				perIP := map[string]int{}
				for _, p := range got {
					if p.Port == 0 || p.IP.IsUnspecified() || p.IP.IsMulticast() {
						t.Fatalf("handed out %v", p)
					}
					perIP[p.IP.String()]++
					if perIP[p.IP.String()] > l.DHTMaxPeersPerIP {
						t.Fatalf("%d ports of %v", perIP[p.IP.String()], p.IP)
					}
				}
			}
			st := s.stats()
			if st.Peers > l.DHTMaxPeers || st.InfoHashes > l.DHTMaxInfoHashes {
				t.Fatalf("stats %+v over the caps", st)
			}
			sum := 0
			for _, sw := range s.swarms {
				if len(sw.peers) > l.DHTMaxPeersPerInfoHash {
					t.Fatalf("swarm of %d", len(sw.peers))
				}
				sum += len(sw.peers)
			}
			if sum != st.Peers {
				t.Fatalf("total %d, counted %d", st.Peers, sum)
			}
		}
	})
}
