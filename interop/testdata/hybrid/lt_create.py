#!/usr/bin/python3
"""Make a .torrent with libtorrent's create_torrent, for shoal's hybrid (BEP 52) tests.

  lt_create.py --path DIR_OR_FILE --out FILE.torrent --piece-length N --mode hybrid|v2|v1

prints one JSON line: {"v1": hex or "", "v2": hex or "", "files": [...]} with the infohashes
libtorrent computed and the files in the order it laid them out (pad files marked).
"""
import argparse
import hashlib
import json
import os

import libtorrent as lt

ap = argparse.ArgumentParser()
ap.add_argument("--path", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--piece-length", type=int, required=True)
ap.add_argument("--mode", choices=("hybrid", "v2", "v1"), default="hybrid")
a = ap.parse_args()

flags = {"hybrid": 0, "v2": lt.create_torrent.v2_only, "v1": lt.create_torrent.v1_only}[a.mode]
path = os.path.abspath(a.path)
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs, a.piece_length, flags=flags)
ct.set_creator("libtorrent " + lt.__version__)
lt.set_piece_hashes(ct, os.path.dirname(path))
e = ct.generate()
with open(a.out, "wb") as f:
    f.write(lt.bencode(e))
ti = lt.torrent_info(a.out)
ih = ti.info_hashes()
info = lt.bencode(e[b"info"])
files = ti.files()
print(json.dumps({
    "v1": str(ih.v1) if ih.has_v1() else "",
    "v2": str(ih.v2) if ih.has_v2() else "",
    # Recomputed from the bencoded info: the infohashes are hashes of exactly these bytes.
    "sha1": hashlib.sha1(info).hexdigest(),
    "sha256": hashlib.sha256(info).hexdigest(),
    "files": [{"path": files.file_path(i), "size": files.file_size(i),
               "pad": bool(files.file_flags(i) & lt.file_storage.flag_pad_file)}
              for i in range(files.num_files())],
}), flush=True)
