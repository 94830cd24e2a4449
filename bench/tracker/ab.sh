#!/bin/bash
# UDP announce rate of two shoal builds, interleaved rounds, same generator and load as
# run.sh's UDP half (udpload, 16 sockets × 4 outstanding, 10,000 torrents, 100,000 peers):
# for telling whether a change moved shoal's own rate when the machine's noise is larger than
# the change.
#
#   bench/tracker/ab.sh OLD_BINARY NEW_BINARY [ROUNDS] [SECONDS]     (defaults 4 and 15)
#
# Prints each round's RESULT line prefixed with the round and old/new, then the medians.
set -euo pipefail

OLD=$1 NEW=$2 ROUNDS=${3:-4} SECS=${4:-15}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-$(mktemp -d /tmp/shoal-trackerab.XXXXXX)}
PORT=${PORT:-16990}
mkdir -p "$WORK"
. "$HERE/lib.sh"
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

build_udpload
make_infohashes

: >"$WORK/ab.txt"
for r in $(seq "$ROUNDS"); do
  for v in old new; do
    bin=$OLD; [ $v = new ] && bin=$NEW
    "$bin" tracker --http 127.0.0.1:$PORT --udp 127.0.0.1:$PORT >/dev/null 2>&1 &
    PID=$!
    wait_port $PORT
    udpload "$PORT" UDPLOAD_DURATION="$SECS"s | grep '^RESULT' | sed "s/^/$r $v /" | tee -a "$WORK/ab.txt"
    kill $PID; wait $PID 2>/dev/null || true; PID=
  done
done
for v in old new; do
  echo "$v median announces/s $(grep " $v RESULT" "$WORK/ab.txt" | sed 's/.* rps=\([0-9]*\).*/\1/' | median)"
done
