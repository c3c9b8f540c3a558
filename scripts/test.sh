#!/usr/bin/env bash
# The project's test command (README.md names it; .ci/run calls it).
# It installs what the tests need, then runs vet, the race-enabled test
# suite, and a short smoke of every benchmark and fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:-} -mod=mod"
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"

echo "== go mod download (the library, and bench/: a module of its own)"
go mod download
(cd bench && go mod download)

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
(cd bench && go vet ./...)

echo "== cross-builds (Linux-only code is behind build tags: EPOLL, sendfile, openat2)"
GOOS=darwin GOARCH=arm64 go build ./...
GOOS=freebsd go build ./...
GOOS=windows go build ./codec/... ./netpoll/... ./rpcenv/... ./shuffle/...
# vet compiles the tests too: the library's tests must build off Linux.
GOOS=darwin GOARCH=arm64 go vet ./codec/... ./netpoll/... ./rpcenv/... ./shuffle/... ./deploy/... ./cmd/...
GOOS=windows go vet ./codec/... ./netpoll/... ./rpcenv/... ./shuffle/...

echo "== chromium (web UI browser test)"
scripts/chromium.sh || echo "chromium install failed; the web UI browser test will skip"

echo "== zookeeper (deploy/recovery and HA tests)"
scripts/zookeeper.sh
export EMBER_REQUIRE_ZOOKEEPER=1

echo "== network namespaces (internal/fault: hosts on a private bridge)"
scripts/netns.sh
export EMBER_REQUIRE_NETNS=1

echo "== spark (a pinned Spark 4.1 from PyPI: the live interop peer)"
SPARK_HOME=$(scripts/spark.sh | tail -n1)
export SPARK_HOME
export EMBER_REQUIRE_SPARK=1
echo "SPARK_HOME=$SPARK_HOME"

echo "== go test -race"
go test -race -count=1 -timeout 20m ./...
(cd bench && go test -race -count=1 -timeout 20m ./...)

echo "== the shuffle service's portable file opening (what Windows uses), on Linux"
go test -count=1 -tags shuffle_portable ./shuffle/

echo "== allocation budgets (no -race: the race detector allocates on its own)"
go test -count=1 -run 'Alloc' ./codec/... ./netpoll/... ./rpcenv/... ./shuffle/... ./deploy/master/ >/tmp/ember-alloc.txt 2>&1 || { cat /tmp/ember-alloc.txt; exit 1; }
grep -E '^(ok|FAIL|---)' /tmp/ember-alloc.txt | grep -v 'no test files' || true

echo "== benchmark smoke (-benchtime=10x, -short: small data files)"
{ go test -short -run='^$' -bench=. -benchtime=10x -timeout 20m ./... &&
  (cd bench && go test -short -run='^$' -bench=. -benchtime=10x -timeout 20m ./...); } >/tmp/ember-bench-smoke.txt 2>&1 || { cat /tmp/ember-bench-smoke.txt; exit 1; }
grep -E '^(Benchmark|ok|FAIL|PASS)' /tmp/ember-bench-smoke.txt || true

echo "== fuzz smoke (5s each)"
scripts/fuzz.sh 5s

echo "== done"
