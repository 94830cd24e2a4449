#!/usr/bin/env bash
# Download throughput side by side in one run: a 1 GiB file (1 MiB pieces) seeded by libtorrent on
# loopback, fetched in rotation by shoal, libtorrent, aria2 and anacrolix's own client, then shoal
# seeding to libtorrent. Medians of ROUNDS rounds (default 5). See bench.py for the method.
#
# Usage: bench/throughput/run.sh [bench.py flags]     (data in $DATA, default /tmp/shoal-bench-throughput)
#   ROUNDS=7 bench/throughput/run.sh
#   bench/throughput/run.sh --clients shoal,libtorrent     # a quicker pair
#   BUILD=0 bench/throughput/run.sh                        # reuse the binaries in $BIN
#   bench/throughput/run.sh --clients shoal-utp,libtorrent-utp,libtorrent   # the uTP rows
# Needs: Go, Debian's python3-libtorrent (/usr/bin/python3), aria2, mktorrent; about 3 GiB in /tmp.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-/tmp/shoal-bench-throughput}
ROUNDS=${ROUNDS:-5}
BIN=${BIN:-/tmp/shoal-bench-bin}
mkdir -p "$BIN" "$DATA"
for tool in aria2c mktorrent cmp /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
done
/usr/bin/python3 -c 'import libtorrent' || { echo "run.sh: /usr/bin/python3 lacks libtorrent (apt install python3-libtorrent)" >&2; exit 1; }

if [ "${BUILD:-1}" = 1 ]; then # BUILD=0 reuses the binaries already in $BIN
	go build -o "$BIN/shoal" ./cmd/shoal
	# The same shoal with the library's file storage alone, to show what swarm/storage_hashing.go gains.
	go build -tags shoal_plainstorage -o "$BIN/shoal-plainstorage" ./cmd/shoal
	# anacrolix's own client at the version shoal uses, from a module of its own (see anacrolix/go.mod).
	(cd bench/throughput/anacrolix && go build -o "$BIN/anacrolix-torrent" github.com/anacrolix/torrent/cmd/torrent)
fi

{
	echo "date: $(date -u +%FT%TZ)"
	echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}'), kernel $(uname -r)"
	echo "shoal: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- swarm cmd || echo '+changes'), libtorrent $(/usr/bin/python3 -c 'import libtorrent; print(libtorrent.__version__)'), $(aria2c --version | head -1)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$DATA/run-info.txt" >&2

/usr/bin/python3 bench/throughput/bench.py --data "$DATA" --rounds "$ROUNDS" \
	--shoal "$BIN/shoal" --anacrolix "$BIN/anacrolix-torrent" \
	--extra-shoal "shoal-plain=$BIN/shoal-plainstorage" --extra-seed "seed-plain=$BIN/shoal-plainstorage" \
	--json-out "$DATA/results.json" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
