package swarm

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// seedWithTracker seeds a small folder from an engine whose only tracker
// is srv, and returns the engine and the torrent's infohash.
func seedWithTracker(t *testing.T, ip string, srv *httptest.Server) (*Engine, string) {
	t.Helper()
	content := filepath.Join(t.TempDir(), "small.bin")
	makeFolder(t, filepath.Dir(content), map[string]int64{"small.bin": 100_000})
	cfg := testConfig(t, ip)
	cfg.Trackers = []string{srv.URL + "/announce"}
	e := newEngine(t, cfg)
	seeded, err := e.SeedPath(context.Background(), content, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return e, seeded.InfoHash
}

// trackerResult waits until the engine has a result from its one tracker.
func trackerResult(t *testing.T, e *Engine, ih string) TrackerView {
	t.Helper()
	tv := waitFor(t, e, ih, 20*time.Second, func(tv TorrentView) bool {
		return len(tv.Trackers) == 1 && !tv.Trackers[0].LastAnnounce.IsZero() &&
			(tv.Trackers[0].Status == "ok" || tv.Trackers[0].Status == "error")
	})
	return tv.Trackers[0]
}

// TestTrackerRepliesHostile is issue 8 point 4: replies a hostile or
// broken tracker may send are handled without harm, each ending in a
// visible tracker state while the engine carries on.
func TestTrackerRepliesHostile(t *testing.T) {
	bomb := gzipZeros(t, 256<<20) // 256 MiB of zeros in about 256 KiB
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		wantErr   string // substring of LastError; empty: status ok
		wantPeers int
	}{
		{name: "body over 4 MiB", handler: func(w http.ResponseWriter, r *http.Request) {
			body := "d8:intervali1800e5:peers" + "5000000:" + strings.Repeat("x", 5_000_000) + "e"
			io.WriteString(w, body)
		}, wantErr: "request body too large"},
		{name: "gzip bomb", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb)
		}, wantErr: "request body too large"},
		{name: "compact peers not a multiple of 6", handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "d8:intervali1800e5:peers7:\x7f\x00\x00\x09\x1a\xe1\x01e")
		}, wantErr: "error decoding"},
		{name: "not bencode", handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html>\x1b[31mhello</html>")
		}, wantErr: "error decoding"},
		{name: "failure reason with escapes", handler: func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "d14:failure reason13:no\x1b[2J\x07 thanke")
		}, wantErr: `tracker gave failure reason: "no\x1b[2J\a thank"`},
		{name: "HTTP 500", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, wantErr: "500 Internal Server Error"},
		{name: "redirect to file://", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}, wantErr: `unsupported protocol scheme "file"`},
		{name: "redirect loop", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.String(), http.StatusFound)
		}, wantErr: "stopped after 10 redirects"},
		{name: "unusable peers dropped", handler: func(w http.ResponseWriter, r *http.Request) {
			peers := "\x00\x00\x00\x00\x1a\xe1" + // 0.0.0.0:6881
				"\xe0\x00\x00\x01\x1a\xe1" + // 224.0.0.1:6881 (multicast)
				"\xff\xff\xff\xff\x1a\xe1" + // broadcast
				"\x7f\x00\x00\x09\x00\x00" + // port 0
				"\x7f\x00\x00\x09\x1a\xe1" // 127.0.0.9:6881, the one usable
			io.WriteString(w, "d8:intervali1800e5:peers30:"+peers+"e")
		}, wantPeers: 5},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			e, ih := seedWithTracker(t, "127.0.0."+string(rune('2'+i%5)), srv)
			tv := trackerResult(t, e, ih)
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if tt.wantErr != "" {
				if tv.Status != "error" || !strings.Contains(tv.LastError, tt.wantErr) {
					t.Fatalf("status %q, error %q; want an error containing %q", tv.Status, tv.LastError, tt.wantErr)
				}
			} else if tv.Status != "ok" || tv.Peers != tt.wantPeers {
				t.Fatalf("status %q (%q), %d peers; want ok with %d", tv.Status, tv.LastError, tv.Peers, tt.wantPeers)
			}
			if strings.ContainsAny(tv.LastError, "\x1b\x07") {
				t.Errorf("tracker error shown with raw control characters: %q", tv.LastError)
			}
			// The 256 MiB bomb (and the 5 MiB body) are read at most to the 4 MiB cap.
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 100<<20 {
				t.Errorf("allocated %d MiB while announcing", grew>>20)
			}
			if tt.name == "unusable peers dropped" {
				m, err := e.get(ih)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range m.t.KnownSwarm() {
					if p.Source != "Tr" {
						continue
					}
					if s := p.Addr.String(); s != "127.0.0.9:6881" {
						t.Errorf("tracker peer %s was added", s)
					}
				}
			}
		})
	}
}

func gzipZeros(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for written := 0; written < n; written += len(zero) {
		zw.Write(zero)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAnnounceIntervalClamped: an interval of 0 or below cannot make the
// engine hammer a tracker, and 10^9 seconds cannot silence it for decades.
func TestAnnounceIntervalClamped(t *testing.T) {
	for _, tt := range []struct {
		interval int32
		lonely   bool
		want     time.Duration
	}{
		{0, false, 30 * time.Second},
		{-5, false, 30 * time.Second},
		{1, false, 30 * time.Second},
		{1800, false, 30 * time.Minute},
		{1_000_000_000, false, 2 * time.Hour},
		{1<<31 - 1, false, 2 * time.Hour},
		{1_000_000_000, true, 15 * time.Second},
	} {
		if got := announceWait(tt.interval, tt.lonely); got != tt.want {
			t.Errorf("announceWait(%d, lonely %v) = %v, want %v", tt.interval, tt.lonely, got, tt.want)
		}
	}
	// End to end: the next announce the engine schedules is within bounds.
	for i, interval := range []string{"0", "1000000000"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "d8:intervali"+interval+"e5:peers0:e")
		}))
		e, ih := seedWithTracker(t, "127.0.0."+string(rune('2'+i)), srv)
		tv := trackerResult(t, e, ih)
		gap := tv.NextAnnounce.Sub(tv.LastAnnounce)
		if tv.Status != "ok" || gap < lonelyRetryInterval || gap > maxAnnounceInterval+time.Second {
			t.Errorf("interval %s: status %q (%s), next announce in %v", interval, tv.Status, tv.LastError, gap)
		}
		srv.Close()
	}
}

// TestTrackerDialRefusesLocal: a tracker that is not on this machine cannot
// lead the engine to a loopback, unspecified or link-local address, by a
// redirect or by its name resolving there; a local tracker may.
func TestTrackerDialRefusesLocal(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.8.9.10": true, "::1": true, "localhost": true, "LocalHost": true,
		"a.localhost": true, "0.0.0.0": true, "169.254.169.254": true, "fe80::1": true,
		"tracker.example.org": false, "192.0.2.1": false, "10.0.0.1": false, "2001:db8::1": false,
		"::ffff:127.0.0.1": true, "": false,
	} {
		if got := localTrackerHost(host); got != want {
			t.Errorf("localTrackerHost(%q) = %v, want %v", host, got, want)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secret")
	}))
	defer srv.Close()
	// A public tracker redirecting to a local service: the dial is refused.
	e := newEngine(t, testConfig(t, "127.0.0.2"))
	public := &http.Client{Transport: &http.Transport{DialContext: e.trackerDialer("http://tracker.example.org/announce")}}
	_, err := public.Get(srv.URL)
	if !errors.Is(err, errLocalTracker) {
		t.Errorf("public tracker reached %s: err = %v", srv.URL, err)
	}
	// So is a public name that resolves to loopback.
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	if _, err := dialTracker(context.Background(), &net.Dialer{}, "tcp", "localhost:"+port, false); !errors.Is(err, errLocalTracker) {
		t.Errorf("name resolving to loopback: err = %v", err)
	}
	// A tracker on this machine is reached.
	local := &http.Client{Transport: &http.Transport{DialContext: e.trackerDialer(srv.URL + "/announce")}}
	resp, err := local.Get(srv.URL)
	if err != nil {
		t.Fatalf("local tracker: %v", err)
	}
	resp.Body.Close()
}
