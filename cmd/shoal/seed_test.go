package main

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"shoal/internal/testpeers"
)

// --webseed puts a BEP 19 web seed in the torrent and in the magnet link,
// and a recipient fetches the folder from it alone once the seed is gone;
// --qr draws the link on stderr and leaves stdout to the events.
func TestSeedWebSeedAndQR(t *testing.T) {
	dir := t.TempDir()
	share := filepath.Join(dir, "share")
	writeRandom(t, filepath.Join(share, "pkg", "a.bin"), 1<<20+5)
	writeRandom(t, filepath.Join(share, "pkg", "sub", "b.bin"), 40_000)

	ln, err := net.Listen("tcp", "127.0.0.46:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	files := http.FileServer(http.Dir(share))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		files.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	webseed := "http://" + ln.Addr().String() + "/"

	torrent := filepath.Join(dir, "pkg.torrent")
	seed := start(t, append([]string{"seed", filepath.Join(share, "pkg"), "--listen", "127.0.0.45:0",
		"--state", filepath.Join(dir, "seedstate"), "--serve-tracker", "127.0.0.45:0",
		"--webseed", webseed, "--torrent-out", torrent, "--qr"}, offline...)...)
	ready := seed.next(t, 30*time.Second, "seed ready", func(e event) bool { return e.Event == "done" })
	if !strings.Contains(ready.Magnet, "ws="+url.QueryEscape(webseed)) {
		t.Errorf("magnet %q does not name the web seed %s", ready.Magnet, webseed)
	}
	if !strings.Contains(ready.Magnet, "tr=http%3A%2F%2F127.0.0.45%3A") {
		t.Errorf("magnet %q does not name the built-in tracker", ready.Magnet)
	}
	seed.cmd.Process.Kill()
	seed.cmd.Wait()
	if !strings.Contains(seed.stderr.String(), "█▀▀▀▀▀█") {
		t.Errorf("--qr drew no QR code on stderr: %q", seed.stderr.String())
	}

	// The seed is gone: every byte now comes from the web seed.
	r := run(t, append([]string{"get", torrent, "-o", filepath.Join(dir, "dl"), "--listen", "127.0.0.47:0",
		"--state", filepath.Join(dir, "getstate"), "--timeout", "30s"}, offline...)...)
	if r.code != 0 {
		t.Fatalf("get from the web seed: exit %d: %s", r.code, r.stderr)
	}
	for _, name := range []string{"a.bin", filepath.Join("sub", "b.bin")} {
		if fileSHA(t, filepath.Join(dir, "dl", "pkg", name)) != fileSHA(t, filepath.Join(share, "pkg", name)) {
			t.Errorf("%s differs", name)
		}
	}
	if hits.Load() == 0 {
		t.Error("the web seed served nothing")
	}
}

// --seed-ratio ends the seed once it has sent the folder and a recipient
// holds every piece; --seed-time ends a recipient's seeding. Both stop on
// their own with exit 0 and a "seeded" event.
func TestSeedLimitsEndSeeding(t *testing.T) {
	dir := t.TempDir()
	writeRandom(t, filepath.Join(dir, "share", "pkg", "a.bin"), 3<<20+7)
	seed := start(t, append([]string{"seed", filepath.Join(dir, "share", "pkg"), "--listen", "127.0.0.48:0",
		"--state", filepath.Join(dir, "seedstate"), "--serve-tracker", "127.0.0.48:0", "--seed-ratio", "1"}, offline...)...)
	ready := seed.next(t, 30*time.Second, "seed ready", func(e event) bool { return e.Event == "done" })

	get := start(t, append([]string{"get", ready.Magnet, "-o", filepath.Join(dir, "dl"), "--listen", "127.0.0.49:0",
		"--state", filepath.Join(dir, "getstate"), "--seed-time", "2s"}, offline...)...)
	done := get.next(t, 60*time.Second, "recipient done", func(e event) bool { return e.Event == "done" })
	seeded := get.next(t, 30*time.Second, "recipient seeded", func(e event) bool { return e.Event == "seeded" })
	if seeded.InfoHash != done.InfoHash {
		t.Errorf("seeded event for %s, want %s", seeded.InfoHash, done.InfoHash)
	}
	if err := get.cmd.Wait(); err != nil {
		t.Errorf("recipient after --seed-time: %v", err)
	}
	up := seed.next(t, 30*time.Second, "seed seeded", func(e event) bool { return e.Event == "seeded" })
	if up.Uploaded < 3<<20+7 {
		t.Errorf("seed stopped after uploading %d bytes, under the folder's size", up.Uploaded)
	}
	if err := seed.cmd.Wait(); err != nil {
		t.Errorf("seed after --seed-ratio: %v", err)
	}
	if fileSHA(t, filepath.Join(dir, "dl", "pkg", "a.bin")) != fileSHA(t, filepath.Join(dir, "share", "pkg", "a.bin")) {
		t.Error("a.bin differs")
	}
}

// A file of the folder changed while `shoal seed` runs (without --json): it says so on the
// terminal and goes on seeding the rest, rather than stopping.
func TestSeedWarnsWhenFileChanges(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "share", "a.bin")
	writeRandom(t, a, 1<<20)
	writeRandom(t, filepath.Join(dir, "share", "b.bin"), 1<<20)
	cmd := exec.Command(shoalBin, append([]string{"seed", filepath.Join(dir, "share"), "--listen", "127.0.0.52:0",
		"--state", filepath.Join(dir, "state")}, offline...)...)
	cmd.Env = append(os.Environ(), "SHOAL_CONFIG="+filepath.Join(t.TempDir(), "none.toml"))
	var out testpeers.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	if testpeers.WaitSubmatch(&out, regexp.MustCompile(`seeding share from`), 30*time.Second) == nil {
		t.Fatalf("seed never started:\n%s", out.String())
	}
	data, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	data[1000] ^= 0xff
	if err := os.WriteFile(a, data, 0o644); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	os.Chtimes(a, later, later)
	if testpeers.WaitSubmatch(&out, regexp.MustCompile(`warning: share: .*a\.bin changed on disk`), 30*time.Second) == nil {
		t.Fatalf("no warning about a.bin:\n%s", out.String())
	}
	select {
	case err := <-exited:
		t.Fatalf("shoal seed exited after the change (%v):\n%s", err, out.String())
	case <-time.After(3 * time.Second):
	}
}
