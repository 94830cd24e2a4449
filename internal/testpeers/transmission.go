package testpeers

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Transmission is a transmission-daemon running alone in a network namespace, controlled with
// transmission-remote over its RPC port on the namespace's own loopback. Transmission 3.00
// refuses peers on 127.x and takes one peer per IP, hence the namespace.
type Transmission struct {
	*Proc
	Netns *Netns
	Port  int // peer port on Netns.IP

	t      testing.TB
	remote string
}

// TROptions configures a Transmission daemon.
type TROptions struct {
	Encryption string // "prefer" (default), "require", or "off" (Transmission's "tolerated": it
	// still accepts encrypted peers, but prefers plaintext)
	Port int // peer port, default 51413
}

const trRPC = "127.0.0.1:9091"

// StartTransmission starts transmission-daemon in ns with DHT, LPD, uTP, PEX, port forwarding,
// blocklists and queueing off, and waits until its RPC answers.
func StartTransmission(t testing.TB, ctx context.Context, ns *Netns, o TROptions) *Transmission {
	t.Helper()
	daemon := RequireTool(t, "transmission-daemon", "transmission-daemon")
	remote := RequireTool(t, "transmission-remote", "transmission-cli")
	if o.Port == 0 {
		o.Port = 51413
	}
	enc, ok := map[string]int{"off": 0, "": 1, "prefer": 1, "require": 2}[o.Encryption]
	if !ok {
		t.Fatalf("testpeers: bad Transmission encryption %q", o.Encryption)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	dl := filepath.Join(dir, "downloads")
	for _, d := range []string{cfg, dl} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	settings := map[string]any{
		"bind-address-ipv4":           ns.IP,
		"bind-address-ipv6":           "::1",
		"peer-port":                   o.Port,
		"peer-port-random-on-start":   false,
		"encryption":                  enc,
		"dht-enabled":                 false,
		"lpd-enabled":                 false,
		"utp-enabled":                 false,
		"pex-enabled":                 false,
		"port-forwarding-enabled":     false,
		"blocklist-enabled":           false,
		"rpc-enabled":                 true,
		"rpc-bind-address":            "127.0.0.1",
		"rpc-port":                    9091,
		"rpc-authentication-required": false,
		"rpc-whitelist-enabled":       false,
		"rpc-host-whitelist-enabled":  false,
		"download-dir":                dl,
		"incomplete-dir-enabled":      false,
		"watch-dir-enabled":           false,
		"start-added-torrents":        true,
		// Files keep their final names while downloading: the harness hashes them by name.
		"rename-partial-files":           false,
		"ratio-limit-enabled":            false,
		"idle-seeding-limit-enabled":     false,
		"speed-limit-up-enabled":         false,
		"speed-limit-down-enabled":       false,
		"alt-speed-enabled":              false,
		"download-queue-enabled":         false,
		"seed-queue-enabled":             false,
		"queue-stalled-enabled":          false,
		"scrape-paused-torrents-enabled": false,
		"message-level":                  2, // info: peer errors show up in the failure log
	}
	b, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "settings.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	tr := &Transmission{
		Proc:   Start(t, ns, "transmission-daemon", daemon, "-f", "-g", cfg),
		Netns:  ns,
		Port:   o.Port,
		t:      t,
		remote: remote,
	}
	// Registered after Start, so it runs before the daemon is stopped: on failure, log what
	// Transmission itself thought of the torrents and peers.
	t.Cleanup(func() {
		if !t.Failed() || tr.Exited() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		info, _ := tr.Remote(ctx, "-t", "all", "-i")
		peers, _ := tr.Remote(ctx, "-t", "all", "-pi")
		t.Logf("transmission in %s:\n%s\npeers:\n%s", ns.Name, info, peers)
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := tr.Remote(ctx, "-si"); err == nil {
			break
		} else if tr.Exited() || time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("transmission-daemon RPC not answering: %v; stderr: %s", err, tail(tr.Stderr(), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return tr
}

// Addr is the daemon's peer address.
func (tr *Transmission) Addr() string { return tr.Netns.Addr(tr.Port) }

// Remote runs transmission-remote against the daemon with args.
func (tr *Transmission) Remote(ctx context.Context, args ...string) (string, error) {
	return tr.Netns.Exec(ctx, append([]string{tr.remote, trRPC}, args...)...)
}

// Add adds a .torrent file or a magnet link with dir as its download folder. To seed, dir must
// hold the data (dir/NAME); call WaitComplete to wait for Transmission's check.
func (tr *Transmission) Add(ctx context.Context, source, dir string) {
	tr.t.Helper()
	// -w after -a applies to the torrent being added, not to the session.
	out, err := tr.Remote(ctx, "-a", source, "-w", dir)
	if err != nil || !strings.Contains(out, "success") {
		tr.t.Fatalf("transmission add %s: %v %s", source, err, out)
	}
}

// Verify asks Transmission to hash-check the torrent's local data (for a seed whose data was
// there before the torrent was added).
func (tr *Transmission) Verify(ctx context.Context, infohash string) {
	tr.t.Helper()
	if out, err := tr.Remote(ctx, "-t", infohash, "-v"); err != nil {
		tr.t.Fatalf("transmission verify: %v %s", err, out)
	}
}

// Info returns the "Key: value" lines of `transmission-remote -t HASH -i`.
func (tr *Transmission) Info(ctx context.Context, infohash string) (map[string]string, error) {
	out, err := tr.Remote(ctx, "-t", infohash, "-i")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	if m["Hash"] == "" {
		return nil, fmt.Errorf("transmission has no torrent %s: %s", infohash, strings.TrimSpace(out))
	}
	return m, nil
}

// WaitComplete polls until Transmission has every piece of the torrent verified (a download
// finished, or a seed's check done) and returns the last info. Transmission hash-checks each
// piece as it arrives, so 100% means verified.
func (tr *Transmission) WaitComplete(ctx context.Context, infohash string) (map[string]string, error) {
	var last map[string]string
	var lastErr error
	for {
		info, err := tr.Info(ctx, infohash)
		if err == nil {
			last = info
			if e := info["Error"]; e != "" && e != "None" {
				return info, fmt.Errorf("transmission: torrent error: %s", e)
			}
			state := info["State"]
			if info["Percent Done"] == "100%" && (state == "Seeding" || state == "Idle" || state == "Finished") {
				return info, nil
			}
		}
		lastErr = err
		if tr.Exited() {
			return last, fmt.Errorf("transmission-daemon exited: %v", tr.Wait(ctx))
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("transmission not complete (state %q, %q done, have %q, peers %q): %w (last rpc error %v)",
				last["State"], last["Percent Done"], last["Have"], last["Peers"], context.Cause(ctx), lastErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
