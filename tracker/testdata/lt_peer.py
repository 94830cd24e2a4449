#!/usr/bin/python3
"""A libtorrent peer for shoal's tracker interop tests (tracker/interop_test.go).

A client nobody here wrote (Debian's libtorrent-rasterbar via python3-libtorrent) that must
find its peers ONLY through the tracker under test: DHT, LSD, UPnP, NAT-PMP and PEX are off,
and it binds to one 127.0.0.x address so no packet leaves the machine.

  lt_peer.py make FILE TRACKER_URL OUT.torrent    write a .torrent for FILE announcing to URL
  lt_peer.py seed TORRENT DIR IP                  seed until SIGTERM
  lt_peer.py leech TORRENT DIR IP                 download, exit 0 once every piece checks

stdout carries one JSON object per line: {"event": "listening"|"announced"|"done"|"error", ...}.
"""
import json
import os
import signal
import sys
import time

import libtorrent as lt


def emit(**kw):
    print(json.dumps(kw, sort_keys=True), flush=True)


def make(path, tracker, out):
    fs = lt.file_storage()
    lt.add_files(fs, path)
    # v1 only: Transmission 3.00 cannot read hybrid (v1+v2) torrents, libtorrent 2.0's default.
    t = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v1_only)
    t.add_tracker(tracker)
    lt.set_piece_hashes(t, os.path.dirname(os.path.abspath(path)))
    with open(out, "wb") as f:
        f.write(lt.bencode(t.generate()))
    emit(event="made", infohash=str(lt.torrent_info(out).info_hash()))


def run(mode, torrent, save, ip):
    session = lt.session({
        "listen_interfaces": ip + ":0",
        "outgoing_interfaces": ip,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "alert_mask": lt.alert.category_t.all_categories,
    })
    params = lt.add_torrent_params()
    params.ti = lt.torrent_info(torrent)
    params.save_path = save
    params.flags &= ~lt.torrent_flags.auto_managed
    params.flags &= ~lt.torrent_flags.paused
    if mode == "seed":
        params.flags |= lt.torrent_flags.seed_mode
    handle = session.add_torrent(params)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    deadline = time.time() + 120
    while not stop and time.time() < deadline:
        session.wait_for_alert(200)
        for a in session.pop_alerts():
            if isinstance(a, lt.listen_succeeded_alert):
                emit(event="listening", port=a.port, ip=str(a.address))
            elif isinstance(a, lt.tracker_reply_alert):
                emit(event="announced", url=a.url, peers=a.num_peers)
            elif isinstance(a, lt.tracker_error_alert):
                emit(event="tracker_error", url=a.url, message=a.message())
            elif isinstance(a, lt.peer_connect_alert):
                emit(event="peer", ip=str(a.endpoint[0]), port=a.endpoint[1])
        if mode == "leech" and handle.status().is_seeding:
            emit(event="done")
            return 0
    if mode == "leech":
        emit(event="error", error="timed out")
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(*sys.argv[2:5])
    else:
        sys.exit(run(*sys.argv[1:5]))
