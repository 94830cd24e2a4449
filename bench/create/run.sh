#!/usr/bin/env bash
# Compares `shoal create` with mktorrent (multithreaded: -t defaults to the number of cores) on
# a 1 GiB file and on a folder of 1,000 files (~512 MiB), with the page cache warm and the same
# piece length for both. Each case is timed by hyperfine (median of RUNS runs after a warm-up
# run); the two .torrent files must have the same infohash, or the comparison is void.
#
# Usage: bench/create/run.sh            (from anywhere; data goes to $DATA, default /tmp)
#   RUNS=10 DATA=/tmp/x bench/create/run.sh
set -euo pipefail

cd "$(dirname "$0")/../.."
DATA=${DATA:-/tmp/shoal-bench-create}
RUNS=${RUNS:-5}
SHOAL=${SHOAL:-/tmp/shoal}
OUT=$DATA/out

for tool in hyperfine mktorrent jq; do
	command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
done
go build -o "$SHOAL" ./cmd/shoal
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

bench() { # name target log2-piece-length
	local name=$1 target=$2 log2=$3
	# Warm the page cache so both read from memory.
	find "$target" -type f -exec cat {} + >/dev/null
	hyperfine --warmup 1 --runs "$RUNS" --export-json "$OUT/$name.json" \
		--prepare "rm -f $OUT/$name-shoal.torrent $OUT/$name-mk.torrent" \
		-n shoal "$SHOAL create $target -o $OUT/$name-shoal.torrent --piece-length $((1 << log2))" \
		-n mktorrent "mktorrent -l $log2 -o $OUT/$name-mk.torrent $target" >&2
	# hyperfine's prepare removed the last outputs; make both once more to compare them.
	"$SHOAL" create "$target" -o "$OUT/$name-shoal.torrent" --piece-length $((1 << log2)) 2>/dev/null >/dev/null
	mktorrent -l "$log2" -o "$OUT/$name-mk.torrent" "$target" >/dev/null
	local a b
	a=$("$SHOAL" info --json "$OUT/$name-shoal.torrent" | jq -r .info_hash_v1)
	b=$("$SHOAL" info --json "$OUT/$name-mk.torrent" | jq -r .info_hash_v1)
	if [ "$a" != "$b" ]; then
		echo "run.sh: $name: infohash differs: shoal $a, mktorrent $b" >&2
		exit 1
	fi
	jq -r --arg name "$name" --arg pl "$((1 << (log2 - 10))) KiB" '
		(.results[] | select(.command == "shoal") | .median) as $s |
		(.results[] | select(.command == "mktorrent") | .median) as $m |
		(.results[] | select(.command == "shoal") | .user + .system) as $sc |
		(.results[] | select(.command == "mktorrent") | .user + .system) as $mc |
		"| \($name) | \($pl) | \($s * 1000 | round) ms | \($m * 1000 | round) ms | \($s / $m * 100 | round / 100) | \($sc * 1000 | round) ms | \($mc * 1000 | round) ms |"' "$OUT/$name.json"
}

echo "machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), $(uname -r)"
echo "shoal: $("$SHOAL" version | head -1); $(mktorrent -h | head -1)"
echo
echo "| case | piece length | shoal median | mktorrent median | shoal / mktorrent | shoal CPU (mean) | mktorrent CPU (mean) |"
echo "|---|---|---|---|---|---|---|"
bench 1GiB-file "$one" 20
bench 1000-files "$many" 19
