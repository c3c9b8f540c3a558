#!/usr/bin/env bash
# Starts a worker on every host of conf/workers (Spark's start-workers.sh).
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
SPARK_MASTER_PORT="${SPARK_MASTER_PORT:-7077}"
SPARK_MASTER_HOST="${SPARK_MASTER_HOST:-$(hostname -f 2>/dev/null || hostname)}"
exec "$EMBER_HOME/sbin/workers.sh" cd "$EMBER_HOME" \; "$EMBER_HOME/sbin/start-worker.sh" "spark://$SPARK_MASTER_HOST:$SPARK_MASTER_PORT"
