#!/usr/bin/env bash
# Runs every fuzz target of every module in the repository (the library and
# bench/, which has a go.mod of its own) for the given time (default 30s).
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-30s}"
root=$(pwd)
mods=$( (git ls-files '*go.mod' 2>/dev/null || true; find . -name go.mod -not -path './.git/*' -not -path './.spark/*' -printf '%P\n') | sort -u)
for mod in $mods; do
  moddir=$(dirname "$mod")
  case "$moddir" in */testdata|*/testdata/*) continue ;; esac # test-data modules are not the project's
  cd "$root/$moddir"
  for pkg in $(go list ./...); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
      echo "fuzz $pkg $f ($t)"
      if ! go test -run='^$' -fuzz="^${f}\$" -fuzztime="$t" "$pkg" >/tmp/ember-fuzz.txt 2>&1; then
        # Go's fuzzing engine sometimes reports "context deadline exceeded"
        # when -fuzztime ends while a worker minimizes a new input; no crash
        # input is written then. Retry that case once; any real failure (a
        # crasher is saved under testdata/fuzz) still fails.
        if grep -q "context deadline exceeded" /tmp/ember-fuzz.txt && ! grep -q "Failing input written" /tmp/ember-fuzz.txt; then
          echo "  (fuzz engine deadline hiccup; retrying once)"
          go test -run='^$' -fuzz="^${f}\$" -fuzztime="$t" "$pkg" >/tmp/ember-fuzz.txt 2>&1 || { cat /tmp/ember-fuzz.txt; exit 1; }
        else
          cat /tmp/ember-fuzz.txt; exit 1
        fi
      fi
    done
  done
done
