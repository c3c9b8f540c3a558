#!/usr/bin/env bash
# Runs a shell command on every worker host (Spark's workers.sh).
#   workers.sh [--config <conf-dir>] command...
# Hosts: file $SPARK_WORKERS, else $SPARK_CONF_DIR/workers, else localhost.
# Env: SPARK_SSH_OPTS (-o StrictHostKeyChecking=no), SPARK_SSH_FOREGROUND, SPARK_WORKER_SLEEP.
if [ "${1:-}" = "--config" ]; then shift; export SPARK_CONF_DIR="$1"; shift; fi
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
if [ $# -le 0 ]; then echo "Usage: workers.sh [--config <conf-dir>] command..." >&2; exit 1; fi
hostlist="${SPARK_WORKERS:-}"
if [ -z "$hostlist" ] && [ -f "$SPARK_CONF_DIR/workers" ]; then hostlist="$SPARK_CONF_DIR/workers"; fi
if [ -n "$hostlist" ]; then
  hosts=$(sed 's/#.*$//;/^[[:space:]]*$/d' "$hostlist")
else
  hosts=localhost
fi
SPARK_SSH_OPTS="${SPARK_SSH_OPTS:--o StrictHostKeyChecking=no}"
for host in $hosts; do
  if [ "$host" = "localhost" ] || [ "$host" = "127.0.0.1" ] || [ "$host" = "$(hostname)" ]; then
    # Local hosts run without ssh (a single-machine cluster needs no sshd).
    if [ -n "${SPARK_SSH_FOREGROUND:-}" ]; then
      bash -c "$*" 2>&1 | sed "s/^/$host: /"
    else
      bash -c "$*" 2>&1 | sed "s/^/$host: /" &
    fi
  else
    # shellcheck disable=SC2086
    if [ -n "${SPARK_SSH_FOREGROUND:-}" ]; then
      ssh $SPARK_SSH_OPTS "$host" "$@" 2>&1 | sed "s/^/$host: /"
    else
      ssh $SPARK_SSH_OPTS "$host" "$@" 2>&1 | sed "s/^/$host: /" &
    fi
  fi
  if [ -n "${SPARK_WORKER_SLEEP:-}" ]; then sleep "$SPARK_WORKER_SLEEP"; fi
done
wait
