package tracker

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestAnnounceURLReportsBoundPort(t *testing.T) {
	srv := startServer(t, nil)
	u := srv.AnnounceURL()
	if !strings.HasPrefix(u, "http://127.0.0.1:") || strings.HasSuffix(u, ":0/announce") || !strings.HasSuffix(u, "/announce") {
		t.Errorf("AnnounceURL %q", u)
	}
	if u := srv.UDPAnnounceURL(); !strings.HasPrefix(u, "udp://127.0.0.1:") || strings.HasSuffix(u, ":0/announce") {
		t.Errorf("UDPAnnounceURL %q", u)
	}
	status, body := httpGet(t, srv.HTTPAddr(), strings.TrimPrefix(u, "http://"+srv.HTTPAddr().String())+"?"+announceQueryString(testHash(1), 1, nil))
	if status != 200 || decode(t, body)["failure reason"] != nil {
		t.Errorf("announce to AnnounceURL: %d %q", status, body)
	}
	if got := announceURL("http", &fakeAddr{"[::]:6969"}); got != "http://127.0.0.1:6969/announce" {
		t.Errorf("wildcard bind reported as %q", got)
	}
}

type fakeAddr struct{ s string }

func (a *fakeAddr) Network() string { return "tcp" }
func (a *fakeAddr) String() string  { return a.s }

func TestNewRejectsBadConfig(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"no front end":         func(c *Config) { c.HTTPAddr, c.UDPAddr = "", "" },
		"zero interval":        func(c *Config) { c.Interval = 0 },
		"min above interval":   func(c *Config) { c.MinInterval = 2 * c.Interval },
		"numwant above max":    func(c *Config) { c.DefaultNumWant = c.MaxNumWant + 1 },
		"missing allow file":   func(c *Config) { c.AllowFile = "/nonexistent/allow" },
		"busy port or bad one": func(c *Config) { c.HTTPAddr = "127.0.0.1:99999" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.HTTPAddr, cfg.UDPAddr = "127.0.0.1:0", "127.0.0.1:0"
			mutate(&cfg)
			if srv, err := New(cfg); err == nil {
				srv.Close()
				t.Errorf("New accepted it")
			}
		})
	}
}

func TestCloseWithoutRun(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HTTPAddr, cfg.UDPAddr, cfg.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.HTTPAddr().String()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr = addr // the port is free again
	again, err := New(cfg)
	if err != nil {
		t.Fatalf("port not released by Close: %v", err)
	}
	again.Close()
}

func TestStatsAndMetrics(t *testing.T) {
	srv := startServer(t, func(c *Config) { c.MetricsAddr = "127.0.0.1:0" })
	h := testHash(30)
	httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 1, map[string]string{"left": "0"}))
	httpGet(t, srv.HTTPAddr(), "/announce?"+announceQueryString(h, 2, nil))
	httpGet(t, srv.HTTPAddr(), "/announce?port=abc")
	base := "http://" + srv.MetricsAddr().String()
	resp, err := http.Get(base + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Torrents != 1 || st.Seeders != 1 || st.Leechers != 1 || st.AnnouncesHTTP != 3 || st.ClientErrors != 1 {
		t.Errorf("/stats %+v", st)
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		"# TYPE shoal_tracker_announces_total counter",
		`shoal_tracker_announces_total{proto="http"} 3`,
		`shoal_tracker_peers{kind="seeder"} 1`,
		"shoal_tracker_torrents 1",
	} {
		if !strings.Contains(string(text), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, text)
		}
	}
	if resp, err := http.Get(base + "/debug/pprof/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("pprof served without Config.Pprof")
		}
	}
}

func TestStatsRates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &stats{}
		ctx, cancel := context.WithCancel(context.Background())
		go st.run(ctx)
		// Half a second off the sampler's ticks, so no add happens at the instant of a sample.
		time.Sleep(500 * time.Millisecond)
		for range 10 {
			time.Sleep(time.Second)
			st.announcesHTTP.Add(50)
			st.scrapesUDP.Add(5)
		}
		time.Sleep(500 * time.Millisecond)
		synctest.Wait()
		ann, scr := st.rates()
		if ann != 50 || scr != 5 {
			t.Errorf("rates %v/s and %v/s, want 50 and 5", ann, scr)
		}
		cancel()
	})
}

// TestPeersExpire runs the server's collector with a fake clock: a peer that stops
// announcing leaves the counts one TTL (plus at most one sweep) later.
func TestPeersExpire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.HTTPAddr, cfg.UDPAddr = "127.0.0.1:0", ""
		cfg.Interval, cfg.MinInterval = 10*time.Minute, time.Minute
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		srv, err := New(cfg) // TTL 15 minutes, sweep every minute
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go srv.collect(ctx)
		announce := func(port uint16) {
			req := AnnounceRequest{InfoHash: testHash(40), Addr: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port), NumWant: -1, Left: 1}
			var resp AnnounceResponse
			if err := srv.logic.Announce(ctx, &req, &resp); err != nil {
				t.Fatal(err)
			}
		}
		leechers := func() int {
			st, err := srv.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return st.Leechers
		}
		announce(1)
		time.Sleep(10 * time.Minute)
		announce(2)
		time.Sleep(5*time.Minute + 2*time.Minute)
		synctest.Wait()
		if n := leechers(); n != 1 {
			t.Errorf("17 minutes in: %d leechers, want 1 (the first expired)", n)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if st, _ := srv.Stats(ctx); st.Leechers != 0 || st.Torrents != 0 {
			t.Errorf("27 minutes in: %+v, want nothing left", st)
		}
		cancel()
	})
}
