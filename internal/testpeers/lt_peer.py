#!/usr/bin/python3
"""A libtorrent peer driven by shoal's interop tests (package internal/testpeers).

It is a peer we did not write: Debian's libtorrent-rasterbar through python3-libtorrent.
Everything that could reach past the test's own addresses is off (DHT, LSD, UPnP, NAT-PMP).
--transport picks TCP, uTP (BEP 29) or both, both ways; every peer reported says which
transport carried it.

stdout carries one JSON object per line, each with an "event" field, for the Go harness:
  {"event": "listening", "port": N}                 the TCP/UDP listen port (useful with port 0)
  {"event": "metadata"}                             a magnet's metadata has arrived (BEP 9)
  {"event": "ready", ...}                           seed: data checked, serving
  {"event": "done", "wall_s": ..., "peers": [...]}  leech: every piece downloaded and hash-checked;
                                                    the process exits 0 right after
  {"event": "exit", "uploaded": N, "peers": [...]}  seed: stopped by SIGTERM/SIGINT, exits 0
  {"event": "error", "error": "..."}                then a non-zero exit
Progress and libtorrent's error alerts go to stderr, which the harness shows when a test fails.
"""
import argparse
import json
import signal
import sys
import time

import libtorrent as lt

UTP_SOCKET = 1 << 17
ENC = {"require": 0, "prefer": 1, "off": 2}  # libtorrent's enc_policy: forced, enabled, disabled


def emit(**kw):
    print(json.dumps(kw, sort_keys=True), flush=True)


def fail(msg, code, **kw):
    emit(event="error", error=msg, **kw)
    sys.exit(code)


ap = argparse.ArgumentParser()
src = ap.add_mutually_exclusive_group(required=True)
src.add_argument("--torrent", help=".torrent file")
src.add_argument("--magnet", help="magnet link (leech only): metadata comes from the peers")
ap.add_argument("--save", required=True, help="save path: the torrent's name is created inside")
ap.add_argument("--listen", default="127.0.0.1:0", help="IP:PORT, port 0 picks one")
ap.add_argument("--peer", action="append", default=[], help="IP:PORT to dial (repeatable)")
ap.add_argument("--seed", action="store_true", help="check the data in --save, then serve it")
ap.add_argument("--encryption", choices=sorted(ENC), default="prefer",
                help="both directions; require = no plaintext handshake accepted or offered")
ap.add_argument("--transport", choices=["tcp", "utp", "both"], default="tcp",
                help="what connections may use, in and out (default TCP only)")
ap.add_argument("--timeout", type=float, default=120, help="leech: give up after this many s")
ap.add_argument("--high-performance", action="store_true",
                help="start from libtorrent's high_performance_seed() settings (benchmarks)")
a = ap.parse_args()

t0 = time.time()
settings = dict(lt.high_performance_seed()) if a.high_performance else {}
settings.update({
    "listen_interfaces": a.listen,
    "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
    "dht_bootstrap_nodes": "",
    "enable_outgoing_utp": a.transport != "tcp", "enable_incoming_utp": a.transport != "tcp",
    "enable_outgoing_tcp": a.transport != "utp", "enable_incoming_tcp": a.transport != "utp",
    "out_enc_policy": ENC[a.encryption], "in_enc_policy": ENC[a.encryption],
    # RC4 on the payload too when encryption is required, so "require" means the whole stream.
    "prefer_rc4": a.encryption == "require",
    # Tests put several peers on one host (127.0.0.x); libtorrent must not fold them together.
    "allow_multiple_connections_per_ip": True,
    "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.status_notification
    | lt.alert.category_t.connect_notification,
})
ses = lt.session(settings)

deadline = time.time() + 10
while not (ses.is_listening() and ses.listen_port()):
    if time.time() > deadline:
        fail("could not listen on %s" % a.listen, 2)
    for al in ses.pop_alerts():
        if isinstance(al, lt.listen_failed_alert):
            fail("listen failed: %s" % al.message(), 2)
    time.sleep(0.05)
emit(event="listening", port=ses.listen_port())

if a.magnet:
    if a.seed:
        fail("--seed needs --torrent", 2)
    p = lt.parse_magnet_uri(a.magnet)
else:
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(a.torrent)
p.save_path = a.save
# A seed checks its data for real before it says READY: a seed that only claims to have the
# pieces would make a broken download look like the leecher's fault.
p.flags &= ~lt.torrent_flags.seed_mode
h = ses.add_torrent(p)

peers = {}  # "ip:port" -> what we saw of that peer, reported with done/exit


def look_at_peers():
    for pi in h.get_peer_info():
        key = "%s:%d" % (pi.ip[0], pi.ip[1])
        client = pi.client.decode("utf-8", "replace") if isinstance(pi.client, bytes) else pi.client
        seen = peers.setdefault(key, {"addr": key, "rc4": False, "plaintext_encrypted": False})
        seen["client"] = client
        seen["outgoing"] = bool(pi.flags & lt.peer_info.outgoing_connection)
        seen["rc4"] |= bool(pi.flags & lt.peer_info.rc4_encrypted)
        seen["plaintext_encrypted"] |= bool(pi.flags & lt.peer_info.plaintext_encrypted)
        # peer_info::utp_socket is bit 17 (between i2p_socket and ssl_socket); the Python
        # binding does not name it.
        seen["utp"] = seen.get("utp", False) or bool(pi.flags & UTP_SOCKET)
        seen["downloaded"] = max(seen.get("downloaded", 0), pi.total_download)
        seen["uploaded"] = max(seen.get("uploaded", 0), pi.total_upload)


def note_connection(ep, utp, how):
    """Record a connection from its alert: a transfer can start and end between two
    peer-list samples, and then only the alerts tell which transport carried it."""
    key = "%s:%d" % (ep[0], ep[1])
    seen = peers.setdefault(key, {"addr": key, "rc4": False, "plaintext_encrypted": False})
    seen["utp"] = seen.get("utp", False) or utp
    seen.setdefault("outgoing", how == "outgoing")


def drain_alerts():
    for al in ses.pop_alerts():
        if isinstance(al, lt.incoming_connection_alert):
            note_connection(al.endpoint, int(al.socket_type) in (int(lt.socket_type_t.utp),
                                                                 int(lt.socket_type_t.utp_ssl)), "incoming")
        elif isinstance(al, lt.peer_connect_alert):
            # The binding has no socket_type here; the message names it ("... (utp)").
            note_connection(al.endpoint, "utp" in al.message().lower(), "outgoing")
        if al.category() & lt.alert.category_t.error_notification:
            print("ALERT", al.message(), file=sys.stderr, flush=True)


last_dial = 0.0
dials = 0


def dial():
    """Dial --peer while nobody is connected: libtorrent waits a long time before retrying a
    failed peer by itself, and the other side may still be starting."""
    global last_dial, dials
    if not a.peer or dials >= 30 or time.time() - last_dial < 2 or h.status().num_peers > 0:
        return
    last_dial = time.time()
    dials += 1
    for pe in a.peer:
        host, port = pe.rsplit(":", 1)
        h.connect_peer((host.strip("[]"), int(port)), 0)


stop = False


def on_signal(*_):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)

if a.seed:
    while not stop:
        st = h.status()
        if st.errc.value() != 0:
            fail("torrent error: " + st.errc.message(), 2)
        if st.is_seeding:
            break
        if st.state not in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data) \
                and st.progress < 1 and time.time() - t0 > 5:
            fail("seed data incomplete after check: progress %.4f" % st.progress, 2)
        drain_alerts()
        time.sleep(0.05)
    emit(event="ready", port=ses.listen_port(), infohash=str(h.info_hash()),
         check_s=round(time.time() - t0, 3))
    last_progress, last_seen = 0.0, None
    while not stop:
        dial()
        look_at_peers()
        drain_alerts()
        if time.time() - last_progress >= 2:
            # Every 2 s while something changes, every 30 s otherwise: enough to tell in a
            # failure log whether the other side connected and whether data moved.
            st = h.status()
            seen = (st.num_peers, st.total_payload_upload)
            if seen != last_seen or time.time() - last_progress >= 30:
                last_progress, last_seen = time.time(), seen
                print("seeding: %d peers, uploaded %d bytes, %.1f MiB/s" % (
                    st.num_peers, st.total_payload_upload, st.upload_payload_rate / 1048576),
                    file=sys.stderr, flush=True)
        time.sleep(0.05)
    look_at_peers()
    drain_alerts()
    st = h.status()
    emit(event="exit", uploaded=st.total_payload_upload, peers=list(peers.values()))
    sys.exit(0)

had_metadata = False
t_first = None
last_progress = 0.0
while not stop:
    look_at_peers()
    drain_alerts()
    st = h.status()
    if st.has_metadata and not had_metadata:
        had_metadata = True
        emit(event="metadata", s=round(time.time() - t0, 3))
    if t_first is None and st.total_wanted_done > 0:
        t_first = time.time()
    if st.errc.value() != 0:
        fail("torrent error: " + st.errc.message(), 2, peers=list(peers.values()))
    if st.has_metadata and st.is_seeding:
        break
    if time.time() - t0 > a.timeout:
        look_at_peers()
        fail("timeout", 3, done=st.total_wanted_done, wanted=st.total_wanted,
             peers=list(peers.values()))
    if time.time() - last_progress >= 2:
        last_progress = time.time()
        print("progress %.1f%% %d/%d bytes, %.1f MiB/s, peers %d" % (
            st.progress * 100, st.total_wanted_done, st.total_wanted,
            st.download_payload_rate / 1048576, st.num_peers), file=sys.stderr, flush=True)
    dial()
    look_at_peers()
    drain_alerts()
    time.sleep(0.05)
if stop:
    fail("stopped before done", 4, peers=list(peers.values()))

t1 = time.time()
look_at_peers()
drain_alerts()
st = h.status()
size = st.total_wanted
emit(event="done", client="libtorrent " + lt.__version__, bytes=size,
     wall_s=round(t1 - t0, 3), first_byte_to_done_s=round(t1 - (t_first or t0), 3),
     mib_s=round(size / 1048576 / max(t1 - t0, 1e-6), 1),
     failed_bytes=st.total_failed_bytes, redundant_bytes=st.total_redundant_bytes,
     peers=list(peers.values()))
# Let libtorrent close its files before the harness hashes them.
ses.remove_torrent(h)
deadline = time.time() + 5
while ses.get_torrents() and time.time() < deadline:
    time.sleep(0.05)
sys.exit(0)
