#!/usr/bin/env bash
# Rebuilds third_party/anacrolix-torrent: github.com/anacrolix/torrent at the
# version below, from the Go module cache (or the proxy), without its tests,
# commands and FUSE package, with our patches applied, then gofmt'd. go.mod replaces the
# module with this folder. Drop a patch once the library carries the fix, and
# the folder and the replace once no patch is left.
set -euo pipefail
version=v1.62.0
cd "$(dirname "$0")"
dir=$(cd .. && go mod download -json "github.com/anacrolix/torrent@$version" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
rm -rf anacrolix-torrent
cp -r "$dir" anacrolix-torrent
chmod -R u+w anacrolix-torrent
cd anacrolix-torrent
find . -name '*_test.go' -delete
find . -type d -name testdata -prune -exec rm -rf {} +
rm -rf cmd fs tests test analysis Dockerfile justfile go.work go.work.sum TODO NOTES.md CHANGELOG.md .github
for p in ../patches/anacrolix-torrent-"$version"-*.patch; do
  patch -p1 --no-backup-if-mismatch < "$p"
done
# The project's gofmt check covers this folder too; upstream has a few files
# formatted by an older gofmt.
gofmt -w .
