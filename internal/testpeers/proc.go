package testpeers

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a process started for a test: its stdout is kept line by line so the test can wait
// for a line (a magnet link, a JSON event), its stderr is kept for the failure log.
type Proc struct {
	Name string // short label used in logs, e.g. "libtorrent seed"

	cmd    *exec.Cmd
	stderr *capBuffer

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced whenever lines grows or the process exits

	done    chan struct{} // closed once the process has exited and stdout is drained
	waitErr error
	started time.Time
	exited  time.Time
}

// Start runs argv (inside ns when ns is not nil) as a process owned by t: it is stopped with
// SIGTERM, then SIGKILL after 5 s, when the test ends, and its output tails are logged if the
// test failed.
func Start(t testing.TB, ns *Netns, name string, argv ...string) *Proc {
	t.Helper()
	return StartEnv(t, ns, name, nil, argv...)
}

// StartEnv is Start with extra environment variables (KEY=VALUE) on top of the test's own.
func StartEnv(t testing.TB, ns *Netns, name string, env []string, argv ...string) *Proc {
	t.Helper()
	if ns != nil {
		argv = append([]string{"ip", "netns", "exec", ns.Name}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: Stop signals the whole group, not a random name match.
		Setpgid: true,
		// If the test binary dies (panic, -timeout), the peer must not live on holding ports
		// and namespaces.
		Pdeathsig: syscall.SIGKILL,
	}
	p := &Proc{
		Name:    name,
		cmd:     cmd,
		stderr:  &capBuffer{max: 256 << 10},
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s (%s): %v", name, strings.Join(argv, " "), err)
	}
	t.Logf("started %s: pid %d: %s", name, cmd.Process.Pid, shellQuote(argv))
	go p.collect(out)
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			p.logTails(t)
		}
	})
	return p
}

func (p *Proc) collect(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		p.mu.Lock()
		p.lines = append(p.lines, sc.Text())
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, out) // a line over 4 MiB: keep draining so the child never blocks
	err := p.cmd.Wait()
	p.mu.Lock()
	p.waitErr = err
	p.exited = time.Now()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	close(p.done)
}

// Pid is the process id (that of the command itself, as `ip netns exec` execs it).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Lines returns the stdout lines so far.
func (p *Proc) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Stderr returns what the process wrote to stderr so far (the last 256 KiB).
func (p *Proc) Stderr() string { return p.stderr.String() }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitLine waits for the first stdout line for which match returns true, and returns it.
// It fails fast when the process exits without printing one.
func (p *Proc) WaitLine(ctx context.Context, match func(string) bool) (string, error) {
	seen := 0
	for {
		p.mu.Lock()
		lines, changed := p.lines, p.changed
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if match(lines[seen]) {
				return lines[seen], nil
			}
		}
		if p.Exited() {
			// collect has appended every line before closing done; look once more.
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if n > seen {
				continue
			}
			return "", fmt.Errorf("%s exited (%v) without the expected line; stderr: %s",
				p.Name, p.waitErr, tail(p.Stderr(), 2000))
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", fmt.Errorf("%s: waiting for a line: %w; stderr: %s", p.Name, context.Cause(ctx), tail(p.Stderr(), 2000))
		}
	}
}

// Event is one JSON line of a driver's stdout (see lt_peer.py), decoded loosely.
type Event map[string]any

// Str returns a string field, or "".
func (e Event) Str(k string) string { s, _ := e[k].(string); return s }

// Num returns a number field, or 0.
func (e Event) Num(k string) float64 { f, _ := e[k].(float64); return f }

// WaitEvent waits for a JSON line whose "event" is one of names, and decodes it.
func (p *Proc) WaitEvent(ctx context.Context, names ...string) (Event, error) {
	var ev Event
	_, err := p.WaitLine(ctx, func(line string) bool {
		var e Event
		if json.Unmarshal([]byte(line), &e) != nil {
			return false
		}
		for _, n := range names {
			if e.Str("event") == n {
				ev = e
				return true
			}
		}
		return false
	})
	return ev, err
}

// Wait waits for the process to exit and returns its exit error (nil for status 0).
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", p.Name, context.Cause(ctx))
	}
}

// Runtime is how long the process ran (so far, if it has not exited).
func (p *Proc) Runtime() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited.IsZero() {
		return time.Since(p.started)
	}
	return p.exited.Sub(p.started)
}

// Stop asks the process group to end (SIGTERM), then kills it after 5 s. It is idempotent and
// returns the exit error.
func (p *Proc) Stop() error {
	if p.Exited() {
		return p.waitErr
	}
	pgid := p.cmd.Process.Pid // Setpgid: the group id is the leader's pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	return p.waitErr
}

// ExitedCleanly reports whether err (from Wait or Stop) is a clean exit: status 0, or death by
// the SIGTERM that Stop sends.
func ExitedCleanly(err error) bool {
	if err == nil {
		return true
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return true
		}
	}
	return false
}

func (p *Proc) logTails(t testing.TB) {
	t.Helper()
	out := strings.Join(p.Lines(), "\n")
	t.Logf("%s (pid %d, ran %v, exit %v)\n--- stdout (tail) ---\n%s\n--- stderr (tail) ---\n%s",
		p.Name, p.Pid(), p.Runtime().Round(time.Millisecond), p.waitErr, tail(out, 4000), tail(p.Stderr(), 6000))
}

// capBuffer keeps the last max bytes written: a chatty peer cannot eat the test's memory.
type capBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (c *capBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = append(c.b, p...)
	if over := len(c.b) - c.max; over > 0 {
		c.b = append(c.b[:0], c.b[over:]...)
	}
	return len(p), nil
}

func (c *capBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < 200 {
		s = s[i+1:]
	}
	return "…" + s
}

// shellQuote renders argv so a failing command can be pasted into a shell.
func shellQuote(argv []string) string {
	var b bytes.Buffer
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r == '/' || r == '.' || r == '-' || r == '_' || r == ':' || r == '=' || r == ',' ||
				r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}

// run executes argv to completion and returns its combined output; for short helper commands
// (ip, transmission-remote, mktorrent).
func run(ctx context.Context, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if msg := strings.TrimSpace(string(out)); msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		return string(out), fmt.Errorf("%s: %w", shellQuote(argv), err)
	}
	return string(out), nil
}

// SyncBuffer is a bytes.Buffer safe for a process's or logger's writes while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitSubmatch polls s until re matches it and returns the submatches, or nil after within.
func WaitSubmatch(s fmt.Stringer, re *regexp.Regexp, within time.Duration) []string {
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(s.String()); m != nil || time.Now().After(deadline) {
			return m
		}
	}
}
