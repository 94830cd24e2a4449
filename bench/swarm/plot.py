#!/usr/bin/python3
"""Plots swarm.py results: for each swarm size, the run with the median T_last/T_min of each
client, among the runs where every recipient finished and its data matched the payload. Left:
when each recipient finished (sorted), against T_min. Middle: what the seed has uploaded so far,
in copies of the payload. Right: the recipients' total upload rate against their capacity
(u * (N-1), nominal).

  plot.py OUT.png RESULTS.jsonl... [--label shoal=default,tcp --label libtorrent=default]
One line per (client, label) in each panel.
Needs python3-matplotlib (Debian).
"""
import argparse, json, statistics

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

from swarm import all_verified, rate_bps  # the benchmark's own run filter and tc rate parsing

COLORS = {("shoal", "final"): "#1f77b4", ("shoal", "utp"): "#2ca02c", ("shoal", "tcp"): "#9467bd", ("shoal", "default"): "#1f77b4",
          ("libtorrent", "lt"): "#d62728", ("libtorrent", "default"): "#d62728"}
PALETTE = ["#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#ff7f0e", "#8c564b"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("results", nargs="+")
    ap.add_argument("--label", action="append", default=[],
                    help="CLIENT=LABEL[,LABEL]: which runs to plot (default: all)")
    a = ap.parse_args()
    want = {}
    for kv in a.label:
        client, labels = kv.split("=", 1)
        want.setdefault(client, set()).update(labels.split(","))
    runs = []
    for path in a.results:
        for line in open(path):
            r = json.loads(line)
            if all_verified(r) and (r["client"] not in want or r["label"] in want[r["client"]]):
                runs.append(r)
    sizes = sorted({r["n"] for r in runs})
    fig, axes = plt.subplots(len(sizes), 3, figsize=(15, 4.2 * len(sizes)), squeeze=False)
    for row, n in enumerate(sizes):
        ax_done, ax_seed, ax_up = axes[row]
        tmin = None
        keys = sorted({(r["client"], r["label"]) for r in runs if r["n"] == n}, key=lambda k: (k[0] != "shoal", k))
        for ki, (client, label) in enumerate(keys):
            rs = sorted((r for r in runs if r["n"] == n and (r["client"], r["label"]) == (client, label)),
                        key=lambda r: r["ratio"])
            med = rs[len(rs) // 2]
            tmin = med["T_min_s"]
            F = med["F_MiB"] * 2**20
            c = COLORS.get((client, label)) or PALETTE[ki % len(PALETTE)]
            name = "%s %s" % (client, label) if label else client
            lab = "%s: T_last/T_min median %.2f of %d runs (bold: %.2f)" % (
                name, statistics.median(r["ratio"] for r in rs), len(rs), med["ratio"])
            # Completion of each recipient, all runs faint, the median run bold.
            for r in rs:
                ts = sorted(t for t in r["done_s"] if t)
                ax_done.plot(range(1, len(ts) + 1), ts, color=c, alpha=0.15, marker=".", lw=0.8)
            ts = sorted(t for t in med["done_s"] if t)
            ax_done.plot(range(1, len(ts) + 1), ts, color=c, marker="o", lw=2, label=lab)
            # Seed upload so far, in copies of F (bytes on its veth, ~payload).
            s = med["series"]
            ax_seed.plot([x[0] for x in s], [x[1] / F for x in s], color=c, lw=2,
                         label="%s: %.2f F by T_last" % (name, med["seed_wire_F"]))
            # Recipients' total upload rate, 1 s windows.
            pts, j0 = [], 0
            for j in range(1, len(s)):
                if s[j][0] - s[j0][0] >= 1.0 or j == len(s) - 1:
                    dt = s[j][0] - s[j0][0]
                    up = sum(s[j][i] - s[j0][i] for i in range(2, n + 1)) * 8 / dt / 1e6
                    pts.append(((s[j][0] + s[j0][0]) / 2, up))
                    j0 = j
            ax_up.plot([p[0] for p in pts], [p[1] for p in pts], color=c, lw=1.5,
                       label="%s: %.0f%% of capacity used up to T_last" % (name, 100 * med["recipient_use"]))
            ax_seed.axvline(med["T_last_s"], color=c, ls=":", lw=1)
            ax_up.axvline(med["T_last_s"], color=c, ls=":", lw=1)
        if tmin:
            ax_done.axhline(tmin, color="k", ls="--", lw=1, label="T_min %.1f s" % tmin)
            ax_seed.axvline(tmin, color="k", ls="--", lw=1)
            ax_up.axvline(tmin, color="k", ls="--", lw=1)
            cap = (n - 1) * rate_bps(runs[0]["peer_rate"]) / 1e6
            ax_up.axhline(cap, color="k", ls="-", lw=0.8, label="capacity %.0f Mbit/s (nominal)" % cap)
        ax_done.set_title("N=%d: recipients' completion times" % n)
        ax_done.set_xlabel("recipient (sorted)")
        ax_done.set_ylabel("seconds after start")
        ax_done.legend(fontsize=8, loc="lower right")
        ax_seed.set_title("N=%d: seed upload so far" % n)
        ax_seed.set_xlabel("seconds")
        ax_seed.set_ylabel("copies of the payload (F)")
        ax_seed.legend(fontsize=8, loc="lower right")
        ax_up.set_title("N=%d: recipients' total upload" % n)
        ax_up.set_xlabel("seconds")
        ax_up.set_ylabel("Mbit/s")
        ax_up.set_ylim(bottom=0)
        ax_up.legend(fontsize=8, loc="lower right")
        for ax in (ax_done, ax_seed, ax_up):
            ax.grid(alpha=0.3)
    p = runs[0]
    fig.suptitle("One seed (%s up) to N-1 recipients (%s up each), %.0f MiB folder, tc HTB in network namespaces"
                 % (p["seed_rate"], p["peer_rate"], p["F_MiB"]))
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)


if __name__ == "__main__":
    main()
