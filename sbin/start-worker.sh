#!/usr/bin/env bash
# Starts worker instances on this machine (Spark's start-worker.sh).
#   start-worker.sh spark://host:port[,host2:port2] [options]
# Env: SPARK_WORKER_INSTANCES (1), SPARK_WORKER_PORT (instance i uses PORT+i-1),
#      SPARK_WORKER_WEBUI_PORT (8081; instance i uses WEBUI+i-1), SPARK_WORKER_CORES,
#      SPARK_WORKER_MEMORY, SPARK_WORKER_DIR ($EMBER_HOME/work), SPARK_HOME (the Spark
#      distribution JVM executors and drivers run from; unset: Go applications only).
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
if [ $# -lt 1 ] || [ "${1:-}" = "--help" ]; then
  echo "Usage: ./sbin/start-worker.sh <master> [options]"
  echo "  <master> is spark://host:port[,host2:port2]"
  exit 1
fi
MASTER="$1"; shift
case "$MASTER" in spark://*) ;; *) echo "start-worker.sh: invalid master URL '$MASTER' (want spark://host:port)" >&2; exit 1 ;; esac
SPARK_WORKER_WEBUI_PORT="${SPARK_WORKER_WEBUI_PORT:-8081}"
# The worker's files go to the Ember installation, not into the Spark
# distribution $SPARK_HOME names.
export SPARK_WORKER_DIR="${SPARK_WORKER_DIR:-$EMBER_HOME/work}"
instances="${SPARK_WORKER_INSTANCES:-1}"
shuffle_on() {
  grep -qsE '^[[:space:]]*spark\.shuffle\.service\.enabled[[:space:]=:]+true' "$SPARK_CONF_DIR/spark-defaults.conf" ||
    [[ " ${SPARK_DAEMON_JAVA_OPTS:-} ${SPARK_WORKER_OPTS:-} " == *"-Dspark.shuffle.service.enabled=true"* ]]
}
if [ "$instances" -gt 1 ] && shuffle_on; then
  echo "start-worker.sh: SPARK_WORKER_INSTANCES > 1 cannot be used with spark.shuffle.service.enabled=true" >&2
  exit 1
fi
status=0
for ((i = 1; i <= instances; i++)); do
  port_args=()
  if [ -n "${SPARK_WORKER_PORT:-}" ]; then port_args=(--port $((SPARK_WORKER_PORT + i - 1))); fi
  "$EMBER_HOME/sbin/ember-daemon.sh" start worker "$i" --webui-port $((SPARK_WORKER_WEBUI_PORT + i - 1)) \
    "${port_args[@]}" "$@" "$MASTER" || status=1
done
exit $status
