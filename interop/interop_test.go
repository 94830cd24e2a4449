// Package interop_test checks that shoal exchanges data with BitTorrent clients nobody here
// wrote: libtorrent-rasterbar (python3-libtorrent) and Transmission, all from Debian. Each test
// moves a generated payload between shoal and one of them and compares the sha256 of what
// arrived with the source's. A missing client skips the test, or fails it when
// SHOAL_REQUIRE_PEERS=1 (CI). The harness is internal/testpeers.
package interop_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"shoal/internal/testpeers"
)

func TestMain(m *testing.M) { os.Exit(testpeers.Main(m)) }

const (
	// testTimeout bounds each transfer test; a healthy one takes 1–3 s on loopback and about
	// 15 s with Transmission, whose choke and interest decisions run every 10 s.
	testTimeout = 60 * time.Second
	// getTimeout is shoal get's --timeout: a stalled download ends with shoal's own error
	// line well before testTimeout, so the failure says what shoal saw.
	getTimeout = "45s"
)

// newCtx returns the test's deadline context; tests that need real peers skip under -short.
// The shoal binary is built (once) before the clock starts, so a slow first build on a loaded
// machine does not eat into one test's time.
func newCtx(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("interop: real peers, skipped with -short")
	}
	testpeers.Shoal(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// shoalSeed is a running `shoal seed`.
type shoalSeed struct {
	*testpeers.Proc
	Addr   string // where it listens
	Magnet string // the first line of its stdout
}

// startShoalSeed runs `shoal seed SOURCE --listen ADDR` with discovery off and waits for the
// magnet link, which shoal prints as its first stdout line once it can serve.
func startShoalSeed(t *testing.T, ctx context.Context, ns *testpeers.Netns, addr, source string, extra ...string) *shoalSeed {
	t.Helper()
	args := append([]string{"seed", source, "--listen", addr, "--state", t.TempDir()}, testpeers.QuietFlags...)
	args = append(args, extra...)
	p := testpeers.StartShoal(t, ns, "shoal seed", args...)
	first, err := p.WaitLine(ctx, func(string) bool { return true })
	if err != nil {
		t.Fatalf("shoal seed printed nothing: %v", err)
	}
	if !strings.HasPrefix(first, "magnet:?") {
		t.Fatalf("shoal seed: first stdout line %q is not a magnet link", first)
	}
	t.Logf("shoal seed serving on %s after %v: %s", addr, p.Runtime().Round(time.Millisecond), first)
	return &shoalSeed{Proc: p, Addr: addr, Magnet: first}
}

// stop ends the seed with SIGTERM and checks it exits cleanly, as `shoal seed` promises.
func (s *shoalSeed) stop(t *testing.T) {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Errorf("shoal seed did not exit cleanly on SIGTERM: %v; stderr: %s", err, s.Stderr())
	}
}

// shoalGet runs `shoal get SOURCE -o OUT --listen LISTEN --peer PEER…` with discovery off and
// returns once it exits; exit status 0 means shoal verified every piece.
func shoalGet(t *testing.T, ctx context.Context, ns *testpeers.Netns, source, out, listen string, peers []string, extra ...string) {
	t.Helper()
	args := []string{"get", source, "-o", out, "--listen", listen, "--state", t.TempDir(), "--timeout", getTimeout}
	args = append(args, testpeers.QuietFlags...)
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	args = append(args, extra...)
	p := testpeers.StartShoal(t, ns, "shoal get", args...)
	err := p.Wait(ctx)
	if err != nil {
		t.Fatalf("shoal get failed after %v: %v\nstderr:\n%s", p.Runtime().Round(time.Millisecond), err, lastLines(p.Stderr(), 20))
	}
	t.Logf("shoal get finished in %v", p.Runtime().Round(time.Millisecond))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// loopback returns a fresh 127.0.x.y with a port free on it.
func loopback(t *testing.T) string {
	ip := testpeers.LoopbackIP()
	return net.JoinHostPort(ip, strconv.Itoa(testpeers.FreePort(t, ip)))
}
