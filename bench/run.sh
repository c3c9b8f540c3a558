#!/usr/bin/env bash
# Runs Ember's transport benchmarks and their baselines (package bench) in
# one go test run, tees the output to bench/results/latest.txt and, when
# iperf3 is available, appends iperf3's loopback throughput as a ceiling.
#
#   bash bench/run.sh                  # default -benchtime (1s)
#   bash bench/run.sh -benchtime=2s    # arguments go to go test
#   bash bench/run.sh -short           # small data files
set -uo pipefail
# bench/ is a module of its own (bench/go.mod): go test runs inside it.
cd "$(dirname "$0")"

mkdir -p results
out=results/latest.txt

cmd=(go test -run='^$' -bench=. -benchmem -count=1 -timeout 60m "$@" .)
{
  echo "# $(date -u '+%Y-%m-%dT%H:%M:%SZ') $(go version)"
  echo "# $(nproc) CPUs; ${cmd[*]}"
} >"$out"
"${cmd[@]}" 2>&1 | tee -a "$out"
status=${PIPESTATUS[0]}

# iperf3: the kernel's loopback TCP ceiling for the bulk benchmarks.
port=5299
if ! command -v iperf3 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing iperf3"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y iperf3 >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y iperf3 >/dev/null 2>&1; } ||
      echo "could not install iperf3"
  fi
fi
if command -v iperf3 >/dev/null 2>&1; then
  iperf3 -s -1 -p "$port" -B 127.0.0.1 >/dev/null 2>&1 &
  server=$!
  sleep 1
  if report=$(iperf3 -c 127.0.0.1 -p "$port" -t 5 -Z 2>&1); then
    summary=$(printf '%s\n' "$report" | grep -E 'receiver$' | tail -n1 | sed -E 's/^\[ *[0-9]+\] +//; s/ +/ /g')
    line="iperf3 loopback 127.0.0.1 (-t 5 -Z, one stream) receiver: ${summary:-no summary line found}"
  else
    line="iperf3 failed: $(printf '%s' "$report" | tail -n1)"
  fi
  kill "$server" 2>/dev/null
  wait "$server" 2>/dev/null
  echo "$line" | tee -a "$out"
else
  echo "iperf3 is not installed (and could not be installed here); skipping the loopback ceiling" | tee -a "$out"
fi

exit "$status"
