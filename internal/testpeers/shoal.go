package testpeers

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ShoalBinEnv names a prebuilt shoal binary to test instead of building one.
const ShoalBinEnv = "SHOAL_BIN"

var (
	shoalOnce sync.Once
	shoalBin  string
	shoalErr  error
	buildDir  string
)

// Shoal returns the path of a shoal binary built from this module's cmd/shoal, building it on
// first use only: each test binary links shoal once however many tests use it, and a `go test
// -run` that needs no shoal builds nothing. A build failure fails the test — it is our code, not
// a missing peer. Call Main from TestMain so the build folder is removed.
func Shoal(t testing.TB) string {
	t.Helper()
	shoalOnce.Do(func() {
		if p := os.Getenv(ShoalBinEnv); p != "" {
			shoalBin, shoalErr = p, nil
			return
		}
		buildDir, shoalErr = os.MkdirTemp("", "shoal-interop-")
		if shoalErr != nil {
			return
		}
		bin := filepath.Join(buildDir, "shoal")
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if _, shoalErr = run(ctx, "go", "build", "-o", bin, "shoal/cmd/shoal"); shoalErr == nil {
			shoalBin = bin
			fmt.Fprintf(os.Stderr, "testpeers: built %s in %v\n", bin, time.Since(start).Round(time.Millisecond))
		}
	})
	if shoalErr != nil {
		t.Fatalf("build shoal: %v", shoalErr)
	}
	return shoalBin
}

// Main runs the tests and removes what the harness left behind (the shoal build); use it as
// `func TestMain(m *testing.M) { os.Exit(testpeers.Main(m)) }`.
func Main(m interface{ Run() int }) int {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	return code
}

// QuietFlags turn off every way shoal could look for peers beyond the ones a test gives it.
var QuietFlags = []string{"--no-dht", "--no-lsd", "--no-upnp", "--no-pex"}

// loopbackSeq hands out host addresses in 127.0.0.0/8 to tests of this binary.
var loopbackSeq atomic.Uint32

// LoopbackIP returns a 127.0.x.y address no other test of this binary uses, so peers of
// parallel tests never share an IP (libraries ban and count connections per IP). Linux routes
// all of 127/8 to lo, so any of them can be bound without setup. The third octet comes from the
// pid so that test binaries running at once (go test ./... runs packages in parallel) use
// different addresses too; the host part starts at .10, clear of 127.0.0.1 and the .2/.3 of
// examples.
func LoopbackIP() string {
	n := int(loopbackSeq.Add(1)) - 1
	return fmt.Sprintf("127.0.%d.%d", (os.Getpid()+n/240)%250+1, 10+n%240)
}

// FreePort returns a port free for both TCP and UDP on ip (BitTorrent clients listen on both
// with one number). Another process could take it before the caller binds; on loopback
// addresses used by one test that race does not happen in practice.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatalf("no port free for TCP and UDP on %s", ip)
	return 0
}

// StartShoal runs the shoal binary with args (inside ns unless nil). Its config, state and
// download folders default to fresh temporary ones, so a developer's own config file or session
// never leaks into a test; tests still pass --state and -o explicitly.
func StartShoal(t testing.TB, ns *Netns, name string, args ...string) *Proc {
	t.Helper()
	bin := Shoal(t)
	home := t.TempDir()
	env := []string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"XDG_STATE_HOME=" + filepath.Join(home, "state"),
		"XDG_DOWNLOAD_DIR=" + filepath.Join(home, "downloads"),
	}
	return StartEnv(t, ns, name, env, append([]string{bin}, args...)...)
}

// HaveCommand reports whether the shoal binary understands a subcommand: a test of a command
// the lead has not written yet fails with that said plainly, not with a usage dump.
func HaveCommand(bin, sub string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, bin, sub, "--help").Run() == nil
}
