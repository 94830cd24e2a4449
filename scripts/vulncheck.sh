#!/usr/bin/env bash
# govulncheck without vuln.go.dev: the Go vulnerability database is built
# from golang.org/x/vulndb, fetched through the Go module proxy at the
# version below (move it forward to see newer reports), and govulncheck reads
# it from disk. Checks the main module and swarm/utp; exits non-zero if code
# shoal calls is affected.
set -euo pipefail
cd "$(dirname "$0")/.."
vulndb_version=v0.0.0-20261105234957-e22db6528018
govulncheck=golang.org/x/vuln/cmd/govulncheck@v1.1.4
dir=$(go mod download -json "golang.org/x/vulndb@$vulndb_version" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
python3 scripts/vulndb.py "$dir" "$db"
go run "$govulncheck" -db "file://$db" ./...
(cd swarm/utp && go run "$govulncheck" -db "file://$db" ./...)
