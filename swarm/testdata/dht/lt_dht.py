#!/usr/bin/python3
"""A libtorrent peer with its DHT on, for shoal's DHT tests (swarm/dht_libtorrent_test.go).

internal/testpeers/lt_peer.py keeps libtorrent's DHT off; this one turns it on and bootstraps
only from the nodes given with --bootstrap (shoal's test nodes on loopback): the public routers
are never named, and LSD, UPnP and NAT-PMP stay off. No --peer: every peer must come from the DHT.

Every DHT setting stays at libtorrent's default: its "dark internet" filter
(dht_ignore_dark_internet) does not cover 127/8, BEP 42 is not enforced by default
(dht_enforce_node_id) and exempts local addresses anyway, and one node per address range in a
bucket (dht_restrict_routing_ips) still leaves room, since every test node has its own address.

stdout: one JSON object per line with an "event" field:
  {"event": "listening", "port": N}
  {"event": "dht_bootstrapped", "nodes": N}
  {"event": "ready"}                      seed: data checked, serving
  {"event": "done", "peers": [...]}       leech: every piece hash-checked; exits 0 after
  {"event": "exit", "peers": [...]}       seed: stopped by SIGTERM
  {"event": "error", "error": "..."}      then a non-zero exit
Each peer is {"addr", "client", "sources": [...]} where sources are libtorrent's peer_source_flags.
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
ap.add_argument("--bootstrap", action="append", default=[], help="HOST:PORT of a DHT node")
src = ap.add_mutually_exclusive_group(required=True)
src.add_argument("--torrent", help=".torrent file to seed")
src.add_argument("--infohash", help="v1 infohash (hex) to download, metadata from peers")
ap.add_argument("--save", required=True)
ap.add_argument("--timeout", type=float, default=90)
a = ap.parse_args()
if not a.bootstrap:
    fail("--bootstrap is required: the public DHT routers are never used here", 2)

ses = lt.session({
    "listen_interfaces": a.listen,
    "enable_dht": True,
    "dht_bootstrap_nodes": ",".join(a.bootstrap),
    "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "enable_outgoing_utp": False, "enable_incoming_utp": False,
    "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification
    | lt.alert.category_t.dht_notification,
})
assert ses.get_settings()["dht_bootstrap_nodes"] == ",".join(a.bootstrap)

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
SOURCES = [("tracker", lt.peer_info.tracker), ("dht", lt.peer_info.dht), ("pex", lt.peer_info.pex),
           ("lsd", lt.peer_info.lsd), ("resume_data", lt.peer_info.resume_data), ("incoming", 32)]
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


bootstrapped = False
last_announce = 0.0


def pump():
    """Drains alerts; once the DHT is up, asks for a DHT announce every 5 s while no peer is
    connected (libtorrent would otherwise wait for its 15-minute announce timer)."""
    global bootstrapped, last_announce
    for al in ses.pop_alerts():
        if isinstance(al, lt.dht_bootstrap_alert) and not bootstrapped:
            bootstrapped = True
            emit(event="dht_bootstrapped", nodes=ses.status().dht_nodes)
        elif al.category() & lt.alert.category_t.error_notification:
            print("ALERT", al.message(), file=sys.stderr, flush=True)
    if bootstrapped and h.status().num_peers == 0 and time.time() - last_announce > 5:
        last_announce = time.time()
        h.force_dht_announce()


stop = False


def on_signal(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

if a.torrent:
    while not stop:
        st = h.status()
        if st.is_seeding:
            break
        if st.errc.value() != 0:
            fail("torrent error: " + st.errc.message(), 2)
        pump()
        time.sleep(0.05)
    emit(event="ready", infohash=str(h.info_hash()))
    last_log = 0.0
    while not stop:
        pump()
        look_at_peers()
        if time.time() - last_log > 2:
            last_log = time.time()
            st = ses.status()
            print("seeding: dht nodes %d, peers %d" % (st.dht_nodes, h.status().num_peers),
                  file=sys.stderr, flush=True)
        time.sleep(0.05)
    emit(event="exit", peers=list(peers.values()))
    sys.exit(0)

last_log = 0.0
while not stop:
    st = h.status()
    if st.has_metadata and st.is_seeding:
        break
    if st.errc.value() != 0:
        fail("torrent error: " + st.errc.message(), 2, peers=list(peers.values()))
    if time.time() - t0 > a.timeout:
        look_at_peers()
        fail("timeout", 3, done=st.total_wanted_done, dht_nodes=ses.status().dht_nodes,
             peers=list(peers.values()))
    if time.time() - last_log > 2:
        last_log = time.time()
        print("leeching: %.1f%%, dht nodes %d, peers %d" % (
            st.progress * 100, ses.status().dht_nodes, st.num_peers), file=sys.stderr, flush=True)
    pump()
    look_at_peers()
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
