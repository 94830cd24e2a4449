package tracker_test

// Interop: clients nobody here wrote use the tracker. libtorrent (python3-libtorrent) seeder and
// leecher on distinct 127.0.0.x addresses find each other only through it (DHT, LSD, UPnP,
// NAT-PMP, PEX off), over HTTP and over UDP; Transmission announces to it; anacrolix's tracker
// client announces and scrapes over both. A missing client skips the test, or fails it when
// SHOAL_REQUIRE_PEERS=1.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	anacrolix "github.com/anacrolix/torrent/tracker"
	"github.com/anacrolix/torrent/types/infohash"

	"shoal/tracker"
)

const requirePeersEnv = "SHOAL_REQUIRE_PEERS"

// requirePeer skips (or, with SHOAL_REQUIRE_PEERS=1, fails) when a real client is missing.
func requirePeer(t *testing.T, what string, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv(requirePeersEnv) == "1" {
		t.Fatalf("%s unavailable (%s=1): %s", what, requirePeersEnv, why)
	}
	t.Skipf("%s unavailable: %s (set %s=1 to make this a failure)", what, why, requirePeersEnv)
}

func requireLibtorrent(t *testing.T) string {
	t.Helper()
	const python = "/usr/bin/python3"
	out, err := exec.Command(python, "-c", "import libtorrent; print(libtorrent.__version__)").CombinedOutput()
	requirePeer(t, "libtorrent", err == nil, strings.TrimSpace(string(out))+" (Debian package python3-libtorrent)")
	return python
}

func startTracker(t *testing.T) *tracker.Server {
	t.Helper()
	cfg := tracker.DefaultConfig()
	cfg.HTTPAddr, cfg.UDPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Interval, cfg.MinInterval = 5*time.Second, time.Second
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := tracker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv
}

// ltProcess is a running lt_peer.py whose JSON events are collected.
type ltProcess struct {
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	events []map[string]any
	stderr bytes.Buffer
	exited chan struct{}
}

func startLT(t *testing.T, python, name string, args ...string) *ltProcess {
	t.Helper()
	p := &ltProcess{name: name, exited: make(chan struct{})}
	p.cmd = exec.Command(python, append([]string{"testdata/lt_peer.py"}, args...)...)
	p.cmd.Stderr = &p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				p.mu.Lock()
				p.events = append(p.events, ev)
				p.mu.Unlock()
			}
		}
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			p.mu.Lock()
			t.Logf("%s events: %v\nstderr: %s", name, p.events, p.stderr.String())
			p.mu.Unlock()
		}
	})
	return p
}

// any reports whether some event so far satisfies match.
func (p *ltProcess) any(match func(map[string]any) bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range p.events {
		if match(ev) {
			return true
		}
	}
	return false
}

// wait returns the first event named name, or fails after timeout.
func (p *ltProcess) wait(t *testing.T, name string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, ev := range p.events {
			if ev["event"] == name {
				p.mu.Unlock()
				return ev
			}
		}
		p.mu.Unlock()
		select {
		case <-p.exited:
			p.mu.Lock()
			evs := p.events
			p.mu.Unlock()
			for _, ev := range evs {
				if ev["event"] == name {
					return ev
				}
			}
			t.Fatalf("%s exited before %q: events %v, stderr %s", p.name, name, evs, p.stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s: no %q event within %v", p.name, name, timeout)
	return nil
}

func TestLibtorrentPeersMeetThroughTracker(t *testing.T) {
	python := requireLibtorrent(t)
	for _, proto := range []string{"http", "udp"} {
		t.Run(proto, func(t *testing.T) {
			srv := startTracker(t)
			url := srv.AnnounceURL()
			if proto == "udp" {
				url = srv.UDPAnnounceURL()
			}
			dir := t.TempDir()
			seedDir, leechDir := filepath.Join(dir, "seed"), filepath.Join(dir, "leech")
			os.MkdirAll(seedDir, 0o755)
			os.MkdirAll(leechDir, 0o755)
			data := make([]byte, 3<<20+12345)
			for i := range data {
				data[i] = byte(i*7 + i>>9)
			}
			if err := os.WriteFile(filepath.Join(seedDir, "payload.bin"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			torrent := filepath.Join(dir, "payload.torrent")
			out, err := exec.Command(python, "testdata/lt_peer.py", "make", filepath.Join(seedDir, "payload.bin"), url, torrent).CombinedOutput()
			if err != nil {
				t.Fatalf("make torrent: %v\n%s", err, out)
			}
			seeder := startLT(t, python, "seeder", "seed", torrent, seedDir, "127.0.0.2")
			seeder.wait(t, "announced", 30*time.Second)
			leecher := startLT(t, python, "leecher", "leech", torrent, leechDir, "127.0.0.3")
			leecher.wait(t, "done", 60*time.Second)
			// With DHT, LSD and PEX off, only the tracker can have introduced the seeder.
			if !leecher.any(func(ev map[string]any) bool {
				n, _ := ev["peers"].(float64)
				return ev["event"] == "announced" && n >= 1
			}) {
				t.Errorf("no announce of the leecher returned a peer")
			}
			got, err := os.ReadFile(filepath.Join(leechDir, "payload.bin"))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("leecher's copy differs (%v)", err)
			}
			st, err := srv.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			announces := st.AnnouncesHTTP
			if proto == "udp" {
				announces = st.AnnouncesUDP
			}
			if announces < 2 || st.ClientErrors != 0 {
				t.Errorf("tracker stats %+v: want ≥2 %s announces and no client errors", st, proto)
			}
		})
	}
}

func TestTransmissionAnnounces(t *testing.T) {
	tr, err := exec.LookPath("transmission-cli")
	requirePeer(t, "transmission-cli", err == nil, "not on PATH (Debian package transmission-cli)")
	python := requireLibtorrent(t) // only to write the .torrent
	for _, proto := range []string{"http", "udp"} {
		t.Run(proto, func(t *testing.T) {
			srv := startTracker(t)
			url := srv.AnnounceURL()
			if proto == "udp" {
				url = srv.UDPAnnounceURL()
			}
			dir := t.TempDir()
			payload := filepath.Join(dir, "payload.bin")
			os.WriteFile(payload, bytes.Repeat([]byte("shoal"), 40000), 0o644)
			torrent := filepath.Join(dir, "payload.torrent")
			if out, err := exec.Command(python, "testdata/lt_peer.py", "make", payload, url, torrent).CombinedOutput(); err != nil {
				t.Fatalf("make torrent: %v\n%s", err, out)
			}
			dl := filepath.Join(dir, "dl")
			os.MkdirAll(dl, 0o755)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// DHT, LSD, uTP, PEX and port mapping off, bound to its own loopback address.
			port := freePort(t, "127.0.0.4")
			cfgDir := filepath.Join(dir, "cfg")
			os.MkdirAll(cfgDir, 0o755)
			settings := fmt.Sprintf(`{"dht-enabled": false, "lpd-enabled": false, "utp-enabled": false,
				"pex-enabled": false, "port-forwarding-enabled": false, "rpc-enabled": false,
				"bind-address-ipv4": "127.0.0.4", "peer-port": %d, "message-level": 2}`, port)
			if err := os.WriteFile(filepath.Join(cfgDir, "settings.json"), []byte(settings), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(ctx, tr, "--no-portmap", "--port", strconv.Itoa(port), "--download-dir", dl,
				"--config-dir", cfgDir, torrent)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { cmd.Process.Kill(); cmd.Wait() }()
			for {
				st, _ := srv.Stats(context.Background())
				if st.AnnouncesHTTP+st.AnnouncesUDP > 0 && st.Leechers == 1 {
					if st.ClientErrors != 0 {
						t.Errorf("Transmission's announce was rejected: %+v", st)
					}
					return
				}
				select {
				case <-ctx.Done():
					t.Fatalf("no announce from Transmission over %s within 30 s: %+v\n%s", proto, st, out.String())
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	}
}

// freePort returns a TCP port free on ip right now.
func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestAnacrolixClientAnnouncesAndScrapes(t *testing.T) {
	srv := startTracker(t)
	var ih infohash.T
	copy(ih[:], "anacrolix-interop-ih")
	for i, url := range []string{srv.AnnounceURL(), srv.UDPAnnounceURL()} {
		c, err := anacrolix.NewClient(url, anacrolix.NewClientOpts{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := anacrolix.AnnounceRequest{InfoHash: ih, NumWant: -1, Port: uint16(7000 + i), Left: int64(i), Event: anacrolix.Started}
		copy(req.PeerId[:], "-AN0001-abcdefghijkl")
		resp, err := c.Announce(ctx, req, anacrolix.AnnounceOpt{})
		if err != nil {
			t.Fatalf("%s announce: %v", url, err)
		}
		if resp.Interval != 5 || int(resp.Seeders)+int(resp.Leechers) != i+1 || len(resp.Peers) != i {
			t.Errorf("%s announce: %+v", url, resp)
		}
		sc, err := c.Scrape(ctx, []infohash.T{ih})
		if err != nil {
			t.Fatalf("%s scrape: %v", url, err)
		}
		if len(sc) != 1 || int(sc[0].Seeders)+int(sc[0].Leechers) != i+1 {
			t.Errorf("%s scrape: %+v", url, sc)
		}
	}
}
