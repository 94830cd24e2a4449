#!/usr/bin/env bash
# make demo: the main job, offline. Three shoal seeders of a generated
# folder on loopback addresses, and shoal downloading from them: in the
# terminal UI when run on a terminal, else headless with progress lines. Nothing leaves the machine: DHT, LSD and UPnP are off and every
# address is 127.0.0.x.
set -euo pipefail
shoal=$(realpath "${1:-bin/shoal}")
work=$(mktemp -d /tmp/shoal-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

offline=(--no-dht --no-lsd --no-upnp)
echo "== making a 96 MiB folder to share in $work/share/release"
mkdir -p "$work/share/release/videos"
head -c $((64 << 20)) /dev/urandom > "$work/share/release/videos/lecture.mkv"
head -c $((32 << 20)) /dev/urandom > "$work/share/release/dataset.bin"
echo "shoal demo" > "$work/share/release/README.txt"

echo "== starting 3 seeders on 127.0.0.2-4 (each limited to 4 MiB/s so the progress is visible)"
"$shoal" seed "$work/share/release" --listen 127.0.0.2:6881 --state "$work/s1" \
  --torrent-out "$work/release.torrent" --up-limit 4M "${offline[@]}" > "$work/magnet" 2> "$work/seed1.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/magnet" ] && break; sleep 0.2; done
[ -s "$work/magnet" ] || { echo "seeder did not start:"; cat "$work/seed1.log"; exit 1; }
for i in 3 4; do
  "$shoal" seed "$work/release.torrent" --data "$work/share" --listen 127.0.0.$i:6881 --state "$work/s$i" \
    --up-limit 4M "${offline[@]}" > /dev/null 2> "$work/seed$i.log" &
  pids+=($!)
done
magnet=$(head -n1 "$work/magnet")
echo "   magnet: $magnet"
sleep 1

peers=(--peer 127.0.0.2:6881 --peer 127.0.0.3:6881 --peer 127.0.0.4:6881)
if [ -t 0 ] && [ -t 1 ]; then
  echo "== shoal open: the terminal UI downloads it (press q once the row says seed 100%)"
  sleep 2
  "$shoal" open "$magnet" --data "$work/downloads" --listen 127.0.0.5:0 --state "$work/leech" \
    "${peers[@]}" "${offline[@]}" --no-pex
else
  echo "== shoal get, by magnet link, from the three seeders (no terminal: headless)"
  "$shoal" get "$magnet" -o "$work/downloads" --listen 127.0.0.5:0 --state "$work/leech" \
    "${peers[@]}" "${offline[@]}" --timeout 60s
fi

echo "== checking the download against the original"
(cd "$work/share" && find release -type f -print0 | sort -z | xargs -0 sha256sum) > "$work/want"
(cd "$work/downloads" && find release -type f -print0 | sort -z | xargs -0 sha256sum) > "$work/got"
if cmp -s "$work/want" "$work/got"; then
  echo "   all files identical (sha256)"
else
  echo "   MISMATCH"; diff "$work/want" "$work/got"; exit 1
fi
