#!/usr/bin/python3
"""Side-by-side download throughput on loopback: one run, leechers in rotation.

A 1 GiB file of random bytes with 1 MiB pieces is seeded by libtorrent (../lt_client.py,
high_performance_seed preset) on 127.0.0.2. Each round downloads it once with every leecher,
one at a time, each into an empty folder, then checks the data byte for byte (cmp) and deletes
it. The start of the rotation moves by one each round so no client always goes first. A last
case swaps roles: shoal seeds (127.0.0.7) and libtorrent leeches.

The seed accepts TCP and uTP; the leecher's flags pick the transport: the default rows are TCP
from the first byte (shoal with --no-utp, libtorrent with uTP off, aria2, anacrolix with
--no-utp-peers); shoal-utp and libtorrent-utp are uTP. DHT, LSD, UPnP and PEX are off everywhere. Peers are dialled directly, except aria2, which
cannot be given a peer: it gets the seed from a local tracker (`shoal tracker`) named only in
a second copy of the .torrent (same infohash), which only aria2 and the libtorrent seed use.

Time is wall time from starting the leecher's process to its exit (so start-up, the initial
check and shutdown count), measured here, not reported by the client. CPU time (user+sys) and
peak RSS come from /usr/bin/time. MiB/s = 1024 / seconds.

Run it with Debian's python (it needs the libtorrent module): see run.sh.
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
SIZE = 1 << 30
PIECE = 1 << 20
SEED_IP, TRACKER_IP = "127.0.0.2", "127.0.0.1"
PY = "/usr/bin/python3"

ap = argparse.ArgumentParser()
ap.add_argument("--data", default="/tmp/shoal-bench-throughput")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--shoal", default="/tmp/shoal")
ap.add_argument("--anacrolix", default="/tmp/anacrolix-torrent")
ap.add_argument("--clients", default="shoal,libtorrent,aria2,anacrolix,shoal-seed",
                help="comma list of: shoal libtorrent aria2 anacrolix shoal-seed (TCP), shoal-utp libtorrent-utp "
                     "(uTP; libtorrent's takes about two minutes per GiB on loopback)")
ap.add_argument("--extra-shoal", action="append", default=[],
                help="NAME=BINARY: another shoal build, as a leecher")
ap.add_argument("--extra-seed", action="append", default=[],
                help="NAME=BINARY: another shoal build, as a seed for libtorrent")
ap.add_argument("--drop-caches", action="store_true",
                help="drop the page cache before every download (then re-read the seed's file)")
ap.add_argument("--timeout", type=float, default=300)
ap.add_argument("--json-out", help="write every measurement here")
a = ap.parse_args()

D = a.data
procs = []


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def free_port(ip):
    s = socket.socket()
    s.bind((ip, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(ip, port, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection((ip, port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listening on {ip}:{port}")


def start(cmd, name, **kw):
    logf = open(os.path.join(D, "logs", name + ".log"), "w")
    p = subprocess.Popen(cmd, stdout=kw.pop("stdout", logf), stderr=logf, start_new_session=True, **kw)
    procs.append(p)
    return p


def stop_all():
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def setup():
    """Makes the file and both .torrents once; returns their paths and the tracker port."""
    for sub in ("seed", "logs", "state", "runs"):
        os.makedirs(os.path.join(D, sub), exist_ok=True)
    src = os.path.join(D, "seed", "tp.bin")
    if not os.path.exists(src) or os.path.getsize(src) != SIZE:
        log("making", src)
        with open("/dev/urandom", "rb") as r, open(src + ".tmp", "wb") as w:
            for _ in range(SIZE // (16 <<20)):
                w.write(r.read(16 << 20))
        os.rename(src + ".tmp", src)
    tor = os.path.join(D, "tp.torrent")
    tor_tr = os.path.join(D, "tp-tracker.torrent")
    if not os.path.exists(tor_tr):
        port = free_port(TRACKER_IP)
        for t, extra in ((tor, []), (tor_tr, ["-a", f"http://{TRACKER_IP}:{port}/announce"])):
            if os.path.exists(t):
                os.remove(t)
            subprocess.run(["mktorrent", "-l", "20", *extra, "-o", t, src], check=True,
                           stdout=subprocess.DEVNULL)
    else:
        # The tracker port is baked into tp-tracker.torrent: reuse it.
        with open(tor_tr, "rb") as f:
            body = f.read()
        i = body.find(f"http://{TRACKER_IP}:".encode())
        port = int(body[i:].split(b":")[2].split(b"/")[0])
    return src, tor, tor_tr, port


def drop_caches(src):
    subprocess.run(["sync"])
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError as e:
        log("drop_caches:", e)
    # The seed serves from the page cache in every case.
    subprocess.run(["cat", src], stdout=subprocess.DEVNULL)


def proc_cpu(pid):
    """CPU seconds (user+sys) a process has used so far, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def timed(cmd, name, cwd=None):
    """Runs a leecher; returns (wall s, cpu s, max rss MiB, rc)."""
    tf = os.path.join(D, "logs", name + ".time")
    logf = open(os.path.join(D, "logs", name + ".log"), "w")
    full = ["/usr/bin/time", "-f", "%e %U %S %M", "-o", tf, *cmd]
    t0 = time.monotonic()
    p = subprocess.Popen(full, stdout=logf, stderr=logf, cwd=cwd, start_new_session=True)
    try:
        rc = p.wait(a.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        rc = "timeout"
    wall = time.monotonic() - t0
    cpu = rss = None
    try:
        _, u, s, m = open(tf).read().split()[-4:]  # %e is not used: wall is measured here
        cpu, rss = float(u) + float(s), int(m) / 1024
    except (OSError, ValueError):
        pass
    return wall, cpu, rss, rc


os.makedirs(D, exist_ok=True)
src, tor, tor_tr, tracker_port = setup()

clients = a.clients.split(",")
extra = dict(spec.split("=", 1) for spec in a.extra_shoal)  # name -> binary
extra_seed = dict(spec.split("=", 1) for spec in a.extra_seed)
clients += list(extra) + list(extra_seed)

try:
    subprocess.run(["cat", src], stdout=subprocess.DEVNULL)
    start([a.shoal, "tracker", "--http", f"{TRACKER_IP}:{tracker_port}", "--udp", ""], "tracker")
    wait_port(TRACKER_IP, tracker_port)
    seed_port = free_port(SEED_IP)
    seed_ready = os.path.join(D, "seed.ready")
    if os.path.exists(seed_ready):
        os.remove(seed_ready)
    # The seed accepts TCP and uTP; each leecher's flags pick the transport.
    lt_seed = start([PY, os.path.join(HERE, "..", "lt_client.py"), "--seed", "--utp", "--torrent", tor_tr, "--save",
           os.path.join(D, "seed"), "--listen", f"{SEED_IP}:{seed_port}", "--ready-file", seed_ready],
          "lt-seed")
    shoal_seeds = {}  # name -> address
    seed_procs = {}
    for k, name in enumerate([c for c in clients if c == "shoal-seed" or c in extra_seed]):
        ip = f"127.0.0.{7 + 2 * k}"
        port = free_port(ip)
        # A state folder kept between runs: after the first, the seed starts without hashing.
        sp = start([extra_seed.get(name, a.shoal), "seed", tor, "--data", os.path.join(D, "seed"),
                    "--listen", f"{ip}:{port}", "--state", os.path.join(D, "state", name),
                    "--no-dht", "--no-lsd", "--no-upnp", "--no-pex"], name, stdout=subprocess.PIPE)
        magnet = sp.stdout.readline()
        if not magnet.startswith(b"magnet:"):
            raise SystemExit(f"shoal seed did not start: see logs/{name}.log")
        shoal_seeds[name] = f"{ip}:{port}"
        seed_procs[name] = sp
    end = time.time() + 300
    while not os.path.exists(seed_ready):
        if time.time() > end:
            raise SystemExit("libtorrent seed not ready")
        time.sleep(0.2)

    def cmd_for(client, dest):
        peer = f"{SEED_IP}:{seed_port}"
        if client in ("shoal", "shoal-utp") or client in extra:
            state = os.path.join(dest, ".state")
            # shoal prefers uTP; --no-utp makes the TCP rows TCP from the first byte.
            transport = [] if client == "shoal-utp" else ["--no-utp"]
            return [extra.get(client, a.shoal), "get", tor, "-o", dest, "--listen", "127.0.0.3:0", "--peer", peer,
                    "--state", state, "--no-dht", "--no-lsd", "--no-upnp", "--no-pex", *transport], None
        if client in ("libtorrent", "libtorrent-utp"):
            transport = ["--utp-only"] if client == "libtorrent-utp" else []
            return [PY, os.path.join(HERE, "..", "lt_client.py"), "--torrent", tor, "--save", dest,
                    "--listen", "127.0.0.4:0", "--peer", peer, *transport], None
        if client in shoal_seeds:
            return [PY, os.path.join(HERE, "..", "lt_client.py"), "--torrent", tor, "--save", dest,
                    "--listen", "127.0.0.8:0", "--peer", shoal_seeds[client]], None
        if client == "aria2":
            return ["aria2c", "-d", dest, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
                    "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--file-allocation=falloc",
                    f"--listen-port={free_port('127.0.0.5')}", "--summary-interval=0",
                    "--console-log-level=warn", "--bt-tracker-connect-timeout=5", tor_tr], None
        if client == "anacrolix":
            return [a.anacrolix, "download", "--addr", "127.0.0.6:0", "--no-dht", "--no-port-forward",
                    "--no-utp-peers", "--no-webtorrent", "--no-pex", "--no-ipv6", "--no-seed",
                    "--no-progress", "--quiet", "--test-peer", peer, tor], dest
        raise SystemExit("unknown client " + client)

    results = {c: [] for c in clients}
    for r in range(a.rounds):
        order = clients[r % len(clients):] + clients[:r % len(clients)]
        for c in order:
            dest = os.path.join(D, "runs", c)
            shutil.rmtree(dest, ignore_errors=True)
            os.makedirs(dest)
            if a.drop_caches:
                drop_caches(src)
            subprocess.run(["sync"])
            cmd, cwd = cmd_for(c, dest)
            seed_pid = (seed_procs[c] if c in seed_procs else lt_seed).pid
            s0 = proc_cpu(seed_pid)
            wall, cpu, rss, rc = timed(cmd, f"{c}.{r}", cwd=cwd)
            s1 = proc_cpu(seed_pid)
            seed_cpu = round(s1 - s0, 2) if s0 is not None and s1 is not None else None
            got = os.path.join(dest, "tp.bin")
            ok = rc == 0 and subprocess.run(["cmp", "-s", src, got]).returncode == 0
            m = {"round": r, "client": c, "wall_s": round(wall, 3), "mib_s": round(1024 / wall, 1),
                 "cpu_s": cpu, "seed_cpu_s": seed_cpu, "max_rss_mib": rss and round(rss), "ok": ok, "rc": rc}
            results[c].append(m)
            log(json.dumps(m))
            if not ok:
                log(f"{c} round {r} FAILED (rc {rc}): see {D}/logs/{c}.{r}.log")
            shutil.rmtree(dest, ignore_errors=True)
            subprocess.run(["sync"])
finally:
    stop_all()


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


label = {"shoal": "shoal ← libtorrent seed (TCP)", "libtorrent": "libtorrent ← libtorrent seed (TCP)",
         "aria2": "aria2 ← libtorrent seed (TCP, via tracker)", "anacrolix": "anacrolix cmd/torrent ← libtorrent seed (TCP)",
         "shoal-seed": "libtorrent ← **shoal seed** (TCP)",
         "shoal-utp": "shoal ← libtorrent seed (uTP)", "libtorrent-utp": "libtorrent ← libtorrent seed (uTP)",
         "shoal-plain": "shoal, library file storage (`-tags shoal_plainstorage`) ← libtorrent seed (TCP)",
         "seed-plain": "libtorrent ← shoal seed, library file storage (TCP)"}
lt_med = med([m["mib_s"] for m in results.get("libtorrent", []) if m["ok"]])
print(f"| client | " + " | ".join(f"round {r + 1} MiB/s" for r in range(a.rounds)) +
      " | median MiB/s | median s | median CPU s | seed CPU s | vs libtorrent leecher |")
print("|---|" + "---|" * (a.rounds + 5))
for c in clients:
    ms = results[c]
    rates = [f"{m['mib_s']}" if m["ok"] else f"FAIL({m['rc']})" for m in ms]
    mr = med([m["mib_s"] for m in ms if m["ok"]])
    mw = med([m["wall_s"] for m in ms if m["ok"]])
    mc = med([m["cpu_s"] for m in ms if m["ok"]])
    ms_ = med([m.get("seed_cpu_s") for m in ms if m["ok"]])
    ratio = f"{mr / lt_med:.2f}" if mr and lt_med else "–"
    print(f"| {label.get(c, c)} | " + " | ".join(rates) +
          f" | **{mr}** | {mw} | {mc and round(mc, 2)} | {ms_ and round(ms_, 2)} | {ratio} |")
if "libtorrent" in results:
    # Rounds are minutes apart on a shared machine: the ratio within a round is the fairer figure.
    print()
    print("| client vs libtorrent leecher, same round | " + " | ".join(f"round {r + 1}" for r in range(a.rounds)) +
          " | median of rounds |")
    print("|---|" + "---|" * (a.rounds + 1))
    for c in clients:
        if c == "libtorrent":
            continue
        # uTP rows are compared with libtorrent over uTP when it ran.
        ref = "libtorrent-utp" if c == "shoal-utp" and "libtorrent-utp" in results else "libtorrent"
        lt = {m["round"]: m for m in results[ref] if m["ok"]}
        rs = [m["mib_s"] / lt[m["round"]]["mib_s"] if m["ok"] and m["round"] in lt else None for m in results[c]]
        print(f"| {label.get(c, c)} vs {ref} | " + " | ".join("–" if x is None else f"{x:.2f}" for x in rs) +
              f" | **{med(rs) and round(med(rs), 2)}** |")
if a.json_out:
    with open(a.json_out, "w") as f:
        json.dump(results, f, indent=1)
failed = [f"{m['client']} round {m['round']}" for ms in results.values() for m in ms if not m["ok"]]
if failed:
    log("FAILED: " + ", ".join(failed))
    sys.exit(1)
