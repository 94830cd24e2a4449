package tracker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestHTTPHostileAnnounces(t *testing.T) {
	srv := startServer(t, nil)
	h := testHash(1)
	long := string(h[:]) + "x"
	tests := []struct {
		name      string
		query     string
		wantError string // substring of the failure reason
	}{
		{"missing info_hash", announceQueryString(h, 6881, map[string]string{"info_hash": ""}), "missing info_hash"},
		{"short info_hash", announceQueryString(h, 6881, map[string]string{"info_hash": "abc"}), "info_hash is 3 bytes"},
		{"long info_hash", announceQueryString(h, 6881, map[string]string{"info_hash": long}), "longer than 20"},
		{"repeated info_hash", announceQueryString(h, 6881, nil) + "&info_hash=" + url.QueryEscape(string(h[:])), "more than once"},
		{"bad escape", "info_hash=%zz" + strings.Repeat("a", 19) + "&peer_id=" + peerID(1) + "&port=1&left=0", "bad %-escape"},
		{"short peer_id", announceQueryString(h, 6881, map[string]string{"peer_id": "short"}), "peer_id is 5 bytes"},
		{"long peer_id", announceQueryString(h, 6881, map[string]string{"peer_id": strings.Repeat("p", 21)}), "peer_id is longer"},
		{"missing peer_id", announceQueryString(h, 6881, map[string]string{"peer_id": ""}), "missing peer_id"},
		{"port 0", announceQueryString(h, 0, nil), "port 0"},
		{"port 65536", announceQueryString(h, 6881, map[string]string{"port": "65536"}), "out of range"},
		{"port abc", announceQueryString(h, 6881, map[string]string{"port": "abc"}), "port is not a number"},
		{"port missing", announceQueryString(h, 6881, map[string]string{"port": ""}), "missing port"},
		{"numwant abc", announceQueryString(h, 6881, map[string]string{"numwant": "abc"}), "numwant is not a number"},
		{"unknown event", announceQueryString(h, 6881, map[string]string{"event": "exploded"}), `unknown event "exploded"`},
		{"negative left", announceQueryString(h, 6881, map[string]string{"left": "-1"}), "left is negative"},
		{"left overflow", announceQueryString(h, 6881, map[string]string{"left": "99999999999999999999999"}), "left is too large"},
		{"missing left", announceQueryString(h, 6881, map[string]string{"left": ""}), "missing left"},
		{"huge query", announceQueryString(h, 6881, nil) + "&pad=" + strings.Repeat("a", 9000), "query too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := httpGet(t, srv.HTTPAddr(), "/announce?"+tc.query)
			if status != 200 {
				t.Errorf("status %d, want 200", status)
			}
			m := decode(t, body)
			reason, _ := m["failure reason"].(string)
			if !strings.Contains(reason, tc.wantError) {
				t.Errorf("failure reason %q, want it to contain %q", reason, tc.wantError)
			}
			if len(m) != 1 {
				t.Errorf("failure reply has keys besides failure reason: %v", m)
			}
		})
	}
	// None of them changed the store.
	st, err := srv.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Torrents != 0 || st.Seeders+st.Leechers != 0 {
		t.Errorf("bad requests changed the store: %+v", st)
	}
}

func TestHTTPNumWantClamped(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.MaxNumWant = 5; c.DefaultNumWant = 3 })
	h := testHash(2)
	for port := 1000; port < 1020; port++ {
		httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, port, nil))
	}
	for _, tc := range []struct {
		numwant string
		want    int
	}{{"99999999999999999999", 5}, {"-5", 3}, {"", 3}, {"2", 2}, {"0", 0}} {
		_, body := httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 2000, map[string]string{"numwant": tc.numwant}))
		m := decode(t, body)
		peers, _ := m["peers"].(string)
		if len(peers) != 6*tc.want {
			t.Errorf("numwant %q: got %d bytes of peers, want %d peers", tc.numwant, len(peers), tc.want)
		}
	}
}

func TestHTTPAnnounceReply(t *testing.T) {
	srv := startServer(t, nil)
	h := testHash(3)
	_, body := httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 1111, map[string]string{"left": "0"}))
	m := decode(t, body)
	if _, bad := m["failure reason"]; bad {
		t.Fatalf("successful announce has a failure reason: %q", body)
	}
	for _, key := range []string{"interval", "min interval", "complete", "incomplete", "peers"} {
		if _, ok := m[key]; !ok {
			t.Errorf("reply lacks %q: %q", key, body)
		}
	}
	if m["interval"] != int64(1800) || m["min interval"] != int64(300) || m["complete"] != int64(1) {
		t.Errorf("reply %v, want interval 1800, min interval 300, complete 1", m)
	}
	if p, _ := m["peers"].(string); p != "" {
		t.Errorf("only peer got peers %q (itself?)", p)
	}

	// A second peer gets the first, compact.
	_, body = httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 2222, nil))
	m = decode(t, body)
	if p := m["peers"].(string); p != "\x7f\x00\x00\x01\x04\x57" {
		t.Errorf("compact peers %q, want 127.0.0.1:1111", p)
	}
	if m["complete"] != int64(1) || m["incomplete"] != int64(1) {
		t.Errorf("counts %v", m)
	}
	// Non-compact: a list of dictionaries.
	_, body = httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 3333, map[string]string{"compact": "0"}))
	m = decode(t, body)
	list, ok := m["peers"].([]any)
	if !ok || len(list) != 2 {
		t.Fatalf("non-compact peers %#v, want a list of 2", m["peers"])
	}
	for _, e := range list {
		d := e.(map[string]any)
		if d["ip"] != "127.0.0.1" || (d["port"] != int64(1111) && d["port"] != int64(2222)) {
			t.Errorf("non-compact peer %v", d)
		}
	}
	// Stopped removes.
	httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 1111, map[string]string{"event": "stopped", "left": "0"}))
	_, body = httpGet(t, srv.HTTPAddr(), "/scrape?info_hash="+url.QueryEscape(string(h[:])))
	files := decode(t, body)["files"].(map[string]any)
	counts := files[string(h[:])].(map[string]any)
	if counts["complete"] != int64(0) || counts["incomplete"] != int64(2) {
		t.Errorf("scrape after the seeder stopped: %v", counts)
	}
}

func TestHTTPPeers6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	srv := startServer(t, func(c *Config) { c.HTTPAddr = "[::1]:0" })
	h := testHash(4)
	httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 1111, nil))
	_, body := httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 2222, nil))
	m := decode(t, body)
	p6, _ := m["peers6"].(string)
	want := string(netip.IPv6Loopback().AsSlice()) + "\x04\x57"
	if p6 != want {
		t.Errorf("peers6 %q, want [::1]:1111", p6)
	}
	if p, _ := m["peers"].(string); p != "" {
		t.Errorf("IPv6 requester got IPv4 peers %q", p)
	}
}

func TestHTTPScrape(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.MaxScrapeHashes = 20 })
	h := testHash(5)
	httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 1111, nil))
	esc := url.QueryEscape(string(h[:]))
	other := testHash(6)

	// Repeated and unknown hashes: each once, in a valid (sorted) dictionary.
	_, body := httpGet(t, srv.HTTPAddr(), "/scrape?info_hash="+esc+"&info_hash="+url.QueryEscape(string(other[:]))+"&info_hash="+esc)
	files := decode(t, body)["files"].(map[string]any)
	if len(files) != 2 || files[string(h[:])].(map[string]any)["incomplete"] != int64(1) {
		t.Errorf("scrape files %v", files)
	}
	if c := files[string(other[:])].(map[string]any); c["complete"] != int64(0) || c["downloaded"] != int64(0) {
		t.Errorf("unknown torrent scraped as %v, want zeros", c)
	}

	// 50 hashes: truncated to 20.
	var q []string
	for i := range 50 {
		x := testHash(1000 + i)
		q = append(q, "info_hash="+url.QueryEscape(string(x[:])))
	}
	_, body = httpGet(t, srv.HTTPAddr(), "/scrape?"+strings.Join(q, "&"))
	if n := len(decode(t, body)["files"].(map[string]any)); n != 20 {
		t.Errorf("50-hash scrape answered %d hashes, want 20", n)
	}

	// 10,000 hashes: far beyond the request buffer, streamed, truncated to 20.
	q = q[:0]
	for i := range 10_000 {
		x := testHash(i)
		q = append(q, "info_hash="+url.QueryEscape(string(x[:])))
	}
	c, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go io.WriteString(c, "GET /scrape?"+strings.Join(q, "&")+" HTTP/1.1\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, body, err = readResponse(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(decode(t, body)["files"].(map[string]any)); n != 20 {
		t.Errorf("10,000-hash scrape answered %d hashes, want 20", n)
	}

	// No info_hash: full scrapes are not served.
	_, body = httpGet(t, srv.HTTPAddr(), "/scrape")
	if r := decode(t, body)["failure reason"]; !strings.Contains(fmt.Sprint(r), "at least one info_hash") {
		t.Errorf("full scrape: %q", body)
	}
}

func TestHTTPOneMegabyteQuery(t *testing.T) {
	srv := startServer(t, nil)
	c, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go io.WriteString(c, "GET /announce?x="+strings.Repeat("a", 1<<20)+" HTTP/1.1\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, body, err := readResponse(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	if status != 200 || !strings.Contains(fmt.Sprint(decode(t, body)["failure reason"]), "request too large") {
		t.Errorf("1 MB query: status %d body %q", status, body)
	}
	// And the server closed the connection.
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("connection still open after a too-large request")
	}
}

func TestHTTPSlowlorisCutOff(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.HTTPReadTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	// One byte every 100 ms: never a whole request within the read timeout.
	go func() {
		for _, b := range []byte("GET /announce?info_hash=aaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n") {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	expectCutOff(t, c, start, "slow client")
}

// expectCutOff checks that the server closes c, which started sending at
// start, within about its 300 ms read timeout and without a reply.
func expectCutOff(t *testing.T, c net.Conn, start time.Time, what string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	if err == nil {
		t.Fatalf("%s got a reply", what)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("server did not cut the %s off within 5 s", what)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("%s cut off after %v, want about the 300 ms read timeout", what, d)
	}
}

func TestHTTPKeepAliveAndPipelining(t *testing.T) {
	srv := startServer(t, nil)
	c, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var reqs bytes.Buffer
	for i := range 5 {
		fmt.Fprintf(&reqs, "GET /announce?%s HTTP/1.1\r\nHost: x\r\n\r\n", announceQueryString(testHash(7), 1000+i, nil))
	}
	if _, err := c.Write(reqs.Bytes()); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for i := range 5 {
		status, body, err := readResponse(r)
		if err != nil {
			t.Fatalf("pipelined reply %d: %v", i, err)
		}
		if m := decode(t, body); status != 200 || m["incomplete"] != int64(i+1) {
			t.Errorf("pipelined reply %d: %d %v", i, status, m)
		}
	}
	// The same connection serves again after the burst, then HTTP/1.0 without keep-alive closes.
	fmt.Fprintf(c, "GET /announce?%s HTTP/1.0\r\n\r\n", announceQueryString(testHash(7), 2000, nil))
	if status, _, err := readResponse(r); err != nil || status != 200 {
		t.Fatalf("HTTP/1.0 request: %d %v", status, err)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Errorf("HTTP/1.0 without keep-alive: connection left open (%v)", err)
	}
}

func TestHTTPUnknownPathAndMethod(t *testing.T) {
	srv := startServer(t, nil)
	status, body := httpGet(t, srv.HTTPAddr(), "/nope")
	if status != 404 || decode(t, body)["failure reason"] == nil {
		t.Errorf("/nope: %d %q", status, body)
	}
	c, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /announce HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, body, err = readResponse(bufio.NewReader(c))
	if err != nil || status != 405 || decode(t, body)["failure reason"] == nil {
		t.Errorf("POST: %d %q %v", status, body, err)
	}
	c2, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "GARBAGE\r\n\r\n")
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, body, err = readResponse(bufio.NewReader(c2))
	if err != nil || !strings.Contains(fmt.Sprint(decode(t, body)["failure reason"]), "malformed") {
		t.Errorf("garbage request: %q %v", body, err)
	}
}

func TestHTTPAccessControl(t *testing.T) {
	dir := t.TempDir()
	allowFile := filepath.Join(dir, "allow")
	passFile := filepath.Join(dir, "passkeys")
	allowed := testHash(8)
	os.WriteFile(allowFile, []byte("# torrents\n"+allowed.String()+"\n"), 0o644)
	os.WriteFile(passFile, []byte("sesame\n"), 0o644)
	srv := startServer(t, func(c *Config) { c.AllowFile = allowFile; c.PasskeyFile = passFile })
	reason := func(target string) string {
		_, body := httpGet(t, srv.HTTPAddr(), target)
		r, _ := decode(t, body)["failure reason"].(string)
		return r
	}
	if r := reason("/sesame/announce?" + announceQueryString(allowed, 1111, nil)); r != "" {
		t.Errorf("allowed torrent with passkey: %q", r)
	}
	if r := reason("/announce?" + announceQueryString(allowed, 1111, nil)); !strings.Contains(r, "private") {
		t.Errorf("no passkey: %q", r)
	}
	if r := reason("/wrong/announce?" + announceQueryString(allowed, 1111, nil)); r != "unknown passkey" {
		t.Errorf("wrong passkey: %q", r)
	}
	other := testHash(9)
	if r := reason("/sesame/announce?" + announceQueryString(other, 1111, nil)); !strings.Contains(r, "not tracked") {
		t.Errorf("torrent not on the allow list: %q", r)
	}
	// Reload picks up a new list (the command calls Reload on SIGHUP).
	os.WriteFile(allowFile, []byte(other.String()+"\n"), 0o644)
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := reason("/sesame/announce?" + announceQueryString(other, 1111, nil)); r != "" {
		t.Errorf("after reload: %q", r)
	}
	// A broken file keeps the lists in force.
	os.WriteFile(allowFile, []byte("not-a-hash\n"), 0o644)
	if err := srv.Reload(); err == nil {
		t.Errorf("reload of a broken allow file succeeded")
	}
	if r := reason("/sesame/scrape?info_hash=" + url.QueryEscape(string(other[:]))); r != "" {
		t.Errorf("scrape after a failed reload: %q", r)
	}
}

func TestHTTPClientAddress(t *testing.T) {
	srv := startServer(t, func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.TrustIPParam = false
	})
	h := testHash(10)
	// Behind a trusted proxy the rightmost untrusted X-Forwarded-For entry counts.
	httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 1111, nil), "X-Forwarded-For: 6.6.6.6, 203.0.113.5, 127.0.0.9")
	// ip= is ignored without --trust-ip-param.
	httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 2222, map[string]string{"ip": "198.51.100.7"}))
	_, body := httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 3333, map[string]string{"compact": "0"}))
	got := map[string]bool{}
	for _, e := range decode(t, body)["peers"].([]any) {
		d := e.(map[string]any)
		got[fmt.Sprintf("%v:%v", d["ip"], d["port"])] = true
	}
	want := map[string]bool{"203.0.113.5:1111": true, "127.0.0.1:2222": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("peers %v, want %v", got, want)
	}

	trusting := startServer(t, func(c *Config) { c.TrustIPParam = true })
	httpGet(t, trusting.HTTPAddr(), "/announce?"+announceQueryString(h, 1111, map[string]string{"ip": "198.51.100.7"}))
	_, body = httpGet(t, trusting.HTTPAddr(), "/announce?"+announceQueryString(h, 2222, nil), "X-Forwarded-For: 6.6.6.6")
	if p := decode(t, body)["peers"].(string); p != "\xc6\x33\x64\x07\x04\x57" {
		t.Errorf("with --trust-ip-param: peers %q, want 198.51.100.7:1111", p)
	}
	st, _ := trusting.Stats(context.Background())
	if st.Leechers != 2 {
		t.Errorf("untrusted X-Forwarded-For changed something: %+v", st)
	}
}

func TestHTTPTooManyTorrents(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.MaxTorrents = 1 })
	httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(testHash(11), 1111, nil))
	_, body := httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(testHash(12), 1111, nil))
	if r := fmt.Sprint(decode(t, body)["failure reason"]); !strings.Contains(r, "too many torrents") {
		t.Errorf("second torrent over the cap: %q", r)
	}
}
