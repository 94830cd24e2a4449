package tracker

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"shoal/tracker/store"
	"shoal/tracker/store/memory"
)

func FuzzParseAnnounceQuery(f *testing.F) {
	h := testHash(1)
	f.Add(announceQueryString(h, 6881, nil))
	f.Add(announceQueryString(h, 6881, map[string]string{"event": "started", "numwant": "-1", "compact": "0", "ip": "::1"}))
	f.Add("info_hash=%41%42&info_hash=&&=&port=99999999999999999999&left=-0")
	f.Add("info_hash=" + strings.Repeat("%", 30) + "&peer_id=+++++++++++++++++++++")
	f.Fuzz(func(t *testing.T, q string) {
		var out announceQuery
		err := parseAnnounceQuery([]byte(q), &out)
		if err == nil {
			if out.port == 0 && !strings.Contains(q, "port=") {
				t.Errorf("accepted a query without port: %q", q)
			}
			return
		}
		if _, ok := err.(ClientError); !ok {
			t.Errorf("parse error %T %v is not a ClientError", err, err)
		}
		if len(err.Error()) > 200 {
			t.Errorf("error message of %d bytes echoes too much input", len(err.Error()))
		}
	})
}

// FuzzParseScrapeQuery checks the streaming scrape scanner, fed in up to three pieces cut
// anywhere, against the one-piece reference parser: same hashes, same error.
func FuzzParseScrapeQuery(f *testing.F) {
	h := testHash(2)
	f.Add("info_hash="+string(h[:])+"&info_hash="+string(h[:]), uint16(3), uint16(12))
	f.Add("info_hash=%00%01&x=y&info_hash", uint16(11), uint16(13))
	f.Add("info_hash=%4"+strings.Repeat("a", 18)+"%41&info_hash=", uint16(12), uint16(31))
	f.Fuzz(func(t *testing.T, q string, cut1, cut2 uint16) {
		hashes, err := parseScrapeQuery([]byte(q), nil, 7)
		if len(hashes) > 7 {
			t.Errorf("%d hashes kept, cap 7", len(hashes))
		}
		if err != nil {
			if _, ok := err.(ClientError); !ok {
				t.Errorf("error %T is not a ClientError", err)
			}
		}
		checkScannerMatchesWhole(t, []byte(q), 7, int(cut1), int(cut2))
	})
}

func FuzzParseRequestHead(f *testing.F) {
	f.Add("GET /announce?info_hash=x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	f.Add("GET /pk/scrape HTTP/1.0\nX-Forwarded-For: 1.2.3.4, ::1\nX-Forwarded-For: 5.6.7.8\n\n")
	f.Add("\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
	f.Add("GET  HTTP/1.1\r\n:\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		b := []byte(raw)
		b = b[skipLeadingNewlines(b):]
		n := findHeadEnd(b)
		if n < 0 {
			return
		}
		if n > len(b) {
			t.Fatalf("head end %d beyond %d bytes", n, len(b))
		}
		var h requestHead
		if err := parseHead(b[:n], &h); err != nil {
			if _, ok := err.(ClientError); !ok {
				t.Errorf("error %T is not a ClientError", err)
			}
			return
		}
		if len(h.path) == 0 || h.path[0] != '/' {
			t.Errorf("accepted path %q", h.path)
		}
		routePath(h.path)
		if h.forwardedFor != nil {
			forwardedClient(h.forwardedFor, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		}
	})
}

// FuzzUDPPacket feeds packets to the UDP front end's handler: no panic, no reply to a packet
// shorter than a header, and no reply larger than UDPMaxReplyFactor × the packet. fixID
// swaps in a valid connection ID so the fuzzer reaches announce and scrape.
func FuzzUDPPacket(f *testing.F) {
	h := testHash(3)
	f.Add(buildUDPAnnounce(0, udpAnnounceArgs{hash: h, port: 1, numWant: -1}), true)
	f.Add(buildUDPAnnounce(0, udpAnnounceArgs{hash: h, port: 2, numWant: 1000, options: []byte{2, 9, '/', 'a', 'n', 'n', 'o', 'u', 'n', 'c', 'e', 1, 0}}), true)
	f.Add(append(binary.BigEndian.AppendUint64(nil, udpProtocolID), 0, 0, 0, 0, 1, 2, 3, 4), false)
	f.Add(append(append(make([]byte, 8), 0, 0, 0, 2, 0, 0, 0, 1), bytes.Repeat(h[:], 80)...), true)
	f.Add([]byte{1, 2, 3}, false)
	cfg := DefaultConfig()
	st := &stats{}
	acc, _ := newAccess("", "")
	mem := memory.New(store.Limits{})
	// A few peers, so announces have something to return.
	for i := range 300 {
		a := store.Announce{InfoHash: h, Peer: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 1000), NumWant: 0}
		mem.Announce(context.Background(), a, nil)
	}
	l := &logic{store: mem, access: acc, limits: limits{50, 200, 100}, interval: time.Minute, minInterval: time.Minute}
	u := &udpFront{cfg: &cfg, logic: l, stats: st, log: cfg.logger(), key: connIDKey{1}}
	r := &udpReader{mac: newConnIDMAC(u.key, time.Minute)}
	src := netip.MustParseAddrPort("127.0.0.1:5000")
	f.Fuzz(func(t *testing.T, p []byte, fixID bool) {
		now := time.Now()
		if fixID && len(p) >= 8 {
			binary.BigEndian.PutUint64(p, r.mac.issue(src.Addr(), now))
		}
		reply := u.handle(context.Background(), r, p, src, now, r.out[:0])
		if len(p) < udpHeaderLen && len(reply) > 0 {
			t.Fatalf("replied %d bytes to a %d-byte packet", len(reply), len(p))
		}
		if len(reply) > cfg.UDPMaxReplyFactor*len(p) {
			t.Fatalf("reply of %d bytes to a %d-byte packet", len(reply), len(p))
		}
	})
}

// FuzzAnnounceReply checks the bencoded replies decode, whatever the peers.
func FuzzAnnounceReply(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1, 0, 80}, true, 3, 4)
	f.Add(bytes.Repeat([]byte{0xff}, 36), false, 0, 1<<30)
	f.Fuzz(func(t *testing.T, raw []byte, is4 bool, complete, incomplete int) {
		size := compactPeerSize(is4)
		var peers []netip.AddrPort
		for len(raw) >= size {
			a, _ := netip.AddrFromSlice(raw[:size-2])
			peers = append(peers, netip.AddrPortFrom(a, binary.BigEndian.Uint16(raw[size-2:size])))
			raw = raw[size:]
		}
		r := AnnounceResponse{Interval: time.Hour, MinInterval: time.Minute, Complete: complete, Incomplete: incomplete, Peers: peers}
		for _, compact := range []bool{true, false} {
			var m map[string]any
			if err := bencode.Unmarshal(appendAnnounceReply(nil, &r, is4, compact), &m); err != nil {
				t.Fatalf("reply does not decode: %v", err)
			}
			if _, bad := m["failure reason"]; bad {
				t.Fatal("success reply has a failure reason")
			}
		}
	})
}
