#!/usr/bin/env python3
"""Builds a Go vulnerability database (the v1 layout govulncheck reads with
-db file://DIR) from the OSV files of golang.org/x/vulndb, fetched as a module
through the Go module proxy. That lets govulncheck run where vuln.go.dev
cannot be reached.

usage: vulndb.py VULNDB_MODULE_DIR OUT_DIR
"""
import json
import os
import re
import shutil
import sys


def snapshot_time(src):
    """The time in the module's pseudo-version (…-20261105234957-…): the
    OSV files in the repository carry no modified times of their own."""
    m = re.search(r"-(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})-[0-9a-f]{12}$", src.rstrip("/"))
    if not m:
        sys.exit("vulndb.py: %s is not a pseudo-versioned module directory" % src)
    return "%s-%s-%sT%s:%s:%sZ" % m.groups()


def main():
    src, out = sys.argv[1], sys.argv[2]
    osv_dir = os.path.join(src, "data", "osv")
    os.makedirs(os.path.join(out, "ID"), exist_ok=True)
    os.makedirs(os.path.join(out, "index"), exist_ok=True)
    snapshot = snapshot_time(src)
    modules, vulns, newest = {}, [], ""
    for name in sorted(os.listdir(osv_dir)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(osv_dir, name)
        # The entry as it is: govulncheck reads ID/ID.json; only the index needs real times.
        shutil.copyfile(path, os.path.join(out, "ID", name))
        with open(path) as f:
            entry = json.load(f)
        modified = entry["modified"]
        if modified.startswith("0001-"):
            modified = snapshot
        newest = max(newest, modified)
        vulns.append({"id": entry["id"], "modified": modified, "aliases": entry.get("aliases", [])})
        for aff in entry.get("affected", []):
            path = aff["package"]["name"]
            fixed = ""
            for r in aff.get("ranges", []):
                for ev in r.get("events", []):
                    if "fixed" in ev:
                        fixed = ev["fixed"]  # the last range's fix is the newest
            v = {"id": entry["id"], "modified": modified}
            if fixed:
                v["fixed"] = fixed
            modules.setdefault(path, []).append(v)
    with open(os.path.join(out, "index", "db.json"), "w") as f:
        json.dump({"modified": newest}, f)
    with open(os.path.join(out, "index", "vulns.json"), "w") as f:
        json.dump(vulns, f)
    with open(os.path.join(out, "index", "modules.json"), "w") as f:
        json.dump([{"path": p, "vulns": vs} for p, vs in sorted(modules.items())], f)
    print("%d entries, %d modules, newest %s" % (len(vulns), len(modules), newest))


if __name__ == "__main__":
    main()
