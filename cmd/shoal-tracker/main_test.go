package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"shoal/internal/testpeers"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shoal-tracker-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "shoal-tracker")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("building shoal-tracker: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// The binary serves announces with the tracker's flags and stops cleanly on SIGTERM.
func TestServesAndStopsOnSIGTERM(t *testing.T) {
	logs := &testpeers.SyncBuffer{}
	cmd := exec.Command(binary, "--http", "127.0.0.1:0", "--udp", "", "--interval", "5m", "--min-interval", "1m")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	m := testpeers.WaitSubmatch(logs, regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`), 10*time.Second)
	if m == nil {
		t.Fatalf("no 'tracker serving' line: %s", logs.String())
	}
	addr := m[1]
	q := "info_hash=" + strings.Repeat("%41", 20) + "&peer_id=" + strings.Repeat("B", 20) + "&port=6881&left=1&compact=1"
	resp, err := http.Get("http://" + addr + "/announce?" + q)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("8:intervali300e")) || bytes.Contains(body, []byte("failure reason")) {
		t.Fatalf("announce: %d %q", resp.StatusCode, body)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v (log: %s)", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10 s after SIGTERM")
	}
}

// A bad flag is bad input: exit status 2 and a message naming the flag, nothing served.
func TestBadFlagExitsTwo(t *testing.T) {
	out, err := exec.Command(binary, "--max-numwant", "lots").CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want status 2; output %s", err, out)
	}
	if !strings.Contains(string(out), "max-numwant") {
		t.Errorf("message does not name the flag: %s", out)
	}
}
