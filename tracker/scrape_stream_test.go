package tracker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"shoal/tracker/store"
)

// parseScrapeQueryWhole is the one-piece scrape query parser the scanner replaced, kept as the
// reference the scanner is checked against.
func parseScrapeQueryWhole(q []byte, hashes []store.InfoHash, max int) ([]store.InfoHash, error) {
	for len(q) > 0 {
		var param []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			param, q = q[:i], q[i+1:]
		} else {
			param, q = q, nil
		}
		key, value, _ := bytes.Cut(param, []byte{'='})
		if string(key) != "info_hash" {
			continue
		}
		var h store.InfoHash
		if err := unescape20(value, (*[20]byte)(&h), "info_hash"); err != nil {
			return hashes, err
		}
		if len(hashes) < max {
			hashes = append(hashes, h)
		}
	}
	return hashes, nil
}

// checkScannerMatchesWhole feeds q to a scrapeScanner in pieces cut at the given points and
// compares the outcome with the one-piece parser's.
func checkScannerMatchesWhole(t *testing.T, q []byte, max int, cuts ...int) {
	t.Helper()
	want, wantErr := parseScrapeQueryWhole(q, nil, max)
	var s scrapeScanner
	s.reset(nil, max)
	prev := 0
	for _, c := range cuts {
		c = min(max0(c), len(q))
		if c < prev {
			continue
		}
		s.feed(q[prev:c])
		prev = c
	}
	s.feed(q[prev:])
	got, gotErr := s.finish()
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("query %q cut at %v: error %v, want %v", q, cuts, gotErr, wantErr)
	}
	if wantErr == nil && fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("query %q cut at %v: hashes %x, want %x", q, cuts, got, want)
	}
	if gotErr != nil {
		if _, ok := gotErr.(ClientError); !ok {
			t.Fatalf("error %T is not a ClientError", gotErr)
		}
	}
}

func max0(c int) int { return max(c, 0) }

func TestScrapeScannerMatchesWhole(t *testing.T) {
	h := testHash(1)
	esc := url.QueryEscape(string(h[:]))
	queries := []string{
		"", "&", "&&", "=", "info_hash", "info_hash=", "info_hash&", "info_hash=&info_hash=" + esc,
		"info_hash=" + esc, "info_hash=" + esc + "&info_hash=" + esc + "&x=1",
		"info_hashx=" + esc, "info_has=1&info_hash=" + esc, "xinfo_hash=abc",
		"info_hash=" + esc + "%", "info_hash=" + esc + "%4", "info_hash=" + esc + "%41", "info_hash=" + esc + "a",
		"info_hash=%zz", "info_hash=%z", "info_hash=%", "info_hash=%4&", "info_hash=a+b",
		"info_hash=" + strings.Repeat("+", 20), "info_hash=" + strings.Repeat("a", 19) + "%zz",
		"info_hash=" + strings.Repeat("=", 20) + "&info_hash=" + esc,
		"info_hash=" + esc + "&info_hash=short&info_hash=" + esc,
	}
	for _, q := range queries {
		for max := range 3 {
			for c1 := 0; c1 <= len(q); c1++ {
				checkScannerMatchesWhole(t, []byte(q), max, c1)
				checkScannerMatchesWhole(t, []byte(q), max, c1, c1+1, c1+3)
			}
		}
	}
}

// fakeConn is a net.Conn that serves a fixed input in pieces of chunk bytes and records what
// the server writes: serveConn without a network.
type fakeConn struct {
	in    []byte
	chunk int
	out   bytes.Buffer
}

func (c *fakeConn) Read(p []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.in)
	c.in = c.in[n:]
	return n, nil
}
func (c *fakeConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *fakeConn) Close() error                { return nil }
func (c *fakeConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6969} }
func (c *fakeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// echoLogic answers without a store, deterministically: counts derived from the infohash.
type echoLogic struct{ limits limits }

func (l echoLogic) Announce(_ context.Context, req *AnnounceRequest, resp *AnnounceResponse) error {
	if err := l.limits.sanitizeAnnounce(req); err != nil {
		return err
	}
	*resp = AnnounceResponse{Interval: time.Minute, MinInterval: time.Second, Complete: int(req.InfoHash[0]), Incomplete: int(req.Addr.Port()), Peers: resp.Peers[:0]}
	return nil
}

func (l echoLogic) Scrape(_ context.Context, req *ScrapeRequest, resp *ScrapeResponse) error {
	if err := l.limits.sanitizeScrape(req); err != nil {
		return err
	}
	resp.InfoHashes = append(resp.InfoHashes[:0], req.InfoHashes...)
	resp.Counts = resp.Counts[:0]
	for _, h := range req.InfoHashes {
		resp.Counts = append(resp.Counts, store.Counts{Complete: int(h[0]), Incomplete: int(h[1]), Downloaded: int(h[2])})
	}
	return nil
}

// serveFake runs one connection's input through an HTTP front end with the given config and
// returns what it wrote.
func serveFake(cfg Config, input []byte, chunk int) []byte {
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	l := echoLogic{limits{cfg.DefaultNumWant, cfg.MaxNumWant, cfg.MaxScrapeHashes}}
	f := newHTTPFront(&cfg, l, &stats{}, nil)
	c := &fakeConn{in: input, chunk: max(chunk, 1)}
	f.wg.Add(1)
	f.open.Add(1)
	f.serveConn(context.Background(), c)
	return c.out.Bytes()
}

func manyHashScrape(n int, path string) string {
	var b strings.Builder
	b.WriteString("GET " + path + "?")
	for i := range n {
		if i > 0 {
			b.WriteByte('&')
		}
		h := testHash(i)
		b.WriteString("info_hash=" + url.QueryEscape(string(h[:])))
	}
	b.WriteString(" HTTP/1.1\r\nHost: tracker\r\n\r\n")
	return b.String()
}

// TestHTTPStreamedScrapeMemory: a 10,000-hash scrape (700 KB of request line) is answered
// without the server allocating anything near the line's size.
func TestHTTPStreamedScrapeMemory(t *testing.T) {
	req := []byte(manyHashScrape(10_000, "/scrape"))
	cfg := DefaultConfig()
	serveFake(cfg, req, 64<<10) // warm up: lazily built package state
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out := serveFake(cfg, req, 64<<10)
	runtime.ReadMemStats(&after)
	status, body, err := readResponse(bufio.NewReader(bytes.NewReader(out)))
	if err != nil || status != 200 {
		t.Fatalf("reply: %d %v %q", status, err, out)
	}
	if n := len(decode(t, body)["files"].(map[string]any)); n != cfg.MaxScrapeHashes {
		t.Errorf("%d files, want %d", n, cfg.MaxScrapeHashes)
	}
	// The connection's buffers (12 KiB in, replies), 100 hashes and the reply: well under 100 KB;
	// buffering the line would take 700 KB.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 100<<10 {
		t.Errorf("serving a %d-byte scrape allocated %d bytes", len(req), alloc)
	}
	t.Logf("request line %d bytes, allocated %d bytes", len(req), after.TotalAlloc-before.TotalAlloc)
}

// FuzzHTTPConn runs any byte stream, cut into reads of any size, through two HTTP front ends:
// one with a 512-byte request buffer (so scrapes stream) and one whose buffer holds the whole
// input. Whenever the small one does not refuse a request as too large, both must write the
// same bytes: streaming a scrape is invisible to the client. Every reply must parse.
func FuzzHTTPConn(f *testing.F) {
	h := testHash(4)
	esc := url.QueryEscape(string(h[:]))
	f.Add([]byte(manyHashScrape(12, "/scrape")), uint16(7))
	f.Add([]byte(manyHashScrape(12, "/pk/scrape")+manyHashScrape(3, "/scrape")), uint16(100))
	f.Add([]byte(manyHashScrape(20, "/scrape")+"GET /announce?"+announceQueryString(h, 1, nil)+" HTTP/1.1\r\n\r\n"), uint16(513))
	f.Add([]byte("GET /scrape?info_hash="+esc+strings.Repeat("&x=y", 200)+" HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), uint16(3))
	f.Add([]byte("GET /scrape?info_hash="+esc+strings.Repeat("&info_hash=%zz", 100)+" HTTP/1.1\r\r\n\r\n"), uint16(64))
	f.Add([]byte("GET /scrape?"+strings.Repeat("a", 600)+"\r\n\r\n"), uint16(1000))
	f.Add([]byte("GET /scrape?info_hash="+esc+strings.Repeat("&", 600)+" HTTP/1.1"+strings.Repeat("x", 50)+"\r\n\r\n"), uint16(9))
	f.Add([]byte("GET /scrape?info_hash="+esc+" HTTP/1.1\r\nX-Pad: "+strings.Repeat("p", 600)+"\r\n\r\n"), uint16(512))
	small := DefaultConfig()
	small.HTTPMaxRequestBytes = 512
	small.HTTPMaxQueryBytes = 256
	small.MaxScrapeHashes = 5
	small.HTTPMaxScrapeLineBytes = 2000
	large := small
	large.HTTPMaxRequestBytes = 1 << 16
	f.Fuzz(func(t *testing.T, input []byte, chunk uint16) {
		if len(input) > 16_000 {
			return
		}
		a := serveFake(small, input, int(chunk))
		r := bufio.NewReader(bytes.NewReader(a))
		for {
			if _, err := r.Peek(1); err != nil {
				break
			}
			_, body, err := readResponse(r)
			if err != nil {
				t.Fatalf("reply does not parse: %v\n%q", err, a)
			}
			decode(t, body)
		}
		if bytes.Contains(a, []byte("request too large")) {
			return
		}
		b := serveFake(large, input, math.MaxInt32)
		if !bytes.Equal(a, b) {
			t.Fatalf("streamed and whole replies differ:\nsmall buffer %q\nlarge buffer %q", a, b)
		}
	})
}

// hostileExchange sends raw on a new connection, reads one reply, then (if next is not empty) sends
// next on the same connection and reads its reply, reporting whether the connection was still
// usable.
func hostileExchange(t *testing.T, addr net.Addr, raw, next string) (first map[string]any, second map[string]any, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go io.WriteString(c, raw) // the server may stop reading
	r := bufio.NewReader(c)
	_, body, err := readResponse(r)
	if err != nil {
		t.Fatalf("first reply: %v", err)
	}
	first = decode(t, body)
	if next == "" {
		return first, nil, false
	}
	if _, err := io.WriteString(c, next); err != nil {
		return first, nil, true
	}
	_, body, err = readResponse(r)
	if err != nil {
		return first, nil, true
	}
	return first, decode(t, body), false
}

func TestHTTPHostileScrapes(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.HTTPReadTimeout = 10 * time.Second })
	cfg := DefaultConfig()
	announce := "GET /announce?" + announceQueryString(testHash(1), 1111, nil) + " HTTP/1.1\r\n\r\n"
	line := func(n int) string { // a scrape request line of n hashes, without the version
		s := manyHashScrape(n, "/scrape")
		return s[:strings.Index(s, " HTTP/1.1")]
	}
	tenK := line(10_000)
	short := "info_hash=abc"
	padTo := func(n int) string { // the 10,000 hashes and a parameter making a line of n bytes
		const version = " HTTP/1.1\r\n"
		return tenK + "&x=" + strings.Repeat("a", n-len(tenK)-len("&x=")-len(version)) + version + "\r\n"
	}
	tests := []struct {
		name      string
		raw       string
		wantFiles int    // > 0: a reply with this many files
		wantError string // else: a failure reason containing this
		keepAlive bool   // the connection serves another request afterwards
	}{
		{"10,000 hashes truncated", tenK + " HTTP/1.1\r\n\r\n", cfg.MaxScrapeHashes, "", true},
		{"10,000 hashes, bare LF, HTTP/1.0 keep-alive", tenK + " HTTP/1.0\nConnection: keep-alive\n\n", cfg.MaxScrapeHashes, "", true},
		{"10,000 hashes and a pipelined announce", tenK + " HTTP/1.1\r\nHost: x\r\n\r\n" + announce, cfg.MaxScrapeHashes, "", true},
		{"10,000 hashes, a bad one beyond the cap", line(5_000) + "&" + short + "&" + tenK[len("GET /scrape?"):] + " HTTP/1.1\r\n\r\n", 0, "info_hash is 3 bytes", true},
		{"10,000 hashes padded to a 1 MiB line", padTo(1 << 20), cfg.MaxScrapeHashes, "", true},
		{"10,000 hashes padded to a 1 MiB + 1 line", padTo(1<<20 + 1), 0, "scrape's request line may be at most 1048576", false},
		{"30,000 hashes: line over 1 MiB", line(30_000) + " HTTP/1.1\r\n\r\n", 0, "scrape's request line may be at most 1048576", false},
		{"10,000 hashes, no HTTP version", tenK + "\r\n\r\n", 0, "malformed HTTP request line", false},
		{"10,000 hashes, HTTP/2.0", tenK + " HTTP/2.0\r\n\r\n", 0, "unsupported HTTP version", false},
		{"10,000 hashes, 20 KB of headers", tenK + " HTTP/1.1\r\nX-Pad: " + strings.Repeat("p", 20_000) + "\r\n\r\n", 0, "request too large", false},
		{"150 hashes and 6 KB of headers (line fits the buffer, head does not)", line(150) + " HTTP/1.1\r\nX-Pad: " + strings.Repeat("p", 6_000) + "\r\n\r\n", cfg.MaxScrapeHashes, "", true},
		{"10,000 hashes to /announce", strings.Replace(tenK, "/scrape", "/announce", 1) + " HTTP/1.1\r\n\r\n", 0, "request too large", false},
		{"10,000 hashes by POST", "POST" + tenK[len("GET"):] + " HTTP/1.1\r\n\r\n", 0, "request too large", false},
		{"1 MB announce query", "GET /announce?x=" + strings.Repeat("a", 1<<20) + " HTTP/1.1\r\n\r\n", 0, "request too large", false},
		{"1 MB path", "GET /" + strings.Repeat("a", 1<<20) + "?info_hash=x HTTP/1.1\r\n\r\n", 0, "request too large", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first, second, closed := hostileExchange(t, srv.HTTPAddr(), tc.raw, announce)
			if tc.wantFiles > 0 {
				files, _ := first["files"].(map[string]any)
				if len(files) != tc.wantFiles || len(first) != 1 {
					t.Errorf("reply %.200s, want %d files", fmt.Sprint(first), tc.wantFiles)
				}
			} else {
				reason, _ := first["failure reason"].(string)
				if !strings.Contains(reason, tc.wantError) || len(first) != 1 {
					t.Errorf("reply %.200s, want a failure reason containing %q", fmt.Sprint(first), tc.wantError)
				}
			}
			if tc.keepAlive && (closed || second["interval"] == nil) {
				t.Errorf("connection not usable after the scrape: closed %v, reply %v", closed, second)
			}
			if !tc.keepAlive && !closed {
				t.Errorf("connection still served after a refused request: %v", second)
			}
		})
	}
}

// TestHTTPSlowScrapeCutOff: a scrape line streamed slowly is cut off at the read timeout like
// any other request.
func TestHTTPSlowScrapeCutOff(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.HTTPReadTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", srv.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	go func() {
		// More than the buffer at once, then a parameter a second: streaming, never ending.
		if _, err := io.WriteString(c, strings.TrimSuffix(manyHashScrape(300, "/scrape"), " HTTP/1.1\r\nHost: tracker\r\n\r\n")); err != nil {
			return
		}
		for range 50 {
			if _, err := io.WriteString(c, "&x=1"); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	expectCutOff(t, c, start, "slow scrape")
}
