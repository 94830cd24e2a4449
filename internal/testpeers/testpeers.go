// Package testpeers runs BitTorrent peers that nobody here wrote — libtorrent-rasterbar
// (python3-libtorrent), Transmission (transmission-daemon) — and the shoal binary against each
// other, so tests can check that shoal interoperates with real clients.
//
// Everything binds to 127.0.0.x or to addresses inside network namespaces the harness creates
// and removes: no packet leaves the machine. DHT, LSD, UPnP, NAT-PMP and PEX are off on every
// peer it starts. Each process is tied to the test that started it and stopped in t.Cleanup,
// even when the test fails; on failure the tails of its stdout and stderr are logged.
//
// A peer that is not installed skips the test with the reason, unless SHOAL_REQUIRE_PEERS=1
// (set by CI after installing them), in which case the test fails instead.
package testpeers

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// RequireEnv is the environment variable that turns "peer missing" skips into failures.
const RequireEnv = "SHOAL_REQUIRE_PEERS"

// RequirePeer stops the test when ok is false: it skips with why, or fails when
// SHOAL_REQUIRE_PEERS=1, because CI installs every peer and a skip there would hide a broken
// setup behind a green run.
func RequirePeer(t testing.TB, what string, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s unavailable (%s=1): %s", what, RequireEnv, why)
	}
	t.Skipf("%s unavailable: %s (set %s=1 to make this a failure)", what, why, RequireEnv)
}

// lookPath memoises exec.LookPath: many tests ask for the same tools.
var lookPath = memo(func(name string) (string, error) { return exec.LookPath(name) })

// RequireTool returns the path of an executable on PATH, or stops the test via RequirePeer.
func RequireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := lookPath(name)
	RequirePeer(t, name, err == nil, fmt.Sprintf("%v (Debian package %s)", err, pkg))
	return p
}

// memo caches a probe per key for the life of the test binary; probes run external programs
// and their answers do not change during a run.
func memo[V any](f func(string) (V, error)) func(string) (V, error) {
	type result struct {
		v   V
		err error
	}
	var mu sync.Mutex
	cache := map[string]*result{}
	return func(k string) (V, error) {
		mu.Lock()
		defer mu.Unlock()
		if r, ok := cache[k]; ok {
			return r.v, r.err
		}
		v, err := f(k)
		cache[k] = &result{v, err}
		return v, err
	}
}
