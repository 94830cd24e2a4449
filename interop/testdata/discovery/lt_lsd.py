#!/usr/bin/python3
"""A libtorrent peer with local service discovery (BEP 14) on and everything else off, for
shoal's interop/discovery_test.go. It runs inside a network namespace of the test's own, so its
multicast never leaves the test's bridge. No tracker, no DHT, no --peer: peers come from LSD.

stdout: one JSON object per line with an "event" field:
  {"event": "listening", "port": N}
  {"event": "ready"}                      seed: data checked, serving
  {"event": "done", "peers": [...]}       leech: every piece hash-checked; exits 0 after
  {"event": "exit", "peers": [...]}       seed: stopped by SIGTERM
  {"event": "error", "error": "..."}      then a non-zero exit
Each peer is {"addr", "client", "sources": [...]} with libtorrent's peer_source_flags names.
"""
import argparse
import json
import signal
import sys
import time

import libtorrent as lt


def emit(**kw):
    print(json.dumps(kw, sort_keys=True), flush=True)


def fail(msg, code, **kw):
    emit(event="error", error=msg, **kw)
    sys.exit(code)


ap = argparse.ArgumentParser()
ap.add_argument("--listen", required=True, help="IP:PORT")
src = ap.add_mutually_exclusive_group(required=True)
src.add_argument("--torrent", help=".torrent file to seed")
src.add_argument("--infohash", help="v1 infohash (hex) to download, metadata from peers")
ap.add_argument("--save", required=True)
ap.add_argument("--timeout", type=float, default=60)
a = ap.parse_args()

ses = lt.session({
    "listen_interfaces": a.listen,
    "enable_lsd": True,
    "enable_dht": False, "dht_bootstrap_nodes": "",
    "enable_upnp": False, "enable_natpmp": False,
    "enable_outgoing_utp": False, "enable_incoming_utp": False,
    "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification,
})
t0 = time.time()
while not (ses.is_listening() and ses.listen_port()):
    if time.time() - t0 > 10:
        fail("could not listen on %s" % a.listen, 2)
    time.sleep(0.05)
emit(event="listening", port=ses.listen_port())

if a.torrent:
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(a.torrent)
else:
    p = lt.parse_magnet_uri("magnet:?xt=urn:btih:" + a.infohash)
p.save_path = a.save
p.flags &= ~lt.torrent_flags.seed_mode
h = ses.add_torrent(p)

# peer_source_flags; "incoming" (32) has no name in the Python binding.
SOURCES = [("tracker", 1), ("dht", 2), ("pex", 4), ("lsd", 8), ("resume_data", 16), ("incoming", 32)]
peers = {}


def look_at_peers():
    for pi in h.get_peer_info():
        key = "%s:%d" % (pi.ip[0], pi.ip[1])
        client = pi.client.decode("utf-8", "replace") if isinstance(pi.client, bytes) else pi.client
        seen = peers.setdefault(key, {"addr": key, "sources": []})
        seen["client"] = client
        for name, bit in SOURCES:
            if pi.source & bit and name not in seen["sources"]:
                seen["sources"].append(name)


def drain():
    for al in ses.pop_alerts():
        if al.category() & lt.alert.category_t.error_notification:
            print("ALERT", al.message(), file=sys.stderr, flush=True)


stop = False


def on_signal(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

if a.torrent:
    while not stop and not h.status().is_seeding:
        if h.status().errc.value() != 0:
            fail("torrent error: " + h.status().errc.message(), 2)
        drain()
        time.sleep(0.05)
    emit(event="ready")
    while not stop:
        look_at_peers()
        drain()
        time.sleep(0.05)
    emit(event="exit", peers=list(peers.values()))
    sys.exit(0)

last_log = 0.0
while not stop:
    st = h.status()
    if st.has_metadata and st.is_seeding:
        break
    if time.time() - t0 > a.timeout:
        look_at_peers()
        fail("timeout", 3, done=st.total_wanted_done, peers=list(peers.values()))
    if time.time() - last_log > 2:
        last_log = time.time()
        print("leeching: %.1f%%, peers %d" % (st.progress * 100, st.num_peers), file=sys.stderr, flush=True)
    look_at_peers()
    drain()
    time.sleep(0.05)
if stop:
    fail("stopped before done", 4, peers=list(peers.values()))
look_at_peers()
emit(event="done", peers=list(peers.values()))
ses.remove_torrent(h)
deadline = time.time() + 5
while ses.get_torrents() and time.time() < deadline:
    time.sleep(0.05)
sys.exit(0)
