#!/usr/bin/env bash
# Stops the workers, then the master. --wait polls until no worker is left.
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
"$EMBER_HOME/sbin/stop-workers.sh"
if [ "${1:-}" = "--wait" ]; then
  for _ in $(seq 1 100); do
    ls "${SPARK_PID_DIR:-/tmp}"/ember-*-worker-*.pid >/dev/null 2>&1 || break
    sleep 0.2
  done
fi
"$EMBER_HOME/sbin/stop-master.sh"
