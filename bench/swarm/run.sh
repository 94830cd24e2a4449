#!/usr/bin/env bash
# Runs the swarm benchmark of RESULTS.md: shoal and libtorrent swarms of N = 8, 16 and 32
# nodes (one seed, N-1 recipients), RUNS runs each, alternating clients; then shoal with uTP
# dialled first (the engine's default elsewhere) with the same parameters; then the plot.
# Needs root and Debian's opentracker, python3-libtorrent and python3-matplotlib (for the
# plot only). Results go to bench/swarm/results/; see swarm.py --help for the options.
#
# Usage: bench/swarm/run.sh            RUNS=5 SIZES=8,16 bench/swarm/run.sh
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-3}
SIZES=${SIZES:-8,16,32}
OUT=${OUT:-results/swarm-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
mkdir -p "$(dirname "$OUT")"
# The recipients are `shoal get MAGNET --seed`, as a user would run them: no strategy knobs.
./swarm.py --n "$SIZES" --runs "$RUNS" --clients shoal,libtorrent --out "$OUT" --label default
./swarm.py --n "$SIZES" --runs "$RUNS" --clients shoal --out "$OUT" --label utp \
	--shoal-env SHOAL_STRATEGY=tcp=0 --shoal-seed-env SHOAL_STRATEGY=tcp=0
/usr/bin/python3 plot.py "${OUT%.jsonl}.png" "$OUT" --label shoal=default,utp --label libtorrent=default
echo "results: $OUT and ${OUT%.jsonl}.png"
