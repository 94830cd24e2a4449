#!/usr/bin/env bash
# Runs every Fuzz target, in the main module and in swarm/utp (a module of
# its own), for the given time each.
# Crashers found are written under the package's testdata/fuzz/ and kept as
# regression inputs (plain `go test` replays them).
set -euo pipefail
fuzztime=${1:-30s}
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# fuzz_one runs one target. A failure that wrote a crasher fails at once. A
# failure without one is the fuzzing machinery (a worker that did not answer
# in time on a loaded machine): it is shown and the target runs once more.
fuzz_one() {
  local pkg=$1 target=$2
  for try in 1 2; do
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
      return 0
    fi
    tail -n 40 "$log"
    if grep -q 'Failing input written to' "$log" || [ "$try" = 2 ]; then
      echo "FAIL: fuzz $pkg $target" >&2
      return 1
    fi
    echo "fuzz $pkg $target: failed without a crasher; running it again"
  done
}

fuzz_module() {
  local pkgs
  pkgs=$(go list ./...) # not in the for: a failing go list would fuzz nothing and pass
  for pkg in $pkgs; do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
      echo "fuzz $pkg $target ($fuzztime)"
      fuzz_one "$pkg" "$target"
    done
  done
}

fuzz_module
(cd swarm/utp && fuzz_module)
