// Command utp benchmarks uTP (BEP 29) on loopback: our swarm/utp against itself and
// against libtorrent, beside libtorrent against itself, in one run so the figures share the
// machine's conditions. It prints a Markdown table of throughput and CPU per GiB (user+sys
// of every process taking part: this one and libtorrent's).
//
//	go run ./bench/utp -size 256 -runs 3
//
// Scenarios:
//
//	raw     two swarm/utp connections in this process, no BitTorrent: the transport alone
//	lib-lib the torrent library seeding to itself with our uTP as its only transport
//	lib-lt  the library (our uTP) seeding to libtorrent (uTP only)
//	lt-lib  libtorrent seeding to the library
//	lt-lt   libtorrent seeding to libtorrent, both uTP only
//
// With -relay the peer-to-peer scenarios run through swarm/utp/impair's relay with issue 6's
// hard network (1% loss, 50±20 ms each way, 0.5% duplicates).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	g "github.com/anacrolix/generics"
	utp "github.com/anacrolix/go-utp"
	"github.com/anacrolix/go-utp/impair"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

var (
	sizeMiB   = flag.Int("size", 256, "payload MiB")
	runs      = flag.Int("runs", 3, "runs per scenario; the table shows the median")
	only      = flag.String("only", "raw,lib-lib,lib-lt,lt-lib,lt-lt", "scenarios, comma-separated")
	withRelay = flag.Bool("relay", false, "through the hard-network relay")
	python    = flag.String("python", "/usr/bin/python3", "a python3 with libtorrent")
	ltScript  = flag.String("lt", "internal/testpeers/lt_peer.py", "the libtorrent driver (run with --transport utp)")
	timeout   = flag.Duration("timeout", 20*time.Minute, "per transfer")
	cpuProf   = flag.String("cpuprofile", "", "write this process's CPU profile here")
	ltHP      = flag.Bool("lt-hp", false, "run libtorrent with its high_performance_seed() settings")
)

type result struct {
	secs float64 // transfer time
	cpu  float64 // CPU seconds, all processes
}

func main() {
	flag.Parse()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer pprof.StopCPUProfile()
	}
	dir, err := os.MkdirTemp("", "utpbench-")
	check(err)
	defer os.RemoveAll(dir)
	size := int64(*sizeMiB) << 20
	src := filepath.Join(dir, "src")
	check(os.MkdirAll(src, 0o755))
	payload := filepath.Join(src, "payload.bin")
	writeRandom(payload, size)
	torrentPath := filepath.Join(dir, "payload.torrent")
	mk := exec.Command("mktorrent", "-d", "-t", "1", "-l", "20", "-o", torrentPath, payload)
	if out, err := mk.CombinedOutput(); err != nil {
		check(fmt.Errorf("mktorrent: %v: %s", err, out))
	}
	fmt.Printf("# uTP loopback benchmark: %d MiB, %d run(s) each, median; %s, %d CPUs, relay %v, libtorrent high-performance %v\n\n",
		*sizeMiB, *runs, runtime.Version(), runtime.NumCPU(), *withRelay, *ltHP)
	fmt.Println("| scenario | MiB/s | CPU s per GiB | runs (MiB/s) |")
	fmt.Println("|---|---|---|---|")
	for _, sc := range strings.Split(*only, ",") {
		var rs []result
		for i := range *runs {
			r, err := runScenario(sc, dir, src, torrentPath, size, i)
			if err != nil {
				fmt.Fprintf(os.Stderr, "%s run %d: %v\n", sc, i, err)
				continue
			}
			rs = append(rs, r)
		}
		if len(rs) == 0 {
			fmt.Printf("| %s | failed | | |\n", sc)
			continue
		}
		slices.SortFunc(rs, func(a, b result) int { return int((a.secs - b.secs) * 1e6) })
		med := rs[len(rs)/2]
		var each []string
		for _, r := range rs {
			each = append(each, fmt.Sprintf("%.1f", float64(size)/(1<<20)/r.secs))
		}
		fmt.Printf("| %s | %.1f | %.2f | %s |\n", sc, float64(size)/(1<<20)/med.secs,
			med.cpu/(float64(size)/(1<<30)), strings.Join(each, ", "))
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func writeRandom(path string, size int64) {
	f, err := os.Create(path)
	check(err)
	_, err = io.CopyN(f, rand.Reader, size)
	check(err)
	check(f.Close())
}

func selfCPU() float64 {
	var ru syscall.Rusage
	check(syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// ip hands out loopback addresses so that peers never share one.
var ipSeq = 0

func nextIP() string {
	ipSeq++
	return fmt.Sprintf("127.0.%d.%d", 200+os.Getpid()%50, 10+ipSeq%240)
}

func freePort(ip string) int {
	for range 50 {
		l, err := net.Listen("tcp", ip+":0")
		check(err)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	check(errors.New("no free port"))
	return 0
}

func hard(seed uint64) impair.Config {
	return impair.Config{Loss: 0.01, Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond, Duplicate: 0.005, Seed: seed}
}

// via returns the address to dial to reach target: target itself, or a relay in front.
func via(target string) (string, func()) {
	if !*withRelay {
		return target, func() {}
	}
	r, err := impair.NewRelay(nextIP()+":0", target, hard(1), hard(2))
	check(err)
	return r.Addr().String(), func() { r.Close() }
}

func runScenario(sc, dir, src, torrentPath string, size int64, i int) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	dst := filepath.Join(dir, fmt.Sprintf("dst-%s-%d", sc, i))
	check(os.MkdirAll(dst, 0o755))
	defer os.RemoveAll(dst)
	runtime.GC()
	switch sc {
	case "raw":
		return rawUTP(ctx, size)
	case "lib-lib":
		seed := newLib(src)
		defer seed.Close()
		seed.add(ctx, torrentPath, true)
		leech := newLib(dst)
		defer leech.Close()
		addr, stop := via(seed.addr)
		defer stop()
		cpu0 := selfCPU()
		secs, err := leech.download(ctx, torrentPath, addr)
		return result{secs, selfCPU() - cpu0}, err
	case "lib-lt":
		seed := newLib(src)
		defer seed.Close()
		seed.add(ctx, torrentPath, true)
		addr, stop := via(seed.addr)
		defer stop()
		cpu0 := selfCPU()
		lt, err := startLT(ctx, torrentPath, dst, false, addr)
		if err != nil {
			return result{}, err
		}
		secs, ltCPU, err := lt.waitDone(ctx)
		return result{secs, selfCPU() - cpu0 + ltCPU}, err
	case "lt-lib":
		seed, err := startLT(ctx, torrentPath, src, true, "")
		if err != nil {
			return result{}, err
		}
		addr, stop := via(seed.addr)
		defer stop()
		leech := newLib(dst)
		defer leech.Close()
		cpu0, seedCPU0 := selfCPU(), procCPU(seed.cmd.Process.Pid)
		secs, err := leech.download(ctx, torrentPath, addr)
		cpu := selfCPU() - cpu0 + procCPU(seed.cmd.Process.Pid) - seedCPU0
		seed.stop()
		return result{secs, cpu}, err
	case "lt-lt":
		seed, err := startLT(ctx, torrentPath, src, true, "")
		if err != nil {
			return result{}, err
		}
		defer seed.stop()
		addr, stop := via(seed.addr)
		defer stop()
		seedCPU0 := procCPU(seed.cmd.Process.Pid)
		lt, err := startLT(ctx, torrentPath, dst, false, addr)
		if err != nil {
			return result{}, err
		}
		secs, ltCPU, err := lt.waitDone(ctx)
		return result{secs, ltCPU + procCPU(seed.cmd.Process.Pid) - seedCPU0}, err
	}
	return result{}, fmt.Errorf("unknown scenario %q", sc)
}

// procCPU reads a live process's user+sys CPU seconds from /proc.
func procCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// rawUTP moves size bytes over one swarm/utp connection on loopback.
func rawUTP(ctx context.Context, size int64) (result, error) {
	a, err := utp.NewSocket("udp4", nextIP()+":0")
	check(err)
	defer a.Close()
	b, err := utp.NewSocket("udp4", nextIP()+":0")
	check(err)
	defer b.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := b.Accept(); accepted <- c }()
	addr, stop := via(b.Addr().String())
	defer stop()
	d, err := a.DialContext(ctx, "udp", addr)
	if err != nil {
		return result{}, err
	}
	r := <-accepted
	cpu0, start := selfCPU(), time.Now()
	done := make(chan int64)
	go func() { n, _ := io.Copy(io.Discard, r); done <- n }()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		if _, err := d.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			return result{}, err
		}
	}
	d.Close()
	select {
	case n := <-done:
		if n != size {
			return result{}, fmt.Errorf("received %d of %d", n, size)
		}
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
	return result{time.Since(start).Seconds(), selfCPU() - cpu0}, nil
}

type lib struct {
	*torrent.Client
	addr string
}

// newLib is the torrent library with our uTP as its only transport, as in interop/utp_test.go.
func newLib(dataDir string) *lib {
	ip := nextIP()
	cfg := torrent.NewDefaultClientConfig()
	cfg.DataDir = dataDir
	cfg.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir: dataDir, PieceCompletion: storage.NewMapPieceCompletion(), UsePartFiles: g.Some(false),
	})
	cfg.ListenHost = func(string) string { return ip }
	cfg.ListenPort = freePort(ip)
	cfg.DisableIPv6, cfg.DisableTCP, cfg.DisableUTP, cfg.NoDHT = true, true, false, true
	cfg.DisablePEX, cfg.DisableTrackers, cfg.DisableWebtorrent, cfg.DisableWebseeds = true, true, true, true
	cfg.NoDefaultPortForwarding, cfg.Seed = true, true
	cfg.Slogger = slog.New(slog.DiscardHandler)
	cl, err := torrent.NewClient(cfg)
	check(err)
	return &lib{cl, net.JoinHostPort(ip, strconv.Itoa(cl.LocalPort()))}
}

func (l *lib) add(ctx context.Context, torrentPath string, seed bool) *torrent.Torrent {
	mi, err := metainfo.LoadFromFile(torrentPath)
	check(err)
	t, err := l.AddTorrent(mi)
	check(err)
	<-t.GotInfo()
	if seed {
		check(t.VerifyDataContext(ctx))
	}
	return t
}

func (l *lib) download(ctx context.Context, torrentPath, peer string) (float64, error) {
	t := l.add(ctx, torrentPath, false)
	host, port, _ := net.SplitHostPort(peer)
	p, _ := strconv.Atoi(port)
	start := time.Now()
	t.AddPeers([]torrent.PeerInfo{{Addr: &net.UDPAddr{IP: net.ParseIP(host), Port: p}, Trusted: true}})
	t.DownloadAll()
	select {
	case <-t.Complete().On():
		return time.Since(start).Seconds(), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("library download: %d of %d bytes: %w", t.BytesCompleted(), t.Length(), ctx.Err())
	}
}

type ltProc struct {
	cmd    *exec.Cmd
	addr   string
	events chan map[string]any
}

func startLT(ctx context.Context, torrentPath, save string, seed bool, peer string) (*ltProc, error) {
	ip := nextIP()
	args := []string{"-u", *ltScript, "--torrent", torrentPath, "--save", save, "--listen", ip + ":0",
		"--transport", "utp", "--timeout", strconv.Itoa(int(timeout.Seconds()))}
	if seed {
		args = append(args, "--seed")
	}
	if *ltHP {
		args = append(args, "--high-performance")
	}
	if peer != "" {
		args = append(args, "--peer", peer)
	}
	cmd := exec.CommandContext(ctx, *python, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &ltProc{cmd: cmd, events: make(chan map[string]any, 16)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev map[string]any
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				p.events <- ev
			}
		}
		close(p.events)
	}()
	want := "listening"
	for ev := range p.events {
		switch ev["event"] {
		case "error":
			return nil, fmt.Errorf("libtorrent: %v", ev["error"])
		case "listening":
			p.addr = net.JoinHostPort(ip, fmt.Sprint(ev["port"]))
			if seed {
				want = "ready"
				continue
			}
			return p, nil
		case "ready":
			return p, nil
		}
	}
	return nil, fmt.Errorf("libtorrent exited before %s", want)
}

// waitDone waits for a libtorrent leech; it returns the transfer time (first byte to done)
// and the process's CPU.
func (p *ltProc) waitDone(ctx context.Context) (float64, float64, error) {
	for ev := range p.events {
		switch ev["event"] {
		case "error":
			p.cmd.Wait()
			return 0, 0, fmt.Errorf("libtorrent leech: %v", ev["error"])
		case "done":
			secs, _ := ev["first_byte_to_done_s"].(float64)
			err := p.cmd.Wait()
			st := p.cmd.ProcessState
			return secs, (st.UserTime() + st.SystemTime()).Seconds(), err
		}
	}
	p.cmd.Wait()
	return 0, 0, errors.New("libtorrent leech exited without done")
}

func (p *ltProc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
}
