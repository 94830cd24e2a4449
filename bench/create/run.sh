#!/usr/bin/env bash
# Compares `shoal create` with mktorrent (multithreaded: -t defaults to the number of cores) on
# a 1 GiB file and on a folder of 1,000 files (~512 MiB), with the page cache warm and the same
# piece length for both. The two tools run alternately, RUNS times each after one warm-up
# round, so load from other work on a shared machine hits both alike; the table gives median
# wall time and median CPU time (user + system). The two .torrent files must have the same
# infohash, or the comparison is void.
#
# Usage: bench/create/run.sh            (from anywhere; data goes to $DATA, default under /tmp)
#   RUNS=11 DATA=/tmp/x SHOAL=/tmp/shoal SHOAL_BUILD=0 bench/create/run.sh
set -euo pipefail

cd "$(dirname "$0")/../.."
DATA=${DATA:-/tmp/shoal-bench-create}
RUNS=${RUNS:-9}
SHOAL=${SHOAL:-/tmp/shoal}
OUT=$DATA/out

for tool in mktorrent jq; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
done
# SHOAL_BUILD=0 uses an existing $SHOAL (say, built from another checkout).
[ "${SHOAL_BUILD:-1}" = 0 ] || go build -o "$SHOAL" ./cmd/shoal
mkdir -p "$DATA" "$OUT"

# Test data, made once and kept between runs (incompressible, so no file system tricks).
one=$DATA/one/1GiB.bin
if [ "$(stat -c %s "$one" 2>/dev/null || echo 0)" != 1073741824 ]; then
	mkdir -p "$DATA/one"
	head -c 1073741824 /dev/urandom >"$one"
fi
many=$DATA/many
if [ "$(find "$many" -type f 2>/dev/null | wc -l)" != 1000 ]; then
	rm -rf "$many"
	# 1,000 files in 20 folders, sizes uniform in 1 B .. 1 MiB (fixed seed): ~512 MiB.
	awk 'BEGIN { srand(42); for (i = 0; i < 1000; i++) printf "%02d/file-%04d.bin %d\n", i % 20, i, 1 + int(rand() * 1048576) }' |
		while read -r name size; do
			mkdir -p "$many/$(dirname "$name")"
			head -c "$size" /dev/urandom >"$many/$name"
		done
fi

# timed FILE CMD...: appends "wall cpu" seconds to FILE.
timed() {
	local file=$1
	shift
	local t
	t=$({ TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1; } 2>&1)
	awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' <<<"$t" >>"$file"
}

median() { # column file
	sort -n -k"$1" "$2" | awk -v c="$1" '{ v[NR] = $c } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bench() { # name target log2-piece-length
	local name=$1 target=$2 log2=$3
	local st=$OUT/$name-shoal.torrent mt=$OUT/$name-mk.torrent
	local sf=$OUT/$name-shoal.times mf=$OUT/$name-mk.times
	: >"$sf"
	: >"$mf"
	# Warm the page cache so both read from memory.
	find "$target" -type f -exec cat {} + >/dev/null
	for i in $(seq 0 "$RUNS"); do
		rm -f "$st" "$mt" # mktorrent refuses to overwrite
		local s=$sf m=$mf
		[ "$i" = 0 ] && s=/dev/null m=/dev/null # warm-up round
		if ((i % 2)); then
			timed "$s" "$SHOAL" create "$target" -o "$st" --piece-length $((1 << log2))
			timed "$m" mktorrent -l "$log2" -o "$mt" "$target"
		else
			timed "$m" mktorrent -l "$log2" -o "$mt" "$target"
			timed "$s" "$SHOAL" create "$target" -o "$st" --piece-length $((1 << log2))
		fi
	done
	local a b
	a=$("$SHOAL" info --json "$st" | jq -r .info_hash_v1)
	b=$("$SHOAL" info --json "$mt" | jq -r .info_hash_v1)
	if [ "$a" != "$b" ]; then
		echo "run.sh: $name: infohash differs: shoal $a, mktorrent $b" >&2
		exit 1
	fi
	local sw mw sc mc
	sw=$(median 1 "$sf") mw=$(median 1 "$mf") sc=$(median 2 "$sf") mc=$(median 2 "$mf")
	awk -v n="$name" -v pl="$((1 << (log2 - 10))) KiB" -v sw="$sw" -v mw="$mw" -v sc="$sc" -v mc="$mc" 'BEGIN {
		printf "| %s | %s | %d ms | %d ms | %.2f | %d ms | %d ms | %.2f |\n", n, pl, sw * 1000, mw * 1000, sw / mw, sc * 1000, mc * 1000, sc / mc }'
}

echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), Linux $(uname -r); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$("$SHOAL" version | head -1); $(mktorrent -h | head -1 | cut -d' ' -f1-2); $RUNS runs each, alternating, after a warm-up round"
echo
echo "| case | piece length | shoal wall | mktorrent wall | wall ratio | shoal CPU | mktorrent CPU | CPU ratio |"
echo "|---|---|---|---|---|---|---|---|"
bench 1GiB-file "$one" 20
bench 1000-files "$many" 19
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg); medians; ratio < 1 means shoal is faster"
