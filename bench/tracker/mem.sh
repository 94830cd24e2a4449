#!/bin/bash
# Resident memory of shoal tracker variants against opentracker, same run, same machine:
# each tracker is started empty, then 1,000,000 peers (10,000 torrents × 100) are announced to
# it over UDP with udpload; VmRSS, RssAnon and RssFile are read from /proc/PID/status empty,
# 2 s after the fill, and again HOLD seconds later (default 10: the Go scavenger returns freed
# pages in the background). Trackers run one after the other, opentracker first and last, so a
# drift of the machine shows.
#
#   bench/tracker/mem.sh [NAME=BINARY[,VAR=VALUE...] ...]      (as root: opentracker chroots)
#
# Without arguments it builds ./cmd/shoal and ./cmd/shoal-tracker as `make build` does and
# measures both (`shoal tracker …` and `shoal-tracker …`). A variant's VAR=VALUE
# pairs are put in its environment (e.g. shoal-gogc50=/tmp/shoal,GOGC=50). Prints a Markdown
# table (also written to $WORK/mem.md). Needs: go, opentracker, python3.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/shoal-trackermem.XXXXXX)}
mkdir -p "$WORK"
. "$HERE/lib.sh"
PORT=${PORT:-16979}
HOLD=${HOLD:-10}
FILL=${FILL:-100}
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

for tool in go make opentracker python3; do
  command -v "$tool" >/dev/null || { echo "mem.sh: $tool not found" >&2; exit 1; }
done

VARIANTS=("$@")
if [ ${#VARIANTS[@]} -eq 0 ]; then
  make -C "$REPO" build BIN="$WORK/shoal" TRACKER_BIN="$WORK/shoal-tracker" >&2
  VARIANTS=("shoal=$WORK/shoal" "shoal-tracker=$WORK/shoal-tracker")
fi
build_udpload
sync # a binary just built has dirty pages in the page cache; a deployed one does not

make_infohashes
make_ot_whitelist

mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
snap() { echo "$(kib $1 VmRSS) $(kib $1 RssAnon) $(kib $1 RssFile)"; }

: >"$WORK/mem.txt"
measure() { # name command...
  local name=$1; shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PID=$!
  wait_port $PORT
  sleep 1
  local empty filled held
  empty=$(snap $PID)
  udpload "$PORT" UDPLOAD_FILL="$FILL" | grep '^FILLED' >&2
  sleep 2
  filled=$(snap $PID)
  sleep "$HOLD"
  held=$(snap $PID)
  echo "$name $empty $filled $held" | tee -a "$WORK/mem.txt" >&2
  kill $PID; wait $PID 2>/dev/null || true; PID=
}
run_ot() {
  # -w is relative to the chroot (-d).
  measure "$1" opentracker -i 127.0.0.1 -p $PORT -P $PORT -w /whitelist.txt -d "$WORK/ot"
}

run_ot opentracker
for v in "${VARIANTS[@]}"; do
  name=${v%%=*}; rest=${v#*=}
  IFS=, read -r -a parts <<<"$rest"
  bin=${parts[0]}
  envs=("${parts[@]:1}")
  sub=(tracker)
  case "$(basename "$bin")" in shoal-tracker*) sub=() ;; esac # the tracker-only binary has no subcommand
  measure "$name" env "${envs[@]}" "$bin" "${sub[@]}" --http 127.0.0.1:$PORT --udp 127.0.0.1:$PORT
done
run_ot opentracker-again

{
  echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), kernel $(uname -r); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "1,000,000 peers = 10,000 torrents × $FILL peers, announced over UDP; MiB from /proc/PID/status."
  echo
  echo "| tracker | VmRSS empty | RssAnon empty | RssFile empty | VmRSS 1M peers | RssAnon 1M | RssFile 1M | VmRSS ${HOLD}s later | RssAnon ${HOLD}s later |"
  echo "|---|---|---|---|---|---|---|---|---|"
  while read -r name r0 a0 f0 r1 a1 f1 r2 a2 f2; do
    echo "| $name | $(mib $r0) | $(mib $a0) | $(mib $f0) | $(mib $r1) | $(mib $a1) | $(mib $f1) | $(mib $r2) | $(mib $a2) |"
  done <"$WORK/mem.txt"
} | tee "$WORK/mem.md"
