#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time (default 30s).
set -euo pipefail
cd "$(dirname "$0")/.."
t="${1:-30s}"
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
