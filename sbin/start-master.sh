#!/usr/bin/env bash
# Starts the master on this machine (Spark's start-master.sh).
# Env: SPARK_MASTER_HOST (hostname -f), SPARK_MASTER_PORT (7077), SPARK_MASTER_WEBUI_PORT (8080).
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  echo "Usage: ./sbin/start-master.sh [options]"; exit 0
fi
SPARK_MASTER_PORT="${SPARK_MASTER_PORT:-7077}"
SPARK_MASTER_HOST="${SPARK_MASTER_HOST:-$(hostname -f 2>/dev/null || hostname)}"
SPARK_MASTER_WEBUI_PORT="${SPARK_MASTER_WEBUI_PORT:-8080}"
exec "$EMBER_HOME/sbin/ember-daemon.sh" start master 1 \
  --host "$SPARK_MASTER_HOST" --port "$SPARK_MASTER_PORT" --webui-port "$SPARK_MASTER_WEBUI_PORT" "$@"
