package testpeers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Network namespaces give each peer its own ordinary address. Transmission needs that: it
// refuses peers on 127.x ("martian") and accepts one peer per IP. The addresses (10.x) exist
// only inside the namespaces, which have no link to the host's network, so nothing can leave.

// nsPrefix starts every namespace name this package creates; the pid that follows lets a later
// run tell its own namespaces from those of a run that died (see removeStaleNetns).
const nsPrefix = "shoaltp-"

// nsSubnet is the /24 used inside every Net. Each Net is a separate set of namespaces with its
// own bridge, so concurrent Nets may reuse it without seeing each other.
const nsSubnet = "10.213.0."

var (
	nsSeq       atomic.Int64
	staleOnce   sync.Once
	netnsProbed = memo(func(string) (bool, error) { return probeNetns() })
)

// Netns is a network namespace with, for hosts of a Net, one address IP on eth0.
type Netns struct {
	Name string
	IP   string // "" for the hub
}

// Addr is IP:port inside the namespace.
func (ns *Netns) Addr(port int) string { return fmt.Sprintf("%s:%d", ns.IP, port) }

// Exec runs a short command inside the namespace and returns its combined output.
func (ns *Netns) Exec(ctx context.Context, argv ...string) (string, error) {
	return run(ctx, append([]string{"ip", "netns", "exec", ns.Name}, argv...)...)
}

// Net is a small switched network: a hub namespace holding a Linux bridge (10.213.0.1/24),
// and host namespaces each joined to it by a veth pair, with addresses 10.213.0.10, .11, …
// A tracker, if a test needs one, can run in the hub.
type Net struct {
	t     testing.TB
	Hub   *Netns
	hosts []*Netns
}

// RequireNetns stops the test (skip, or fail under SHOAL_REQUIRE_PEERS=1) unless this process
// can create network namespaces: it needs root and iproute2.
func RequireNetns(t testing.TB) {
	t.Helper()
	RequireTool(t, "ip", "iproute2")
	ok, err := netnsProbed("")
	RequirePeer(t, "network namespaces", ok, fmt.Sprint(err))
}

func probeNetns() (bool, error) {
	if os.Geteuid() != 0 {
		return false, errors.New("not root (ip netns add needs CAP_SYS_ADMIN)")
	}
	name := fmt.Sprintf("%s%d-probe", nsPrefix, os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := run(ctx, "ip", "netns", "add", name); err != nil {
		return false, err
	}
	_, _ = run(ctx, "ip", "netns", "del", name)
	return true, nil
}

// NewNet creates the hub namespace and its bridge; AddHost adds peers. Everything is removed in
// t.Cleanup, after the processes started later in the test have been stopped (cleanups run last
// registered first).
func NewNet(t testing.TB) *Net {
	t.Helper()
	RequireNetns(t)
	staleOnce.Do(removeStaleNetns)
	n := &Net{t: t}
	n.Hub = n.newNetns("hub")
	n.hubExec("ip", "link", "add", "br0", "type", "bridge")
	n.hubExec("ip", "addr", "add", nsSubnet+"1/24", "dev", "br0")
	n.hubExec("ip", "link", "set", "br0", "up")
	return n
}

// AddHost creates a namespace joined to the bridge and returns it; label is for the name only.
func (n *Net) AddHost(label string) *Netns {
	n.t.Helper()
	i := len(n.hosts)
	if i >= 200 {
		n.t.Fatal("testpeers: too many hosts in one Net")
	}
	ns := n.newNetns(label)
	ns.IP = fmt.Sprintf("%s%d", nsSubnet, 10+i)
	n.hosts = append(n.hosts, ns)
	hubSide := fmt.Sprintf("v%d", i)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, argv := range [][]string{
		{"ip", "link", "add", "eth0", "netns", ns.Name, "type", "veth", "peer", "name", hubSide, "netns", n.Hub.Name},
		{"ip", "netns", "exec", ns.Name, "ip", "addr", "add", ns.IP + "/24", "dev", "eth0"},
		{"ip", "netns", "exec", ns.Name, "ip", "link", "set", "eth0", "up"},
		{"ip", "netns", "exec", n.Hub.Name, "ip", "link", "set", hubSide, "master", "br0"},
		{"ip", "netns", "exec", n.Hub.Name, "ip", "link", "set", hubSide, "up"},
	} {
		if _, err := run(ctx, argv...); err != nil {
			n.t.Fatalf("testpeers: add host %s: %v", label, err)
		}
	}
	// A veth pair passes traffic only once both ends are up and the carrier is seen; wait for
	// that so the first SYN of a test is not lost to it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		state, err := ns.Exec(ctx, "cat", "/sys/class/net/eth0/operstate")
		if err == nil && strings.TrimSpace(state) == "up" {
			break
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("testpeers: %s: eth0 not up after 5 s: %q %v", ns.Name, state, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return ns
}

func (n *Net) hubExec(argv ...string) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.Hub.Exec(ctx, argv...); err != nil {
		n.t.Fatalf("testpeers: %v", err)
	}
}

// newNetns creates a namespace with loopback up (Transmission's RPC listens there) and
// registers its removal.
func (n *Net) newNetns(label string) *Netns {
	n.t.Helper()
	name := fmt.Sprintf("%s%d-%d-%s", nsPrefix, os.Getpid(), nsSeq.Add(1), label)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := run(ctx, "ip", "netns", "add", name); err != nil {
		n.t.Fatalf("testpeers: %v", err)
	}
	n.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := run(ctx, "ip", "netns", "del", name); err != nil {
			n.t.Errorf("testpeers: remove namespace: %v", err)
		}
	})
	ns := &Netns{Name: name}
	if _, err := ns.Exec(ctx, "ip", "link", "set", "lo", "up"); err != nil {
		n.t.Fatalf("testpeers: %v", err)
	}
	return ns
}

// removeStaleNetns deletes namespaces left by earlier runs whose test binary is gone (killed by
// -timeout or a signal before its cleanups ran). Namespaces of live processes, such as a
// concurrent `go test` of another package, are left alone.
func removeStaleNetns() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := run(ctx, "ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], nsPrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(f[0], nsPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		_, _ = run(ctx, "ip", "netns", "del", f[0])
	}
}
