package swarm

import (
	"testing"

	"github.com/anacrolix/dht/v2/krpc"
	"github.com/anacrolix/torrent/bencode"
)

// FuzzDecodeKRPC: whatever arrives, the guard does not panic, and whatever it lets through
// the library's decoder takes without panicking (the library decodes outside any recover).
func FuzzDecodeKRPC(f *testing.F) {
	for _, s := range krpcCrashers {
		f.Add([]byte(s))
	}
	f.Add(bencode.MustMarshal(krpc.Msg{T: "aa", Y: "q", Q: "get_peers", A: &krpc.MsgArgs{ID: krpc.ID{1}, InfoHash: krpc.ID{2}}}))
	f.Add(bencode.MustMarshal(krpc.Msg{T: "aa", Y: "r", R: &krpc.Return{ID: krpc.ID{1}, Values: []krpc.NodeAddr{{IP: []byte{1, 2, 3, 4}, Port: 5}}}}))
	f.Add([]byte("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := decodeKRPC(b); err != nil {
			return
		}
		var m krpc.Msg
		bencode.Unmarshal(b, &m) // must not panic
	})
}

// FuzzParseNodes: the saved routing table is read back within its caps, whatever the file.
func FuzzParseNodes(f *testing.F) {
	good, _ := krpc.CompactIPv6NodeInfo{{ID: krpc.ID{1}, Addr: krpc.NodeAddr{IP: []byte{10, 0, 0, 1}, Port: 6881}}}.MarshalBinary()
	f.Add(good, 5)
	f.Add(append(good, 1, 2, 3), 1)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		max = max%50 + 1
		if max < 1 {
			max += 50
		}
		for _, fam := range []string{"udp4", "udp6"} {
			ns := parseNodes(b, max, fam)
			if len(ns) > max {
				t.Fatalf("%d nodes, cap %d", len(ns), max)
			}
			for _, n := range ns {
				if n.Addr.Port == 0 || n.ID == (krpc.ID{}) || (len(n.Addr.IP) == 4) != (fam == "udp4") {
					t.Fatalf("bad node %v for %s", n, fam)
				}
			}
		}
	})
}

func FuzzParseNodeID(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123456789abcdef01234567\n"))
	f.Add([]byte("0000000000000000000000000000000000000000"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := parseNodeID(b)
		if err == nil && id == (krpc.ID{}) {
			t.Fatal("zero ID accepted")
		}
	})
}
