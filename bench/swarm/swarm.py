#!/usr/bin/python3
"""One seed, many recipients: a swarm benchmark in network namespaces (issue 7).

Topology, built fresh for every invocation and removed at the end, also on failure or Ctrl-C:
  netns <P>hub : a bridge br0, 10.77.0.1/24, runs the tracker (Debian's opentracker)
  netns <P>1 .. <P>N : veth eth0 10.77.0.(10+i)/24, the other end (v<i>) on br0 in the hub
  Upload limit of node i: HTB on its own eth0 (node -> bridge), --seed-rate for node 1,
  --peer-rate for the others. Downloads are not limited (d_min = infinity) unless --down-rate.
<P> is "shsw<pid>-", so concurrent runs never share a name, and every address lives inside
namespaces this script made: no real interface is touched.

Node 1 runs the seed, nodes 2..N the recipients, all started at the same instant once the seed
serves (and has announced). Recipients keep seeding after they finish, as `get --seed` does.
Each run rotates through the clients (shoal, libtorrent) with the same payload, .torrent (made
by `shoal create`, so the same piece length), rates and tracker.

Measured per run:
  T_last   time from starting the recipients to the last completion (seen on their stdout)
  T_min    max(F/u_seed, F/d_min, n*F/(u_seed + sum u_recipients)), n = N-1, nominal rates
  ratio    T_last / T_min
  verified recipients whose data matches the payload byte for byte (diff -r); a run where any
           did not is kept in --out but left out of the summary table's medians
  per-recipient completion times
  seed upload: payload bytes the seed reports (shoal: its last progress event; libtorrent:
           all_time_upload) and the bytes on its wire (hub-side veth counter, TCP/IP headers
           included), both divided by F, between the recipients' start and T_last
  upload use: bytes each node sent / (its rate * T_last)
  a time series of every node's wire upload (every 0.25 s), for the plot

Usage (root; Debian's python for the libtorrent module):
  bench/swarm/swarm.py --n 8 --runs 3
  bench/swarm/swarm.py --n 8,16,32 --runs 3 --clients shoal,libtorrent --out results/x.jsonl
  bench/swarm/swarm.py --n 8 --clients shoal --label stripes-off --shoal-env SHOAL_STRATEGY=stripes=off
See RESULTS.md for the measurements and plot.py for the figure.
"""
import argparse, atexit, json, os, shutil, signal, statistics, subprocess, sys, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PY = "/usr/bin/python3"
PREFIX = "shsw%d-" % os.getpid()
HUB = PREFIX + "hub"
SUBNET = "10.77.0"
TRACKER_IP = SUBNET + ".1"
PORT = 6881
NICE = -10  # clients and tracker run ahead of other work on a shared machine (--nice)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(cmd, ns=None, check=True):
    if ns:
        cmd = "ip netns exec %s %s" % (ns, cmd)
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s -> %d %s" % (cmd, r.returncode, r.stderr.strip()))
    return r.stdout


def rate_bps(r):
    r = r.lower()
    for suf, mul in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1)):
        if r.endswith(suf):
            return float(r[: -len(suf)]) * mul
    return float(r)


def t_min(a, n):
    """max(F/u_seed, F/d_min, n*F/(u_seed + sum u_recipients)), n = N-1, nominal rates."""
    F = a.size * 8.0
    us, ul = rate_bps(a.seed_rate), rate_bps(a.peer_rate)
    dmin = rate_bps(a.down_rate) if a.down_rate else float("inf")
    nl = n - 1
    return max(F / us, F / dmin, nl * F / (us + nl * ul))


def all_verified(r):
    """Every recipient of the run completed and its data matched the payload."""
    return bool(r["ratio"]) and r["verified"] == r["n"] - 1


def node(i):
    return PREFIX + str(i)


def ip_of(i):
    return "%s.%d" % (SUBNET, 10 + i)


# ---------------------------------------------------------------- topology

created = []  # namespaces we made, removed in teardown


def teardown():
    for p in list(procs):
        p.stop()
    for ns in reversed(created):
        sh("ip netns del %s" % ns, check=False)
    created.clear()


def add_ns(name):
    sh("ip netns add %s" % name)
    created.append(name)
    sh("ip link set lo up", ns=name)


def htb(dev, rate, ns):
    sh("tc qdisc replace dev %s root handle 1: htb default 10" % dev, ns=ns)
    sh("tc class add dev %s parent 1: classid 1:10 htb rate %s ceil %s burst 32k cburst 32k" % (dev, rate, rate), ns=ns)
    sh("tc qdisc add dev %s parent 1:10 handle 10: pfifo limit 1000" % dev, ns=ns)


def build(n, a):
    add_ns(HUB)
    sh("ip link add br0 type bridge", ns=HUB)
    sh("ip addr add %s/24 dev br0" % TRACKER_IP, ns=HUB)
    sh("ip link set br0 up", ns=HUB)
    for i in range(1, n + 1):
        ns = node(i)
        add_ns(ns)
        # Both ends are created directly inside our namespaces.
        sh("ip link add eth0 netns %s type veth peer name v%d netns %s" % (ns, i, HUB))
        sh("ip addr add %s/24 dev eth0" % ip_of(i), ns=ns)
        sh("ip link set eth0 up", ns=ns)
        sh("ip link set v%d master br0" % i, ns=HUB)
        sh("ip link set v%d up" % i, ns=HUB)
        htb("eth0", a.seed_rate if i == 1 else a.peer_rate, ns)
        if a.down_rate:
            htb("v%d" % i, a.down_rate, HUB)


def wire_counters(n, received=False):
    """Bytes each node has sent (or received): the hub side of its veth sees them.
    With GSO a 64 KiB super-packet counts its headers once, so this is close to payload."""
    out = json.loads(sh("ip -s -j link show", ns=HUB))
    c = [0] * (n + 1)
    for link in out:
        name = link.get("ifname", "")
        if name.startswith("v") and name[1:].isdigit():
            i = int(name[1:])
            if i <= n:
                c[i] = link["stats64"]["tx" if received else "rx"]["bytes"]
    return c


def cpu_times():
    with open("/proc/stat") as f:
        v = list(map(int, f.readline().split()[1:]))
    return sum(v), v[3] + v[4]


# ---------------------------------------------------------------- processes

procs = []


class Proc:
    """A command in a namespace, in its own process group; stdout lines are timestamped."""

    def __init__(self, ns, argv, logpath, env=None, done_match=None):
        self.log = open(logpath, "w")
        self.done_at = None
        self.lines = []
        self.done_match = done_match
        full_env = dict(os.environ)
        full_env.update(env or {})
        if NICE:
            argv = ["nice", "-n", str(NICE)] + argv
        self.p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=subprocess.PIPE,
                                  stderr=self.log, env=full_env, start_new_session=True, text=True)
        procs.append(self)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            now = time.time()
            self.log.write("%.3f %s" % (now, line))
            self.lines.append((now, line))
            if self.done_at is None and self.done_match and self.done_match(line):
                self.done_at = now

    def cpu_seconds(self):
        """User + system CPU time of the client so far (ip netns exec execs it in place)."""
        try:
            with open("/proc/%d/stat" % self.p.pid) as f:
                v = f.read().rsplit(")", 1)[1].split()
            return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def stop(self):
        if self in procs:
            procs.remove(self)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.p.wait(timeout=8)
                break
            except subprocess.TimeoutExpired:
                pass
        self.t.join(timeout=2)
        self.log.close()


# ---------------------------------------------------------------- clients

def shoal_env(a, extra):
    env = {"SHOAL_CONFIG": "/nonexistent/shoal.toml", "HOME": a.work}
    for kv in extra:
        k, _, v = kv.partition("=")
        env[k] = v
    return env


def json_event(line, name):
    try:
        ev = json.loads(line)
    except ValueError:
        return None
    return ev if ev.get("event") == name else None


def lt_leech_done(line):
    """lt_client.py's leech line when it completed (not its {"error": ...} line)."""
    try:
        ev = json.loads(line)
    except ValueError:
        return False
    return isinstance(ev, dict) and ev.get("role") == "leech" and "error" not in ev


def start_seed(client, a, rdir, tor):
    ip = ip_of(1)
    if client == "shoal":
        argv = [a.shoal, "seed", a.payload, "--listen", "%s:%d" % (ip, PORT), "--state", rdir + "/seed.state",
                "--no-dht", "--no-lsd", "--no-upnp", "--json", "--tracker", a.tracker_url] + a.shoal_args.split()
        if a.piece_kib:
            argv += ["--piece-length", "%dK" % a.piece_kib]
        p = Proc(node(1), argv, rdir + "/seed.log", shoal_env(a, a.shoal_seed_env),
                 done_match=lambda l: json_event(l, "done") is not None)
    else:
        argv = [PY, HERE + "/../lt_client.py", "--seed", "--torrent", tor, "--save", os.path.dirname(a.payload),
                "--listen", "%s:%d" % (ip, PORT)]
        p = Proc(node(1), argv, rdir + "/seed.log", done_match=lambda l: l.startswith("READY"))
    t0 = time.time()
    while p.done_at is None:
        if p.p.poll() is not None:
            raise RuntimeError("%s seed exited: see %s/seed.log" % (client, rdir))
        if time.time() - t0 > 120:
            raise RuntimeError("%s seed not ready after 120 s" % client)
        time.sleep(0.05)
    if client == "shoal":
        for _, line in p.lines:
            ev = json_event(line, "done")
            if ev:
                a.magnet = ev["magnet"]
                if a.infohash not in ev["magnet"].lower():
                    raise RuntimeError("shoal seed made another torrent: %s, want %s" % (ev["magnet"], a.infohash))
    return p


def start_recipient(client, a, rdir, tor, i):
    ns, ip = node(i), ip_of(i)
    dest = "%s/r%d" % (rdir, i)
    os.makedirs(dest)
    if client == "shoal":
        src = a.magnet if a.source == "magnet" else tor
        argv = [a.shoal, "get", src, "--seed", "--data", dest, "--listen", "%s:%d" % (ip, PORT),
                "--state", dest + ".state", "--no-dht", "--no-lsd", "--no-upnp", "--json"] + a.shoal_args.split()
        return Proc(ns, argv, "%s/r%d.log" % (rdir, i), shoal_env(a, a.shoal_env),
                    done_match=lambda l: json_event(l, "done") is not None)
    argv = [PY, HERE + "/../lt_client.py", "--torrent", tor, "--save", dest, "--listen", "%s:%d" % (ip, PORT),
            "--seed-after", "100000"]
    return Proc(ns, argv, "%s/r%d.log" % (rdir, i), done_match=lt_leech_done)


def shoal_uploaded(p):
    """The piece bytes a shoal process last reported uploading."""
    up = None
    for _, line in p.lines:
        ev = json_event(line, "progress")
        if ev:
            up = ev.get("uploaded")
    return up


def seed_payload_bytes(client, seed):
    """What the seed reports it uploaded (piece data), or None."""
    if client == "shoal":
        return shoal_uploaded(seed)
    for _, line in seed.lines:
        if line.startswith('{"role": "seed"'):
            return json.loads(line).get("uploaded")
    return None


def start_tracker(rdir, infohash):
    d = rdir + "/ot"
    os.makedirs(d)
    with open(d + "/whitelist.txt", "w") as f:
        f.write(infohash + "\n")
    os.chmod(d, 0o755)
    # opentracker chroots into -d: the whitelist path is relative to it.
    return Proc(HUB, ["opentracker", "-i", TRACKER_IP, "-p", "6969", "-P", "6969", "-A", TRACKER_IP,
                      "-w", "/whitelist.txt", "-d", d], rdir + "/tracker.log")


# ---------------------------------------------------------------- one swarm

def one_run(client, n, run, a, tor):
    rdir = "%s/%s-n%d-%d" % (a.work, client, n, run)
    shutil.rmtree(rdir, ignore_errors=True)
    os.makedirs(rdir)
    mine = []
    try:
        mine.append(start_tracker(rdir, a.infohash))
        time.sleep(0.3)
        seed = start_seed(client, a, rdir, tor)
        mine.append(seed)
        # Let the seed's first announce reach the tracker.
        time.sleep(1.0)
        c0, w0, r0 = cpu_times(), wire_counters(n), wire_counters(n, received=True)
        load0 = float(open("/proc/loadavg").read().split()[0])
        t0 = time.time()
        rec = {}
        for i in range(2, n + 1):
            rec[i] = start_recipient(client, a, rdir, tor, i)
            mine.append(rec[i])
        series = [[0.0] + [0] * n]
        rseries = [[0.0] + [0] * n]
        while True:
            time.sleep(0.25)
            now = time.time()
            w, rx = wire_counters(n), wire_counters(n, received=True)
            series.append([round(now - t0, 3)] + [w[i] - w0[i] for i in range(1, n + 1)])
            rseries.append([round(now - t0, 3)] + [rx[i] - r0[i] for i in range(1, n + 1)])
            if all(p.done_at is not None for p in rec.values()):
                break
            for i, p in rec.items():
                if p.done_at is None and p.p.poll() is not None:
                    p.log.flush()
                    tail = open("%s/r%d.log" % (rdir, i)).read()[-1500:]
                    raise RuntimeError("%s recipient %d exited early (%s); its log ends:\n%s" % (
                        client, i, p.p.returncode, tail))
            if now - t0 > a.timeout:
                break
        c1 = cpu_times()
        done = {i: p.done_at - t0 for i, p in rec.items() if p.done_at is not None}
        t_last = max(done.values()) if len(done) == len(rec) else None
        w_last = wire_counters(n)  # within 0.25 s of T_last
        r_last = wire_counters(n, received=True)
        cpu = [seed.cpu_seconds()] + [rec[i].cpu_seconds() for i in range(2, n + 1)]
        if client == "shoal" and t_last:
            # The shoal seed reports its upload every 5 s: wait for a report after T_last.
            end = time.time() + 6
            while time.time() < end and not any(t > t0 + t_last and json_event(l, "progress")
                                                for t, l in list(seed.lines)):
                time.sleep(0.1)
    finally:
        for p in reversed(mine):
            p.stop()
    seed_payload = seed_payload_bytes(client, seed)
    # When each shoal recipient had the torrent's metadata (a magnet link needs it from peers).
    meta = []
    if client == "shoal":
        for i in range(2, n + 1):
            ts = [t for t, l in rec[i].lines if json_event(l, "metadata")]
            meta.append(round(ts[0] - t0, 2) if ts else None)
    # Piece data sent by everyone over what the recipients needed (shoal reports it).
    sent_total = None
    if client == "shoal" and t_last:
        ups = [seed_payload] + [shoal_uploaded(p) for p in rec.values()]
        if None not in ups:
            sent_total = sum(ups)
    ok = 0
    name = os.path.basename(a.payload)
    for i in rec:
        r = subprocess.run(["diff", "-rq", a.payload, "%s/r%d/%s" % (rdir, i, name)], capture_output=True)
        ok += r.returncode == 0
    if ok < len(rec):
        log("# %s N=%d run %d: %d of %d recipients' data did not match the payload; the run is left "
            "out of the summary" % (client, n, run, len(rec) - ok, len(rec)))
    us, ul = rate_bps(a.seed_rate), rate_bps(a.peer_rate)
    nl = n - 1
    tmin = t_min(a, n)
    res = {
        "client": client, "label": a.label, "n": n, "run": run, "F_MiB": round(a.size / 2**20, 1),
        "piece_KiB": a.piece_len // 1024, "seed_rate": a.seed_rate, "peer_rate": a.peer_rate,
        "source": a.source if client == "shoal" else "torrent",
        "completed": len(done), "verified": ok, "T_min_s": round(tmin, 2),
        "T_last_s": round(t_last, 2) if t_last else None,
        "ratio": round(t_last / tmin, 3) if t_last else None,
        "done_s": [round(done[i], 2) if i in done else None for i in range(2, n + 1)],
        "metadata_s": meta,
        "loadavg": load0,
        "cpu_pct": round(100.0 * (1 - (c1[1] - c0[1]) / max(1, c1[0] - c0[0])), 1),
        "client_cpu_s": [round(c, 1) if c is not None else None for c in cpu],
        "shoal_env": a.shoal_env if client == "shoal" else [],
        "shoal_args": a.shoal_args if client == "shoal" else "",
    }
    if t_last:
        sent = [w_last[i] - w0[i] for i in range(n + 1)]
        res["seed_wire_F"] = round(sent[1] / a.size, 3)
        res["seed_payload_F"] = round(seed_payload / a.size, 3) if seed_payload is not None else None
        res["seed_use"] = round(sent[1] * 8 / (us * t_last), 3)
        res["recipient_use"] = round(sum(sent[2:]) * 8 / (nl * ul * t_last), 3)
        # What recipients received over what they needed: > 1 means duplicates and overhead.
        res["received_over_needed"] = round(sum(r_last[i] - r0[i] for i in range(2, n + 1)) / (nl * a.size), 3)
    if sent_total is not None:
        res["payload_sent_over_needed"] = round(sent_total / ((n - 1) * a.size), 3)
    res["series"] = series  # [t, bytes sent by node 1..N]
    res["rx_series"] = rseries  # [t, bytes received by node 1..N]
    if not a.keep_data:
        shutil.rmtree(rdir, ignore_errors=True)
    return res


# ---------------------------------------------------------------- setup

def make_payload(a):
    """A folder of incompressible files, made once and reused."""
    d = "%s/payload-%dM-%df/folder" % (a.cache, a.size_mib, a.files)
    marker = d + ".ok"
    if not os.path.exists(marker):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        total = a.size_mib << 20
        # Uneven sizes, like a real folder: halves, then the rest.
        sizes, left = [], total
        for _ in range(a.files - 1):
            s = max(1, left // 2)
            sizes.append(s)
            left -= s
        sizes.append(left)
        for k, s in enumerate(sizes):
            sub = d if k % 2 == 0 else d + "/sub"
            os.makedirs(sub, exist_ok=True)
            sh("head -c %d /dev/urandom > %s/part%02d.bin" % (s, sub, k))
        open(marker, "w").close()
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="8", help="nodes (1 seed + n-1 recipients); a comma list runs each")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--clients", default="shoal,libtorrent")
    ap.add_argument("--size-mib", type=int, default=100)
    ap.add_argument("--files", type=int, default=5, help="files in the payload folder")
    ap.add_argument("--piece-kib", type=int, default=0, help="0: shoal's own choice for the folder")
    ap.add_argument("--seed-rate", default="40mbit")
    ap.add_argument("--peer-rate", default="20mbit")
    ap.add_argument("--down-rate", default="")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--source", default="magnet", choices=["magnet", "torrent"],
                    help="what shoal recipients are given (libtorrent always gets the .torrent)")
    ap.add_argument("--shoal", default="", help="shoal binary (default: built from this repo)")
    ap.add_argument("--shoal-env", action="append", default=[], help="K=V for shoal recipients")
    ap.add_argument("--shoal-seed-env", action="append", default=[], help="K=V for the shoal seed")
    ap.add_argument("--shoal-args", default="", help="extra flags for every shoal process, e.g. --no-utp")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default="", help="append one JSON line per run here")
    ap.add_argument("--cache", default="/tmp/shoal-swarm-bench")
    ap.add_argument("--keep-data", action="store_true")
    ap.add_argument("--nice", type=int, default=-10,
                    help="niceness of the clients: the swarm measures the protocol, not the CPU")
    a = ap.parse_args()
    global NICE
    NICE = a.nice
    if os.geteuid() != 0:
        sys.exit("swarm.py needs root (network namespaces, tc)")
    for tool in ("opentracker", "tc", "ip"):
        if not shutil.which(tool):
            sys.exit("swarm.py: %s is not installed" % tool)
    os.makedirs(a.cache, exist_ok=True)
    a.work = "%s/run-%d" % (a.cache, os.getpid())
    os.makedirs(a.work)
    atexit.register(lambda: shutil.rmtree(a.work, ignore_errors=True) if not a.keep_data else None)
    # SIGTERM and SIGHUP unwind like Ctrl-C (KeyboardInterrupt) does, through the finally below.
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda *_: sys.exit(1))
    if not a.shoal:
        a.shoal = a.work + "/shoal"
        sh("cd %s && go build -o %s ./cmd/shoal" % (REPO, a.shoal))
    a.payload = make_payload(a)
    a.size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(a.payload) for f in fs)
    a.tracker_url = "http://%s:6969/announce" % TRACKER_IP
    tor = a.work + "/payload.torrent"
    cmd = "%s create %s -o %s --tracker %s" % (a.shoal, a.payload, tor, a.tracker_url)
    if a.piece_kib:
        cmd += " --piece-length %dK" % a.piece_kib
    sh(cmd)
    info = json.loads(sh("%s -c 'import libtorrent as lt,sys,json; t=lt.torrent_info(sys.argv[1]); "
                         "print(json.dumps([str(t.info_hash()), t.piece_length()]))' %s" % (PY, tor)))
    a.infohash, a.piece_len = info
    a.magnet = ""
    clients = a.clients.split(",")
    ns_list = [int(x) for x in a.n.split(",")]
    log("# payload %s: %.1f MiB in %d files, %d KiB pieces, infohash %s" % (
        a.payload, a.size / 2**20, a.files, a.piece_len // 1024, a.infohash))
    results = []
    for n in ns_list:
        try:
            build(n, a)
            log("# N=%d: 1 seed (%s) + %d recipients (%s up each); T_min %.1f s" % (
                n, a.seed_rate, n - 1, a.peer_rate, t_min(a, n)))
            for run in range(1, a.runs + 1):
                # Rotate the order so machine load hits every client alike.
                order = clients[(run - 1) % len(clients):] + clients[:(run - 1) % len(clients)]
                for client in order:
                    r = one_run(client, n, run, a, tor)
                    results.append(r)
                    brief = {k: v for k, v in r.items() if not k.endswith("series")}
                    print(json.dumps(brief), flush=True)
                    if a.out:
                        with open(a.out, "a") as f:
                            f.write(json.dumps(r) + "\n")
        finally:
            # Also on an error, Ctrl-C, SIGTERM or SIGHUP: the processes and namespaces go.
            teardown()
    print("\nruns: the runs in the medians; runs where a recipient did not finish, or where its data did not "
          "match the payload, are left out and counted in brackets.")
    print("\n| label | client | N | runs | T_min s | T_last median s | ratio median (min–max) | seed upload / F (payload, wire) | recipient upload use | CPU % |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in ns_list:
        for client in clients:
            mine = [r for r in results if r["n"] == n and r["client"] == client]
            rs = [r for r in mine if all_verified(r)]
            runs = "%d" % len(rs)
            if len(rs) < len(mine):
                incomplete = sum(1 for r in mine if not r["ratio"])
                unverified = len(mine) - len(rs) - incomplete
                runs += " (left out: %s)" % ", ".join(
                    x for x in ("%d incomplete" % incomplete if incomplete else "",
                                "%d not verified" % unverified if unverified else "") if x)
            if not rs:
                print("| %s | %s | %d | %s | | no complete, verified run | | | | |" % (a.label, client, n, runs))
                continue
            med = lambda k: statistics.median([r[k] for r in rs if r.get(k) is not None] or [0])
            print("| %s | %s | %d | %s | %.1f | %.1f | %.2f (%.2f–%.2f) | %.2f, %.2f | %.2f | %.0f |" % (
                a.label, client, n, runs, rs[0]["T_min_s"], med("T_last_s"), med("ratio"),
                min(r["ratio"] for r in rs), max(r["ratio"] for r in rs), med("seed_payload_F"),
                med("seed_wire_F"), med("recipient_use"), med("cpu_pct")))


if __name__ == "__main__":
    main()
