package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	anacrolixtracker "github.com/anacrolix/torrent/tracker"
	"github.com/anacrolix/torrent/types/infohash"

	"shoal/internal/testpeers"
)

// trackerProc is the built `shoal tracker` binary, running.
type trackerProc struct {
	cmd       *exec.Cmd
	logs      *testpeers.SyncBuffer
	http, udp string
	exited    chan error
}

func startTrackerBinary(t *testing.T, args ...string) *trackerProc {
	t.Helper()
	p := &trackerProc{logs: &testpeers.SyncBuffer{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(shoalBin, append([]string{"tracker", "--http", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--interval", "5s", "--min-interval", "1s"}, args...)...)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("tracker log:\n%s", p.logs.String())
		}
	})
	if m := testpeers.WaitSubmatch(p.logs, regexp.MustCompile(`http=(127\.0\.0\.1:\d+) udp=(127\.0\.0\.1:\d+)`), 10*time.Second); m != nil {
		p.http, p.udp = m[1], m[2]
		return p
	}
	t.Fatalf("shoal tracker printed no 'tracker serving' line: %s", p.logs.String())
	return nil
}

// TestTrackerBinaryWithRealClients: the built binary serves anacrolix's tracker client (announce
// and scrape over HTTP and UDP) and two libtorrent peers that find each other only through it;
// SIGHUP re-reads --allow; SIGTERM stops it with exit status 0.
func TestTrackerBinaryWithRealClients(t *testing.T) {
	dir := t.TempDir()
	allow := filepath.Join(dir, "allow")
	var ih infohash.T
	copy(ih[:], "shoal-binary-e2e-ih!")
	os.WriteFile(allow, []byte("# nothing allowed yet\n"), 0o644)
	p := startTrackerBinary(t, "--allow", allow)

	announce := func(url string, port uint16) (anacrolixtracker.AnnounceResponse, error) {
		c, err := anacrolixtracker.NewClient(url, anacrolixtracker.NewClientOpts{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := anacrolixtracker.AnnounceRequest{InfoHash: ih, NumWant: -1, Port: port, Left: 1}
		copy(req.PeerId[:], "-AN0001-binary-e2e-x")
		return c.Announce(ctx, req, anacrolixtracker.AnnounceOpt{})
	}
	httpURL, udpURL := "http://"+p.http+"/announce", "udp://"+p.udp+"/announce"
	if _, err := announce(httpURL, 7001); err == nil || !strings.Contains(err.Error(), "not tracked") {
		t.Fatalf("announce of a torrent not on the allow list: %v", err)
	}
	os.WriteFile(allow, []byte(ih.HexString()+"\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err = announce(httpURL, 7001); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("after SIGHUP: %v", err)
	}
	resp, err := announce(udpURL, 7002)
	if err != nil || len(resp.Peers) != 1 || resp.Peers[0].Port != 7001 {
		t.Fatalf("UDP announce: %+v %v", resp, err)
	}
	for _, url := range []string{httpURL, udpURL} {
		c, _ := anacrolixtracker.NewClient(url, anacrolixtracker.NewClientOpts{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		sc, err := c.Scrape(ctx, []infohash.T{ih})
		cancel()
		c.Close()
		if err != nil || len(sc) != 1 || sc[0].Leechers != 2 {
			t.Errorf("%s scrape: %+v %v", url, sc, err)
		}
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("shoal tracker after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("shoal tracker still running 10 s after SIGTERM")
	}
}

// TestTrackerBinaryLibtorrentSwarm: a libtorrent seeder and leecher on 127.0.0.2 and
// 127.0.0.3 (DHT, LSD, UPnP, NAT-PMP off) complete a download through the built binary, over
// HTTP and over UDP.
func TestTrackerBinaryLibtorrentSwarm(t *testing.T) {
	out, err := exec.Command("/usr/bin/python3", "-c", "import libtorrent").CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("libtorrent unavailable: %v %s (Debian package python3-libtorrent)", err, out)
		if os.Getenv("SHOAL_REQUIRE_PEERS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; set SHOAL_REQUIRE_PEERS=1 to make this a failure")
	}
	script, _ := filepath.Abs("../../tracker/testdata/lt_peer.py")
	p := startTrackerBinary(t)
	for _, url := range []string{"http://" + p.http + "/announce", "udp://" + p.udp + "/announce"} {
		t.Run(strings.SplitN(url, ":", 2)[0], func(t *testing.T) {
			dir := t.TempDir()
			seedDir, leechDir := filepath.Join(dir, "seed"), filepath.Join(dir, "leech")
			os.MkdirAll(seedDir, 0o755)
			os.MkdirAll(leechDir, 0o755)
			payload := bytes.Repeat([]byte("through the tracker only "), 100_000)
			os.WriteFile(filepath.Join(seedDir, "payload"), payload, 0o644)
			torrent := filepath.Join(dir, "payload.torrent")
			if out, err := exec.Command("/usr/bin/python3", script, "make", filepath.Join(seedDir, "payload"), url, torrent).CombinedOutput(); err != nil {
				t.Fatalf("make torrent: %v %s", err, out)
			}
			seeder := exec.Command("/usr/bin/python3", script, "seed", torrent, seedDir, "127.0.0.2")
			var seedOut testpeers.SyncBuffer
			seeder.Stdout, seeder.Stderr = &seedOut, &seedOut
			if err := seeder.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { seeder.Process.Signal(os.Interrupt); seeder.Wait() }()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			leecher := exec.CommandContext(ctx, "/usr/bin/python3", script, "leech", torrent, leechDir, "127.0.0.3")
			out, err := leecher.CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"done"`) {
				t.Fatalf("leecher: %v\n%s\nseeder:\n%s", err, out, seedOut.String())
			}
			got, _ := os.ReadFile(filepath.Join(leechDir, "payload"))
			if !bytes.Equal(got, payload) {
				t.Fatal("leecher's copy differs")
			}
		})
	}
}
