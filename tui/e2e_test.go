package tui

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"shoal/internal/testpeers"
)

func TestMain(m *testing.M) { os.Exit(testpeers.Main(m)) }

// tmux drives one private tmux server (its own socket in a temp folder),
// so the test never touches the user's sessions.
type tmux struct {
	t      *testing.T
	bin    string
	socket string
}

func (x *tmux) run(args ...string) (string, error) {
	out, err := exec.Command(x.bin, append([]string{"-S", x.socket}, args...)...).CombinedOutput()
	return string(out), err
}

// The real binary in a real terminal: shoal open MAGNET in tmux against a
// local shoal seeder, read the screen until the download completes, quit
// with q, and check the data and that the torrent stayed in the session.
func TestEndToEndTmux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds shoal and downloads over loopback")
	}
	tmuxBin := testpeers.RequireTool(t, "tmux", "tmux")
	shoal := testpeers.Shoal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dir := t.TempDir()
	share := filepath.Join(dir, "share", "tui-e2e-payload")
	testpeers.WriteFile(t, filepath.Join(share, "data.bin"), 24<<20, 4)
	testpeers.WriteFile(t, filepath.Join(share, "notes", "readme.txt"), 1000, 5)
	seedIP := testpeers.LoopbackIP()
	seedAddr := seedIP + ":" + strconv.Itoa(testpeers.FreePort(t, seedIP))
	seeder := testpeers.StartShoal(t, nil, "seeder", "seed", share, "--listen", seedAddr,
		"--state", filepath.Join(dir, "seed-state"), "--no-dht", "--no-lsd", "--no-upnp")
	magnet, err := seeder.WaitLine(ctx, func(l string) bool { return strings.HasPrefix(l, "magnet:") })
	if err != nil {
		t.Fatal(err)
	}

	x := &tmux{t: t, bin: tmuxBin, socket: filepath.Join(dir, "tmux.sock")}
	t.Cleanup(func() { x.run("kill-server") })
	home := filepath.Join(dir, "home")
	state, data := filepath.Join(dir, "state"), filepath.Join(dir, "downloads")
	exitFile := filepath.Join(dir, "exit")
	leechIP := testpeers.LoopbackIP()
	cmd := fmt.Sprintf("env HOME=%s XDG_CONFIG_HOME=%s/config XDG_STATE_HOME=%s/state TERM=xterm-256color %s open %s "+
		"--peer %s --listen %s:0 --state %s --data %s --no-dht --no-lsd --no-upnp --no-pex; echo $? > %s",
		home, home, home, shoal, shellQuote(magnet), seedAddr, leechIP, state, data, exitFile)
	if out, err := x.run("new-session", "-d", "-s", "e2e", "-x", "100", "-y", "30", cmd); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}

	// The torrent's row reads "seed" and "100%" once every piece is verified.
	var screen string
	deadline := time.Now().Add(90 * time.Second)
	for {
		screen, _ = x.run("capture-pane", "-p", "-t", "e2e")
		if rowDone(screen, "tui-e2e-payload") {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("no completed download on screen after 90 s; last screen:\n%s", screen)
		}
		if _, err := os.Stat(exitFile); err == nil {
			b, _ := os.ReadFile(exitFile)
			t.Fatalf("shoal open exited (status %s) before completing; last screen:\n%s", strings.TrimSpace(string(b)), screen)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("screen once complete:\n%s", screen)
	for _, want := range []string{"seeding runs only while shoal runs", "DHT", "shoal", "1 torrent"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if out, err := x.run("send-keys", "-t", "e2e", "q"); err != nil {
		t.Fatalf("send-keys: %v: %s", err, out)
	}
	for {
		if b, err := os.ReadFile(exitFile); err == nil && len(b) > 0 {
			if s := strings.TrimSpace(string(b)); s != "0" {
				t.Fatalf("shoal open exited with status %s", s)
			}
			break
		}
		if ctx.Err() != nil {
			screen, _ = x.run("capture-pane", "-p", "-t", "e2e")
			t.Fatalf("shoal open did not quit on q; screen:\n%s", screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
	testpeers.AssertSameTree(t, share, filepath.Join(data, "tui-e2e-payload"))
	// Torrents persist when the UI quits.
	session, err := os.ReadFile(filepath.Join(state, "session.json"))
	if err != nil || !strings.Contains(string(session), "magnet:") {
		t.Errorf("session after quitting: %v %s", err, session)
	}
}

// rowDone finds the list row of a torrent showing it complete.
func rowDone(screen, name string) bool {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, name) && strings.Contains(l, " seed ") && strings.Contains(l, "100%") {
			return true
		}
	}
	return false
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
