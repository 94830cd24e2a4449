package testpeers

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
			// Stat it so that go test's result cache notices a rebuilt binary.
			_, shoalErr = os.Stat(p)
			shoalBin = p
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
			shoalErr = statSources(ctx)
		}
	})
	if shoalErr != nil {
		t.Fatalf("build shoal: %v", shoalErr)
	}
	return shoalBin
}

// statSources stats every file of this module that the shoal binary is built from. go test
// caches a passing result keyed on the test binary and on the files the test stats or opens;
// the build above runs in a subprocess the cache cannot see, so without this a plain
// `go test ./...` would replay a stale PASS after shoal's code changed. (Files in the module
// cache are immutable by version, which go.sum pins.)
func statSources(ctx context.Context) error {
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return fmt.Errorf("go list -m: %w", err)
	}
	mod := strings.TrimSpace(string(root))
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", "-f",
		`{{if not .Standard}}{{.Dir}}|{{join .GoFiles "|"}}|{{join .EmbedFiles "|"}}{{end}}`, "shoal/cmd/shoal").Output()
	if err != nil {
		return fmt.Errorf("go list -deps shoal/cmd/shoal: %w", err)
	}
	paths := []string{filepath.Join(mod, "go.mod"), filepath.Join(mod, "go.sum")}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "|")
		if f[0] == "" || (f[0] != mod && !strings.HasPrefix(f[0], mod+string(filepath.Separator))) {
			continue
		}
		paths = append(paths, f[0]) // a directory's mtime changes when a file is added
		for _, name := range f[1:] {
			if name != "" {
				paths = append(paths, filepath.Join(f[0], name))
			}
		}
	}
	for _, p := range paths {
		_, _ = os.Stat(p)
	}
	return nil
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

// LoopbackIP returns a 127.x.y.z address no other test of this binary uses, so peers of
// parallel tests never share an IP (libraries ban and count connections per IP). Linux routes
// all of 127/8 to lo, so any of them can be bound without setup. The second and third octets
// come from the pid so that test binaries running at once (go test ./... runs packages in
// parallel) use different addresses too; the host part starts at .10.
func LoopbackIP() string {
	n := int(loopbackSeq.Add(1)) - 1
	// The process ID picks the second and third bytes, so test binaries that run at the same
	// time (go test runs packages in parallel) do not share addresses.
	pid := os.Getpid() + n/240
	return fmt.Sprintf("127.%d.%d.%d", (pid/250)%250+1, pid%250+1, 10+n%240)
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
