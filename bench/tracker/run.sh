#!/bin/bash
# Benchmark: shoal's tracker against Debian's opentracker, same run, same machine, same load.
#
#   bench/tracker/run.sh [RUNS] [SECONDS]        (defaults 3 and 15; run from anywhere, as root:
#                                                 opentracker chroots into its work directory)
#
# HTTP: wrk -t2 -c64 with announce.lua (compact announces, 10,000 torrents, 100,000 peers,
#       numwant 50); one validation pass with ANNOUNCE_CHECK=1 first, which must show bad=0.
# UDP:  udpload (bench/tracker/udpload): 16 sockets × 4 requests outstanding (64, as wrk -c64),
#       sent and received with sendmmsg/recvmmsg so the generator takes little CPU,
#       connect then announce in a closed loop,
#       same torrents and peers.
# Memory: both trackers restarted empty, then 1,000,000 peers (10,000 torrents × 100) announced
#       over UDP; VmRSS, RssAnon and RssFile read from /proc HOLD seconds later (default 15:
#       shoal tracker returns free heap pages every 10 s). bench/tracker/mem.sh measures
#       memory alone, for several shoal builds at once.
# Prints medians of RUNS runs per tracker and the ratios as a Markdown block (also written to
# $WORK/results.md). Needs: go, wrk, opentracker, python3. Everything binds to 127.0.0.1.
# SHOAL_BIN=path uses an already built shoal binary instead of building ./cmd/shoal.
set -euo pipefail

RUNS=${1:-3}
SECS=${2:-15}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/shoal-trackerbench.XXXXXX)}
mkdir -p "$WORK"
. "$HERE/lib.sh"
SHOAL_PORT=${SHOAL_PORT:-16969}
OT_PORT=${OT_PORT:-16970}
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

for tool in go wrk opentracker python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found" >&2; exit 1; }
done

echo "# building into $WORK" >&2
if [ -n "${SHOAL_BIN:-}" ]; then
  cp "$SHOAL_BIN" "$WORK/shoal"
else
  (cd "$REPO" && go build -o "$WORK/shoal" ./cmd/shoal)
fi
build_udpload
sync # a binary just built has dirty pages in the page cache; a deployed one does not

# The same 10,000 infohashes for both trackers, opentracker's whitelist.
make_infohashes
make_ot_whitelist

start_shoal() {
  "$WORK/shoal" tracker --http 127.0.0.1:$SHOAL_PORT --udp 127.0.0.1:$SHOAL_PORT >"$WORK/shoal.log" 2>&1 &
  SHOAL_PID=$!; PIDS+=("$SHOAL_PID")
}
start_ot() {
  # -w is relative to the chroot (-d).
  opentracker -i 127.0.0.1 -p $OT_PORT -P $OT_PORT -w /whitelist.txt -d "$WORK/ot" >"$WORK/ot.log" 2>&1 &
  OT_PID=$!; PIDS+=("$OT_PID")
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

http_run() { # port seconds [check]
  ANNOUNCE_IH_FILE="$WORK/ih.txt" ANNOUNCE_CHECK=${3:-0} \
    wrk -t2 -c64 -d"$2"s --latency -s "$HERE/announce.lua" "http://127.0.0.1:$1" | grep '^RESULT'
}
udp_run() { # port seconds
  udpload "$1" UDPLOAD_DURATION="$2"s | grep '^RESULT'
}

start_shoal; start_ot
wait_port $SHOAL_PORT; wait_port $OT_PORT

echo "# validation (ANNOUNCE_CHECK=1)" >&2
for t in shoal:$SHOAL_PORT opentracker:$OT_PORT; do
  line=$(http_run "${t#*:}" 3 1)
  echo "${t%%:*} check: $line" >&2
  bad=$(echo "$line" | field bad)
  [ "$bad" = 0 ] || { echo "run.sh: ${t%%:*} sent $bad bad replies" >&2; exit 1; }
done

: >"$WORK/http.txt"; : >"$WORK/udp.txt"
for i in $(seq "$RUNS"); do
  for t in shoal:$SHOAL_PORT opentracker:$OT_PORT; do
    line=$(http_run "${t#*:}" "$SECS"); echo "${t%%:*} $line" >>"$WORK/http.txt"; echo "run $i http ${t%%:*} $line" >&2
    line=$(udp_run "${t#*:}" "$SECS"); echo "${t%%:*} $line" >>"$WORK/udp.txt"; echo "run $i udp ${t%%:*} $line" >&2
  done
done

med() { grep "^$1 " "$WORK/$2.txt" | field "$3" | median; }

echo "# memory: restart empty, announce 1,000,000 peers over UDP" >&2
cleanup; PIDS=()
start_shoal; start_ot
wait_port $SHOAL_PORT; wait_port $OT_PORT
sleep 0.5
declare -A BASE_RSS BASE_ANON MEM_RSS MEM_ANON MEM_FILE
BASE_RSS[shoal]=$(kib $SHOAL_PID VmRSS); BASE_ANON[shoal]=$(kib $SHOAL_PID RssAnon)
BASE_RSS[opentracker]=$(kib $OT_PID VmRSS); BASE_ANON[opentracker]=$(kib $OT_PID RssAnon)
for t in shoal:$SHOAL_PORT opentracker:$OT_PORT; do
  udpload "${t#*:}" UDPLOAD_FILL=100 | grep '^FILLED' >&2
done
sleep "${HOLD:-15}"
MEM_RSS[shoal]=$(kib $SHOAL_PID VmRSS); MEM_ANON[shoal]=$(kib $SHOAL_PID RssAnon); MEM_FILE[shoal]=$(kib $SHOAL_PID RssFile)
MEM_RSS[opentracker]=$(kib $OT_PID VmRSS); MEM_ANON[opentracker]=$(kib $OT_PID RssAnon); MEM_FILE[opentracker]=$(kib $OT_PID RssFile)

{
  echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); load average when the report was written: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "Runs: $RUNS × ${SECS}s per tracker and protocol, interleaved; medians."
  echo
  echo "| | shoal | opentracker | shoal / opentracker |"
  echo "|---|---|---|---|"
  for p in http udp; do
    s=$(med shoal $p rps); o=$(med opentracker $p rps)
    s99=$(med shoal $p p99_ms); o99=$(med opentracker $p p99_ms)
    echo "| $p announces/s | $s | $o | $(awk -v a="$s" -v b="$o" 'BEGIN{printf "%.2f", a/b}') |"
    echo "| $p p99 latency (ms) | $s99 | $o99 | $(awk -v a="$s99" -v b="$o99" 'BEGIN{printf "%.2f", a/b}') |"
  done
  echo "| VmRSS empty (MiB) | $(awk -v k=${BASE_RSS[shoal]} 'BEGIN{printf "%.1f", k/1024}') | $(awk -v k=${BASE_RSS[opentracker]} 'BEGIN{printf "%.1f", k/1024}') | |"
  echo "| VmRSS with 1M peers (MiB) | $(awk -v k=${MEM_RSS[shoal]} 'BEGIN{printf "%.1f", k/1024}') | $(awk -v k=${MEM_RSS[opentracker]} 'BEGIN{printf "%.1f", k/1024}') | $(awk -v a=${MEM_RSS[shoal]} -v b=${MEM_RSS[opentracker]} 'BEGIN{printf "%.2f", a/b}') |"
  echo "| RssAnon with 1M peers (MiB) | $(awk -v k=${MEM_ANON[shoal]} 'BEGIN{printf "%.1f", k/1024}') | $(awk -v k=${MEM_ANON[opentracker]} 'BEGIN{printf "%.1f", k/1024}') | $(awk -v a=${MEM_ANON[shoal]} -v b=${MEM_ANON[opentracker]} 'BEGIN{printf "%.2f", a/b}') |"
  echo "| RssFile with 1M peers (MiB) | $(awk -v k=${MEM_FILE[shoal]} 'BEGIN{printf "%.1f", k/1024}') | $(awk -v k=${MEM_FILE[opentracker]} 'BEGIN{printf "%.1f", k/1024}') | $(awk -v a=${MEM_FILE[shoal]} -v b=${MEM_FILE[opentracker]} 'BEGIN{printf "%.2f", a/b}') |"
  echo "| RssAnon growth for 1M peers (MiB) | $(awk -v a=${MEM_ANON[shoal]} -v b=${BASE_ANON[shoal]} 'BEGIN{printf "%.1f", (a-b)/1024}') | $(awk -v a=${MEM_ANON[opentracker]} -v b=${BASE_ANON[opentracker]} 'BEGIN{printf "%.1f", (a-b)/1024}') | |"
  echo
  echo "Raw runs:"
  echo '```'
  sed 's/^/http /' "$WORK/http.txt"; sed 's/^/udp  /' "$WORK/udp.txt"
  echo '```'
} | tee "$WORK/results.md"
