package tracker

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"shoal/tracker/store"
)

// udpClient speaks BEP 15 to a test server.
type udpClient struct {
	t    testing.TB
	conn *net.UDPConn
	id   uint64
}

func dialUDP(t testing.TB, srv *Server) *udpClient {
	t.Helper()
	raddr := srv.UDPAddr().(*net.UDPAddr)
	c, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{t: t, conn: c}
}

// roundTrip sends p and returns the reply, or nil after a short wait for none.
func (c *udpClient) roundTrip(p []byte, wait time.Duration) []byte {
	c.t.Helper()
	if _, err := c.conn.Write(p); err != nil {
		c.t.Fatal(err)
	}
	c.conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65536)
	n, err := c.conn.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return buf[:n]
}

func (c *udpClient) connect() {
	c.t.Helper()
	p := binary.BigEndian.AppendUint64(nil, udpProtocolID)
	p = binary.BigEndian.AppendUint32(p, actionConnect)
	p = binary.BigEndian.AppendUint32(p, 0xC0FFEE)
	r := c.roundTrip(p, 5*time.Second)
	if len(r) != 16 || binary.BigEndian.Uint32(r[0:4]) != actionConnect || binary.BigEndian.Uint32(r[4:8]) != 0xC0FFEE {
		c.t.Fatalf("connect reply %x", r)
	}
	c.id = binary.BigEndian.Uint64(r[8:16])
}

type udpAnnounceArgs struct {
	hash    store.InfoHash
	left    uint64
	event   uint32
	numWant int32
	port    uint16
	ip      [4]byte
	options []byte
}

func buildUDPAnnounce(connID uint64, a udpAnnounceArgs) []byte {
	p := binary.BigEndian.AppendUint64(nil, connID)
	p = binary.BigEndian.AppendUint32(p, actionAnnounce)
	p = binary.BigEndian.AppendUint32(p, 7)
	p = append(p, a.hash[:]...)
	p = append(p, peerID(int(a.port))...)
	p = binary.BigEndian.AppendUint64(p, 0)
	p = binary.BigEndian.AppendUint64(p, a.left)
	p = binary.BigEndian.AppendUint64(p, 0)
	p = binary.BigEndian.AppendUint32(p, a.event)
	p = append(p, a.ip[:]...)
	p = binary.BigEndian.AppendUint32(p, 0)
	p = binary.BigEndian.AppendUint32(p, uint32(a.numWant))
	p = binary.BigEndian.AppendUint16(p, a.port)
	return append(p, a.options...)
}

func (c *udpClient) announce(a udpAnnounceArgs) []byte {
	c.t.Helper()
	return c.roundTrip(buildUDPAnnounce(c.id, a), 5*time.Second)
}

func udpErrorText(t testing.TB, r []byte) string {
	t.Helper()
	if len(r) < 8 || binary.BigEndian.Uint32(r[0:4]) != actionError {
		t.Fatalf("reply %x is not an error", r)
	}
	return string(r[8:])
}

func TestUDPAnnounceAndScrape(t *testing.T) {
	srv := startServer(t, nil)
	c := dialUDP(t, srv)
	c.connect()
	h := testHash(20)
	r := c.announce(udpAnnounceArgs{hash: h, left: 0, numWant: -1, port: 1111, event: uint32(store.EventStarted)})
	if len(r) != 20 || binary.BigEndian.Uint32(r[0:4]) != actionAnnounce {
		t.Fatalf("first announce reply %x", r)
	}
	if interval, leechers, seeders := binary.BigEndian.Uint32(r[8:12]), binary.BigEndian.Uint32(r[12:16]), binary.BigEndian.Uint32(r[16:20]); interval != 1800 || leechers != 0 || seeders != 1 {
		t.Errorf("interval %d leechers %d seeders %d", interval, leechers, seeders)
	}
	r = c.announce(udpAnnounceArgs{hash: h, left: 5, numWant: 50, port: 2222})
	if len(r) != 26 || string(r[20:]) != "\x7f\x00\x00\x01\x04\x57" {
		t.Errorf("second peer got %x, want 127.0.0.1:1111", r[20:])
	}
	// Scrape: two hashes, in order, duplicates kept (UDP answers by position).
	p := binary.BigEndian.AppendUint64(nil, c.id)
	p = binary.BigEndian.AppendUint32(p, actionScrape)
	p = binary.BigEndian.AppendUint32(p, 9)
	other := testHash(21)
	p = append(append(append(p, other[:]...), h[:]...), h[:]...)
	r = c.roundTrip(p, 5*time.Second)
	if len(r) != 8+3*12 || binary.BigEndian.Uint32(r[0:4]) != actionScrape {
		t.Fatalf("scrape reply %x", r)
	}
	if got := r[8+12 : 8+24]; binary.BigEndian.Uint32(got[0:4]) != 1 || binary.BigEndian.Uint32(got[8:12]) != 1 {
		t.Errorf("scrape of %v: seeders %d leechers %d", h, binary.BigEndian.Uint32(got[0:4]), binary.BigEndian.Uint32(got[8:12]))
	}
	// Stopped removes.
	c.announce(udpAnnounceArgs{hash: h, left: 0, port: 1111, event: uint32(store.EventStopped)})
	r = c.announce(udpAnnounceArgs{hash: h, left: 5, numWant: 50, port: 3333})
	if len(r) != 26 || string(r[20:]) != "\x7f\x00\x00\x01\x08\xae" {
		t.Errorf("after stop got %x, want only 127.0.0.1:2222", r[20:])
	}
}

func TestUDPHostilePackets(t *testing.T) {
	srv := startServer(t, nil)
	c := dialUDP(t, srv)
	c.connect()
	h := testHash(22)
	tests := []struct {
		name   string
		packet []byte
		want   string // error text substring; "" means no reply at all
	}{
		{"short packet", []byte("hello"), ""},
		{"connect without magic", append(binary.BigEndian.AppendUint64(nil, 42), make([]byte, 8)...), ""},
		{"bad connection ID", buildUDPAnnounce(c.id^1, udpAnnounceArgs{hash: h, port: 1}), "connection ID"},
		{"short announce", buildUDPAnnounce(c.id, udpAnnounceArgs{hash: h, port: 1})[:60], "announce packet is 60 bytes"},
		{"port 0", buildUDPAnnounce(c.id, udpAnnounceArgs{hash: h, port: 0}), "port 0"},
		{"unknown event", buildUDPAnnounce(c.id, udpAnnounceArgs{hash: h, port: 1, event: 9}), "unknown event 9"},
		{"negative left", buildUDPAnnounce(c.id, udpAnnounceArgs{hash: h, port: 1, left: 1 << 63}), "left is negative"},
		{"unknown action", append(binary.BigEndian.AppendUint64(nil, c.id), 0, 0, 0, 9, 0, 0, 0, 1), "unknown action 9"},
		{"empty scrape", append(binary.BigEndian.AppendUint64(nil, c.id), 0, 0, 0, 2, 0, 0, 0, 1), "no infohash"},
		{"cut-off BEP 41 option", buildUDPAnnounce(c.id, udpAnnounceArgs{hash: h, port: 1, options: []byte{2, 50, '/'}}), "cut off"},
		{"BEP 41 scrape path", buildUDPAnnounce(c.id, udpAnnounceArgs{hash: h, port: 1, options: append([]byte{2, 7}, "/scrape"...)}), "not an announce path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wait := 5 * time.Second
			if tc.want == "" {
				wait = 200 * time.Millisecond
			}
			r := c.roundTrip(tc.packet, wait)
			if tc.want == "" {
				if r != nil {
					t.Errorf("got reply %x, want none", r)
				}
				return
			}
			if msg := udpErrorText(t, r); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want it to contain %q", msg, tc.want)
			}
			if len(r) > DefaultConfig().UDPMaxReplyFactor*len(tc.packet) {
				t.Errorf("reply of %d bytes to a %d-byte packet", len(r), len(tc.packet))
			}
		})
	}
	if st, _ := srv.Stats(t.Context()); st.Torrents != 0 {
		t.Errorf("hostile packets created torrents: %+v", st)
	}
}

func TestUDPNoAmplification(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.MaxNumWant = 200 })
	c := dialUDP(t, srv)
	c.connect()
	h := testHash(23)
	for port := 1; port <= 300; port++ {
		c.announce(udpAnnounceArgs{hash: h, port: uint16(port), numWant: 0, left: 1})
	}
	req := buildUDPAnnounce(c.id, udpAnnounceArgs{hash: h, port: 9999, numWant: 200, left: 1})
	r := c.announce(udpAnnounceArgs{hash: h, port: 9999, numWant: 200, left: 1})
	limit := DefaultConfig().UDPMaxReplyFactor * len(req)
	if len(r) > limit {
		t.Errorf("reply %d bytes for a %d-byte request, limit %d", len(r), len(req), limit)
	}
	if want := 20 + 6*((limit-20)/6); len(r) != want {
		t.Errorf("reply %d bytes, want it filled to %d", len(r), want)
	}
	// A connect is answered with exactly its own size.
	p := binary.BigEndian.AppendUint64(nil, udpProtocolID)
	p = binary.BigEndian.AppendUint32(p, actionConnect)
	p = binary.BigEndian.AppendUint32(p, 1)
	if r := c.roundTrip(p, 5*time.Second); len(r) != len(p) {
		t.Errorf("connect reply %d bytes for %d", len(r), len(p))
	}
}

func TestUDPPasskeyViaBEP41(t *testing.T) {
	passFile := filepath.Join(t.TempDir(), "passkeys")
	os.WriteFile(passFile, []byte("sesame\n"), 0o644)
	srv := startServer(t, func(c *Config) { c.PasskeyFile = passFile })
	c := dialUDP(t, srv)
	c.connect()
	h := testHash(24)
	path := "/sesame/announce"
	// The URL data may be split across options.
	opts := append([]byte{2, 4}, path[:4]...)
	opts = append(opts, 1)
	opts = append(append(opts, 2, byte(len(path)-4)), path[4:]...)
	opts = append(opts, 0)
	if r := c.announce(udpAnnounceArgs{hash: h, port: 1, options: opts}); binary.BigEndian.Uint32(r[0:4]) != actionAnnounce {
		t.Errorf("announce with passkey path: %q", r)
	}
	if msg := udpErrorText(t, c.announce(udpAnnounceArgs{hash: h, port: 1})); !strings.Contains(msg, "private") {
		t.Errorf("announce without a path: %q", msg)
	}
}

func TestConnectionIDLifetime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newConnIDMAC(newConnIDKey(), 2*time.Minute)
		client := netip.MustParseAddr("192.0.2.1")
		id := m.issue(client, time.Now())
		if !m.valid(id, client, time.Now()) {
			t.Fatal("fresh ID refused")
		}
		if !m.valid(id, netip.MustParseAddr("::ffff:192.0.2.1"), time.Now()) {
			t.Error("ID refused for the IPv4-mapped form of the same address")
		}
		if m.valid(id, netip.MustParseAddr("192.0.2.2"), time.Now()) {
			t.Error("ID accepted from another address")
		}
		if m.valid(id^1, client, time.Now()) {
			t.Error("altered ID accepted")
		}
		time.Sleep(2*time.Minute - time.Second)
		if !m.valid(id, client, time.Now()) {
			t.Error("ID refused before two minutes")
		}
		time.Sleep(2 * time.Second)
		if m.valid(id, client, time.Now()) {
			t.Error("ID accepted after two minutes")
		}
		other := newConnIDMAC(newConnIDKey(), 2*time.Minute)
		if other.valid(m.issue(client, time.Now()), client, time.Now()) {
			t.Error("ID issued under another key accepted") // 1 in 2^32 chance of a false alarm
		}
	})
}

// TestUDPDualStack: one socket on the IPv6 wildcard serves IPv4 (as mapped addresses) and IPv6
// clients, each getting peers of its own family in its own compact format.
func TestUDPDualStack(t *testing.T) {
	if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6loopback}); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		c.Close()
	}
	srv := startServer(t, func(c *Config) { c.UDPAddr = "[::]:0" })
	port := srv.UDPAddr().(*net.UDPAddr).Port
	h := testHash(25)
	clients := map[string]*udpClient{}
	for _, host := range []string{"127.0.0.1", "::1"} {
		conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.ParseIP(host), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := &udpClient{t: t, conn: conn}
		c.connect()
		c.announce(udpAnnounceArgs{hash: h, port: 1111, left: 1})
		clients[host] = c
	}
	if r := clients["127.0.0.1"].announce(udpAnnounceArgs{hash: h, port: 2222, left: 1, numWant: 50}); len(r) != 20+6 || string(r[20:]) != "\x7f\x00\x00\x01\x04\x57" {
		t.Errorf("IPv4 client got %x, want 127.0.0.1:1111 only", r[20:])
	}
	want := string(net.IPv6loopback) + "\x04\x57"
	if r := clients["::1"].announce(udpAnnounceArgs{hash: h, port: 2222, left: 1, numWant: 50}); len(r) != 20+18 || string(r[20:]) != want {
		t.Errorf("IPv6 client got %x, want [::1]:1111 only", r[20:])
	}
}
