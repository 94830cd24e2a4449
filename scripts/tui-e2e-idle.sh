#!/usr/bin/env bash
# CPU of the real terminal UI, idle, with 50 torrents: the number behind the
# "idle UI with 50 torrents uses at most 2% of a core" budget, measured on the
# whole shoal process (engine included), not just the UI loop that
# `go test ./tui -bench IdleUI` measures.
#
#   scripts/tui-e2e-idle.sh [bin/shoal] [seconds]
#
# It makes 50 small torrents whose data is already on disk, opens them all
# with `shoal open` in a private tmux server (120x40), waits until every one
# is seeding (checked, nothing to download), then reads the process's CPU
# time from /proc over the given seconds (default 10) and prints the share
# of one core. Offline: no DHT, LSD, UPnP or PEX; loopback only.
set -euo pipefail
shoal=$(realpath "${1:-bin/shoal}")
secs=${2:-10}
work=$(mktemp -d /tmp/shoal-idle.XXXXXX)
sock="$work/tmux.sock"
cleanup() {
  tmux -S "$sock" kill-server 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

mkdir -p "$work/data"
torrents=()
for i in $(seq 1 50); do
  head -c 262144 /dev/urandom > "$work/data/file$i.bin"
  "$shoal" create "$work/data/file$i.bin" -o "$work/t$i.torrent" > /dev/null 2>&1
  torrents+=("$work/t$i.torrent")
done

tmux -S "$sock" new-session -d -s idle -x 120 -y 40 \
  "exec env HOME=$work XDG_CONFIG_HOME=$work/config $shoal open ${torrents[*]} --data $work/data --state $work/state --listen 127.0.0.9:0 --no-dht --no-lsd --no-upnp --no-pex"
pid=$(tmux -S "$sock" list-panes -t idle -F '#{pane_pid}')

# Seeding, all 50: the title says 50 and no row is still checking.
for _ in $(seq 240); do
  screen=$(tmux -S "$sock" capture-pane -p -t idle)
  if grep -q "50 torrents" <<< "$screen" && ! grep -qE ' (check|meta|down) ' <<< "$screen"; then
    break
  fi
  sleep 0.5
done
grep -q "50 torrents" <<< "$screen" || { echo "shoal open did not list 50 torrents:"; echo "$screen"; exit 1; }
sleep 2 # let the last hashing and the first announces settle

ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks); s0=$(date +%s.%N)
sleep "$secs"
t1=$(ticks); s1=$(date +%s.%N)
awk -v d=$((t1 - t0)) -v hz="$hz" -v s0="$s0" -v s1="$s1" \
  'BEGIN { printf "idle shoal open, 50 torrents, %.1f s: %.2f%% of a core (%d ticks at %d Hz)\n", s1 - s0, 100 * d / hz / (s1 - s0), d, hz }'
tmux -S "$sock" send-keys -t idle q
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
echo "shoal open did not quit on q"; exit 1
