#!/usr/bin/env bash
# Profiles shoal's engine downloading in-process (swarm.TestThroughputFromSeed) from a
# libtorrent seed of the benchmark's 1 GiB file (made by bench.py: run run.sh once first).
#
# Usage: bench/throughput/profile.sh [OUT_DIR]   -> OUT_DIR/cpu.out, prints `pprof -top`
set -euo pipefail
cd "$(dirname "$0")/../.."
D=${DATA:-/tmp/shoal-bench-throughput}
OUT=${1:-$D/profile}
mkdir -p "$OUT"
[ -f "$D/tp.torrent" ] || { echo "profile.sh: run bench/throughput/run.sh first (makes $D/tp.torrent)" >&2; exit 1; }
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2",0)); print(s.getsockname()[1])')
rm -f "$OUT/seed.ready"
/usr/bin/python3 bench/lt_client.py --seed --torrent "$D/tp.torrent" --save "$D/seed" \
	--listen "127.0.0.2:$PORT" --ready-file "$OUT/seed.ready" >"$OUT/seed.log" 2>&1 &
SEED=$!
trap 'kill $SEED 2>/dev/null; wait $SEED 2>/dev/null || true' EXIT
until [ -f "$OUT/seed.ready" ]; do
	kill -0 "$SEED" 2>/dev/null || { echo "profile.sh: the libtorrent seed exited: see $OUT/seed.log" >&2; exit 1; }
	sleep 0.2
done
go test -c -o "$OUT/swarm.test" ./swarm/
for i in $(seq 1 "${RUNS:-1}"); do
	# The whole output goes to test.N.log; the lines that matter are shown, and a failing run stops here.
	rc=0
	SHOAL_BENCH_TORRENT=$D/tp.torrent SHOAL_BENCH_PEER=127.0.0.2:$PORT \
		"$OUT/swarm.test" -test.run TestThroughputFromSeed -test.count=1 -test.v \
		-test.cpuprofile "$OUT/cpu.$i.out" ${PROFILE_ARGS:-} >"$OUT/test.$i.log" 2>&1 || rc=$?
	grep -E 'MiB/s|read back|FAIL|panic' "$OUT/test.$i.log" || true # shown only: the status is rc's
	[ "$rc" = 0 ] || { echo "profile.sh: run $i failed (exit $rc): see $OUT/test.$i.log" >&2; exit 1; }
done
go tool pprof -top -nodecount=${NODES:-40} "$OUT/swarm.test" "$OUT/cpu.1.out" 2>/dev/null | head -$((${NODES:-40} + 6))
