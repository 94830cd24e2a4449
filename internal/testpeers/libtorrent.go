package testpeers

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// ltPeerPy drives libtorrent; embedded so the tests need nothing outside the repository.
//
//go:embed lt_peer.py
var ltPeerPy []byte

// PythonEnv overrides the interpreter used for libtorrent.
const PythonEnv = "SHOAL_LT_PYTHON"

var ltProbe = memo(func(string) (string, error) {
	// Debian's /usr/bin/python3 has the module; a python3 earlier on PATH (pyenv, venv) often
	// does not, so it is only the last resort.
	cands := []string{"/usr/bin/python3"}
	if p := os.Getenv(PythonEnv); p != "" {
		cands = []string{p}
	} else if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	var errs []error
	for _, py := range cands {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := run(ctx, py, "-c", "import libtorrent")
		cancel()
		if err == nil {
			return py, nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("no python3 with libtorrent (Debian package python3-libtorrent; or set %s): %w",
		PythonEnv, errors.Join(errs...))
})

// Libtorrent returns a python3 that can import libtorrent, or stops the test (RequirePeer).
func Libtorrent(t testing.TB) string {
	t.Helper()
	py, err := ltProbe("")
	RequirePeer(t, "libtorrent", err == nil, fmt.Sprint(err))
	return py
}

// LTOptions configures a libtorrent peer.
type LTOptions struct {
	Torrent    string   // .torrent path; or
	Magnet     string   // a magnet link (leech only)
	Save       string   // save path: the torrent's name lives inside
	Listen     string   // IP:PORT; port 0 lets libtorrent choose (see LTPeer.Port)
	Peers      []string // IP:PORT to dial, retried every 2 s while none is connected
	Seed       bool     // check the data in Save and serve it
	Encryption string   // "prefer" (default), "require" or "off"
	UTP        bool     // allow uTP besides TCP
	Timeout    time.Duration
	Netns      *Netns // run inside this namespace (nil: the host's)
}

// LTPeer is a running libtorrent peer.
type LTPeer struct {
	*Proc
	Port int // the listen port, known once StartLibtorrent returns
	IP   string
}

// Addr is IP:port of the peer's listener.
func (p *LTPeer) Addr() string { return p.IP + ":" + strconv.Itoa(p.Port) }

// LibtorrentScript returns the python interpreter with libtorrent and the
// path of lt_peer.py, written to a temporary folder, for tests that run the
// driver with their own arguments.
func LibtorrentScript(t testing.TB) (python, script string) {
	t.Helper()
	python = Libtorrent(t)
	script = filepath.Join(t.TempDir(), "lt_peer.py")
	if err := os.WriteFile(script, ltPeerPy, 0o644); err != nil {
		t.Fatal(err)
	}
	return python, script
}

// StartLibtorrent starts lt_peer.py and waits until it listens (and, for a seed, until its data
// checked out and it serves). The process is stopped at the end of the test.
func StartLibtorrent(t testing.TB, ctx context.Context, o LTOptions) *LTPeer {
	t.Helper()
	py, script := LibtorrentScript(t)
	if o.Encryption == "" {
		o.Encryption = "prefer"
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	argv := []string{py, "-u", script, "--save", o.Save, "--listen", o.Listen,
		"--encryption", o.Encryption, "--timeout", strconv.FormatFloat(o.Timeout.Seconds(), 'f', -1, 64)}
	switch {
	case o.Torrent != "":
		argv = append(argv, "--torrent", o.Torrent)
	case o.Magnet != "":
		argv = append(argv, "--magnet", o.Magnet)
	default:
		t.Fatal("testpeers: LTOptions needs Torrent or Magnet")
	}
	for _, pe := range o.Peers {
		argv = append(argv, "--peer", pe)
	}
	if o.Seed {
		argv = append(argv, "--seed")
	}
	if o.UTP {
		argv = append(argv, "--transport", "both")
	}
	role := "leech"
	if o.Seed {
		role = "seed"
	}
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &LTPeer{Proc: Start(t, o.Netns, "libtorrent "+role, argv...), IP: host}
	ev, err := p.WaitEvent(ctx, "listening", "error")
	if err != nil {
		t.Fatalf("libtorrent %s: %v", role, err)
	}
	if ev.Str("event") == "error" {
		t.Fatalf("libtorrent %s: %s", role, ev.Str("error"))
	}
	p.Port = int(ev.Num("port"))
	if o.Seed {
		ev, err := p.WaitEvent(ctx, "ready", "error")
		if err != nil {
			t.Fatalf("libtorrent seed: %v", err)
		}
		if ev.Str("event") == "error" {
			t.Fatalf("libtorrent seed: %s", ev.Str("error"))
		}
		t.Logf("libtorrent seed ready on %s after %.2fs", p.Addr(), ev.Num("check_s"))
	}
	return p
}

// LTPeerSeen is what libtorrent saw of one remote peer (from the "peers" list of its events).
type LTPeerSeen struct {
	Addr       string
	Client     string
	Outgoing   bool // libtorrent dialled it
	Encrypted  bool // RC4 or an encrypted handshake with plaintext payload
	RC4        bool
	Downloaded int64
	Uploaded   int64
}

// Peers decodes the "peers" field of a done, exit or error event.
func (e Event) Peers() []LTPeerSeen {
	list, _ := e["peers"].([]any)
	var out []LTPeerSeen
	for _, x := range list {
		m, _ := x.(map[string]any)
		ev := Event(m)
		rc4, _ := m["rc4"].(bool)
		pe, _ := m["plaintext_encrypted"].(bool)
		outg, _ := m["outgoing"].(bool)
		out = append(out, LTPeerSeen{
			Addr: ev.Str("addr"), Client: ev.Str("client"), Outgoing: outg,
			Encrypted: rc4 || pe, RC4: rc4,
			Downloaded: int64(ev.Num("downloaded")), Uploaded: int64(ev.Num("uploaded")),
		})
	}
	return out
}

// WaitDone waits for a leecher to finish: every piece downloaded and hash-checked by
// libtorrent, files closed, process exited 0. It returns the "done" event.
func (p *LTPeer) WaitDone(ctx context.Context) (Event, error) {
	ev, err := p.WaitEvent(ctx, "done", "error")
	if err != nil {
		return nil, err
	}
	if ev.Str("event") == "error" {
		return ev, fmt.Errorf("libtorrent leech: %s (peers seen: %+v)", ev.Str("error"), ev.Peers())
	}
	if err := p.Wait(ctx); err != nil {
		return ev, fmt.Errorf("libtorrent leech exited after done: %w", err)
	}
	return ev, nil
}

// StopSeed stops a seeding peer and returns its "exit" event (bytes uploaded, peers seen).
func (p *LTPeer) StopSeed(ctx context.Context) (Event, error) {
	if err := p.Stop(); !ExitedCleanly(err) {
		return nil, fmt.Errorf("libtorrent seed exit: %w", err)
	}
	return p.WaitEvent(ctx, "exit")
}
