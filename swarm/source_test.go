package swarm

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

const (
	testHex    = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
	testBase32 = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK" // the same 20 bytes
	testV2     = "1220" + "caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e"
)

func TestParseMagnet(t *testing.T) {
	tests := []struct {
		name, link string
		wantErr    string
		check      func(t *testing.T, s *Source)
	}{
		{name: "hex", link: "magnet:?xt=urn:btih:" + testHex + "&dn=Ubuntu+24.04&tr=udp%3A%2F%2Ft.test%3A80%2Fannounce&tr=http://t2.test/a",
			check: func(t *testing.T, s *Source) {
				eq(t, "InfoHash", s.InfoHash(), testHex)
				eq(t, "DisplayName", s.DisplayName(), "Ubuntu 24.04")
				eq(t, "Trackers", fmt.Sprint(s.Trackers()), "[[udp://t.test:80/announce] [http://t2.test/a]]")
				eq(t, "Kind", s.Kind.String(), "magnet link")
				if s.HasInfo() {
					t.Error("magnet has info")
				}
			}},
		{name: "upper-case hex and prefix", link: "MAGNET:?xt=URN:BTIH:" + strings.ToUpper(testHex),
			check: func(t *testing.T, s *Source) { eq(t, "InfoHash", s.InfoHash(), testHex) }},
		{name: "base32", link: "magnet:?xt=urn:btih:" + testBase32,
			check: func(t *testing.T, s *Source) { eq(t, "InfoHash", s.InfoHash(), testHex) }},
		{name: "lower-case base32", link: "magnet:?xt=urn:btih:" + strings.ToLower(testBase32),
			check: func(t *testing.T, s *Source) { eq(t, "InfoHash", s.InfoHash(), testHex) }},
		{name: "v2 only", link: "magnet:?xt=urn:btmh:" + testV2,
			check: func(t *testing.T, s *Source) {
				eq(t, "InfoHashV2", s.InfoHashV2(), testV2[4:])
				eq(t, "InfoHash (truncated v2)", s.InfoHash(), testV2[4:44])
			}},
		{name: "hybrid", link: "magnet:?xt=urn:btih:" + testHex + "&xt=urn:btmh:" + testV2,
			check: func(t *testing.T, s *Source) {
				eq(t, "InfoHash", s.InfoHash(), testHex)
				eq(t, "InfoHashV2", s.InfoHashV2(), testV2[4:])
				spec, err := s.spec()
				if err != nil {
					t.Fatal(err)
				}
				if spec.InfoHash.HexString() != testHex || !spec.InfoHashV2.Ok {
					t.Errorf("spec hashes: %v %v", spec.InfoHash, spec.InfoHashV2)
				}
			}},
		{name: "other networks' xt ignored", link: "magnet:?xt=urn:ed2k:31d6cfe0d16ae931b73c59d7e0c089c0&xt=urn:btih:" + testHex,
			check: func(t *testing.T, s *Source) { eq(t, "InfoHash", s.InfoHash(), testHex) }},
		{name: "same btih twice", link: "magnet:?xt=urn:btih:" + testHex + "&xt=urn:btih:" + testBase32,
			check: func(t *testing.T, s *Source) { eq(t, "InfoHash", s.InfoHash(), testHex) }},
		{name: "web seeds, peers, select-only", link: "magnet:?xt=urn:btih:" + testHex +
			"&ws=http%3A%2F%2Fws.test%2Ff&ws=ftp://nope/&x.pe=10.0.0.1:6881&x.pe=[::1]:51413&x.pe=nonsense&x.pe=h:0&so=0,2,4-6",
			check: func(t *testing.T, s *Source) {
				eq(t, "WebSeeds", fmt.Sprint(s.WebSeeds()), "[http://ws.test/f]")
				eq(t, "PeerAddrs", fmt.Sprint(s.PeerAddrs()), "[10.0.0.1:6881 [::1]:51413]")
				eq(t, "warnings", fmt.Sprint(len(s.Warnings())), "3")
				idx, ok := s.SelectedFiles(6)
				eq(t, "SelectedFiles", fmt.Sprint(idx, ok), "[0 2 4 5] true")
				spec, _ := s.spec()
				eq(t, "spec.PeerAddrs", fmt.Sprint(spec.PeerAddrs), "[10.0.0.1:6881 [::1]:51413]")
			}},
		{name: "no select-only means all", link: "magnet:?xt=urn:btih:" + testHex,
			check: func(t *testing.T, s *Source) {
				idx, ok := s.SelectedFiles(3)
				eq(t, "SelectedFiles", fmt.Sprint(idx, ok), "[] false")
			}},
		{name: "unusable trackers dropped with a warning", link: "magnet:?xt=urn:btih:" + testHex +
			"&tr=file:///etc/passwd&tr=javascript:alert(1)&tr=http://ok.test/a&tr=http://ok.test/a",
			check: func(t *testing.T, s *Source) {
				eq(t, "Trackers", fmt.Sprint(s.Trackers()), "[[http://ok.test/a]]")
				if w := s.Warnings(); len(w) != 2 || !strings.Contains(w[0], `tracker "file:///etc/passwd" dropped: scheme "file" not supported`) {
					t.Errorf("warnings = %q", w)
				}
			}},
		{name: "hostile dn made terminal-safe", link: "magnet:?xt=urn:btih:" + testHex + "&dn=%1B%5D0%3Bpwned%07evil%E2%80%AEtxt.exe",
			check: func(t *testing.T, s *Source) {
				eq(t, "DisplayName", s.DisplayName(), `\x1b]0;pwned\x07evil\u202etxt.exe`)
				m, ok := s.View()
				if ok || m.Name != s.DisplayName() || m.InfoHashV1 != testHex {
					t.Errorf("View = %+v, %v", m, ok)
				}
				if strings.ContainsAny(m.Magnet, "\x1b\x07") {
					t.Errorf("Magnet not escaped: %q", m.Magnet)
				}
			}},
		{name: "fragment ignored", link: "magnet:?xt=urn:btih:" + testHex + "#frag",
			check: func(t *testing.T, s *Source) { eq(t, "InfoHash", s.InfoHash(), testHex) }},

		{name: "bad hex", link: "magnet:?xt=urn:btih:zz", wantErr: `parse magnet link: xt "urn:btih:zz": not 40 hex or 32 base32 characters`},
		{name: "40 non-hex", link: "magnet:?xt=urn:btih:" + strings.Repeat("g", 40), wantErr: `not 40 hex or 32 base32 characters`},
		{name: "bad base32", link: "magnet:?xt=urn:btih:" + strings.Repeat("1", 32), wantErr: `not 40 hex or 32 base32 characters`},
		{name: "missing xt", link: "magnet:?dn=x", wantErr: `parse magnet link: missing xt`},
		{name: "only foreign xt", link: "magnet:?xt=urn:sha1:abc", wantErr: `no BitTorrent infohash among xt "urn:sha1:abc"`},
		{name: "two different btih", link: "magnet:?xt=urn:btih:" + testHex + "&xt=urn:btih:" + strings.Repeat("1", 40),
			wantErr: `two different v1 infohashes`},
		{name: "zero infohash (the library panics on it)", link: "magnet:?xt=urn:btih:" + strings.Repeat("0", 40),
			wantErr: `xt "urn:btih:0000000000000000000000000000000000000000": all zeros`},
		{name: "zero v2 infohash", link: "magnet:?xt=urn:btmh:1220" + strings.Repeat("0", 64), wantErr: `all zeros`},
		{name: "bad btmh", link: "magnet:?xt=urn:btmh:1114" + strings.Repeat("0", 40), wantErr: `not a SHA-256 multihash`},
		{name: "no question mark", link: "magnet:xt=urn:btih:" + testHex, wantErr: `missing "?" after "magnet:"`},
		{name: "bad escape", link: "magnet:?xt=urn:btih:" + testHex + "&dn=%zz", wantErr: `malformed query`},
		{name: "bad so", link: "magnet:?xt=urn:btih:" + testHex + "&so=3-1", wantErr: `so "3-1": "3-1" is not a file index or a range`},
		{name: "too long", link: "magnet:?xt=urn:btih:" + testHex + "&dn=" + strings.Repeat("a", 70_000), wantErr: `over the 65536-byte limit`},
		{name: "too many trackers", link: "magnet:?xt=urn:btih:" + testHex + strings.Repeat("&tr=http://t.test/", 1) + func() string {
			var b strings.Builder
			for i := range 501 {
				fmt.Fprintf(&b, "&tr=http://t%d.test/", i)
			}
			return b.String()
		}(), wantErr: `502 trackers, over the limit of 500`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSource(context.Background(), tt.link, DefaultLimits(), nil)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("accepted, want %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %q\n want it to contain %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrBadSource) {
					t.Errorf("error does not wrap ErrBadSource")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Raw != tt.link {
				t.Errorf("Raw = %q", s.Raw)
			}
			tt.check(t, s)
			// The rebuilt magnet link must parse to the same infohashes.
			again, err := ParseSource(context.Background(), s.magnetURI(), DefaultLimits(), nil)
			if err != nil {
				t.Fatalf("rebuilt link %q: %v", s.magnetURI(), err)
			}
			if again.InfoHash() != s.InfoHash() || again.InfoHashV2() != s.InfoHashV2() {
				t.Errorf("rebuilt link changed the infohash")
			}
		})
	}
}

func eq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestParseBareInfoHash(t *testing.T) {
	for _, raw := range []string{testHex, strings.ToUpper(testHex), testBase32, "  " + testHex + "\n"} {
		s, err := ParseSource(context.Background(), raw, DefaultLimits(), nil)
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		if s.Kind != SourceInfoHash || s.InfoHash() != testHex || s.DisplayName() != testHex {
			t.Errorf("%q: kind %v hash %s name %s", raw, s.Kind, s.InfoHash(), s.DisplayName())
		}
		spec, err := s.spec()
		if err != nil || spec.InfoHash.HexString() != testHex {
			t.Errorf("%q: spec %v %v", raw, spec, err)
		}
	}
	// A file with a hash-like name is a file.
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile(testHex, []byte("not a torrent"), 0o644)
	_, err := ParseSource(context.Background(), testHex, DefaultLimits(), nil)
	if err == nil || !strings.Contains(err.Error(), "not a .torrent file") {
		t.Errorf("file named like a hash: err = %v", err)
	}
}

func TestParseSourceBadArguments(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.torrent")
	mkfifo(t, fifo)
	big := filepath.Join(dir, "big.torrent")
	if err := os.WriteFile(big, make([]byte, 10<<20+1), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ raw, wantErr string }{
		{"", "empty SOURCE"},
		{"   ", "empty SOURCE"},
		{filepath.Join(dir, "missing.torrent"), "no such file"},
		{dir, "is a folder, not a .torrent file"},
		{fifo, "is not a regular file"},
		{big, "is 10485761 bytes, over the 10485760-byte limit"},
		{"ftp://host/x.torrent", `unsupported URL scheme "ftp"`},
		{"file:///etc/passwd", `unsupported URL scheme "file"`},
		{"http://", "has no host"},
		{"abc", "no such file"},
	}
	for _, tt := range tests {
		start := time.Now()
		_, err := ParseSource(context.Background(), tt.raw, DefaultLimits(), nil)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseSource(%q) err = %v, want %q", tt.raw, err, tt.wantErr)
			continue
		}
		if !errors.Is(err, ErrBadSource) {
			t.Errorf("ParseSource(%q): error does not wrap ErrBadSource", tt.raw)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("ParseSource(%q) took %v (blocked on a FIFO?)", tt.raw, d)
		}
	}
}

func TestParseTorrentFile(t *testing.T) {
	info := singleInfo("payload.bin", 16*kib, 40_000)
	data, err := bencode.Marshal(map[string]any{
		"announce":      "http://a.test/announce",
		"announce-list": [][]string{{"http://a.test/announce", "udp://b.test:80"}, {"gopher://c.test"}},
		"url-list":      "http://ws.test/payload.bin",
		"comment":       "hi\x1b[2J",
		"created by":    "test",
		"creation date": int64(1700000000),
		"info":          info,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.torrent")
	os.WriteFile(path, data, 0o644)
	s, err := ParseSource(context.Background(), path, DefaultLimits(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The infohash is the SHA-1 of the info value exactly as it sits in the file (the
	// encoder wrote it canonically, so encoding it alone gives the same bytes).
	infoRaw, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, infoRaw) {
		t.Fatal("info bytes not found in the file")
	}
	sum := sha1.Sum(infoRaw)
	eq(t, "InfoHash", s.InfoHash(), hex.EncodeToString(sum[:]))
	eq(t, "Kind", s.Kind.String(), "torrent file")
	eq(t, "Trackers", fmt.Sprint(s.Trackers()), "[[http://a.test/announce udp://b.test:80]]")
	eq(t, "WebSeeds", fmt.Sprint(s.WebSeeds()), "[http://ws.test/payload.bin]")
	if !s.HasInfo() {
		t.Fatal("no info")
	}
	m, ok := s.View()
	if !ok {
		t.Fatal("View not ok")
	}
	eq(t, "Name", m.Name, "payload.bin")
	eq(t, "Comment", m.Comment, `hi\x1b[2J`)
	eq(t, "Size", fmt.Sprint(m.Size, m.PieceLength, m.NumPieces), "40000 16384 3")
	eq(t, "Files", fmt.Sprint(m.Files), "[{payload.bin 40000 false}]")
	eq(t, "CreationDate", m.CreationDate.Format(time.RFC3339), "2023-11-14T22:13:20Z")
	if !strings.Contains(m.Magnet, "xt=urn:btih:"+s.InfoHash()) || strings.Contains(m.Magnet, "gopher") {
		t.Errorf("Magnet = %q", m.Magnet)
	}
	spec, err := s.spec()
	if err != nil {
		t.Fatal(err)
	}
	if spec.InfoHash.HexString() != s.InfoHash() || !bytes.Equal(spec.InfoBytes, infoRaw) || len(spec.Trackers) != 1 {
		t.Errorf("spec = %+v", spec)
	}
}

func TestParseSourceURL(t *testing.T) {
	good := torrentOf(t, singleInfo("web.bin", 16*kib, 1000))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, 50<<20)) // 50 MiB of zeros, ~50 KiB compressed
	zw.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("/good.torrent", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-bittorrent")
		w.Write(good)
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>login first</html>"))
	})
	mux.HandleFunc("/big-declared", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(11<<20))
		w.WriteHeader(200)
	})
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d"))
		w.(http.Flusher).Flush()
		chunk := make([]byte, 1<<20)
		for range 11 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/gzip-bomb", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz.Bytes())
	})
	mux.HandleFunc("/to-file", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	mux.HandleFunc("/to-good", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/good.torrent", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	s, err := ParseSource(context.Background(), srv.URL+"/to-good", DefaultLimits(), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != SourceURL || s.DisplayName() != "web.bin" || !s.HasInfo() {
		t.Errorf("got %v %q", s.Kind, s.DisplayName())
	}

	tests := []struct {
		path, wantErr string
		bad           bool // wraps ErrBadSource
	}{
		{"/missing", "HTTP status 404 Not Found", true},
		{"/html", `not a .torrent file (Content-Type "text/html", body starts "<html>login firs")`, true},
		{"/big-declared", "body is 11534336 bytes, over the 10485760-byte limit", true},
		{"/big-chunked", "body is over the 10485760-byte limit", true},
		{"/gzip-bomb", "body is over the 10485760-byte limit", true},
		{"/to-file", `redirect to "file:///etc/passwd" refused`, true},
		{"/loop", "stopped after 10 redirects", true},
	}
	for _, tt := range tests {
		_, err := ParseSource(context.Background(), srv.URL+tt.path, DefaultLimits(), srv.Client())
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.path, err, tt.wantErr)
			continue
		}
		if errors.Is(err, ErrBadSource) != tt.bad {
			t.Errorf("%s: errors.Is(err, ErrBadSource) = %v", tt.path, !tt.bad)
		}
	}

	// Timeouts and cancellation are not the argument's fault.
	lim := DefaultLimits()
	lim.HTTPSourceTimeout = 200 * time.Millisecond
	start := time.Now()
	_, err = ParseSource(context.Background(), srv.URL+"/slow", lim, nil)
	if err == nil || errors.Is(err, ErrBadSource) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow server: err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("timeout not honoured: %v", time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ParseSource(ctx, srv.URL+"/good.torrent", DefaultLimits(), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	// The caller's client keeps its own redirect policy.
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return errors.New("caller says no") }
	if _, err := ParseSource(context.Background(), srv.URL+"/to-good", DefaultLimits(), c); err == nil || !strings.Contains(err.Error(), "caller says no") {
		t.Errorf("caller's CheckRedirect not applied: %v", err)
	}
	if c.CheckRedirect == nil {
		t.Error("caller's client was modified")
	}
}

// TestRealTorrentsAccepted checks that hardening did not make real torrents unusable: v1, v2,
// hybrid (with pad files), trackerless, web seeds, legacy encodings.
func TestRealTorrentsAccepted(t *testing.T) {
	files, err := filepath.Glob("testdata/torrents/*.torrent")
	if err != nil || len(files) < 5 {
		t.Fatalf("test torrents missing: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := ParseSource(context.Background(), f, DefaultLimits(), nil)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := metainfo.LoadFromFile(f)
			if err != nil {
				t.Fatal(err)
			}
			refInfo, err := ref.UnmarshalInfo()
			if err != nil {
				t.Fatal(err)
			}
			m, ok := s.View()
			if !ok {
				t.Fatal("no info")
			}
			if refInfo.HasV1() && m.InfoHashV1 != ref.HashInfoBytes().HexString() {
				t.Errorf("v1 infohash %s, anacrolix %s", m.InfoHashV1, ref.HashInfoBytes().HexString())
			}
			if refInfo.HasV2() != (m.InfoHashV2 != "") {
				t.Errorf("v2 infohash %q for HasV2 %v", m.InfoHashV2, refInfo.HasV2())
			}
			if m.Name != refInfo.BestName() || m.NumPieces != refInfo.NumPieces() || len(m.Files) != len(refInfo.UpvertedFiles()) {
				t.Errorf("view %q %d pieces %d files; anacrolix %q %d %d",
					m.Name, m.NumPieces, len(m.Files), refInfo.BestName(), refInfo.NumPieces(), len(refInfo.UpvertedFiles()))
			}
			if _, err := s.spec(); err != nil {
				t.Error(err)
			}
		})
	}
}
