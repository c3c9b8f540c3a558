#!/usr/bin/env bash
# Runs an ember command as a daemon (Spark's spark-daemon.sh).
#
#   ember-daemon.sh [--config <conf-dir>] (start|stop|status) <command> <instance-number> <args...>
#
# <command> is an ember subcommand: master, worker, shuffle-service.
# Env: SPARK_CONF_DIR, SPARK_LOG_DIR ($EMBER_HOME/logs), SPARK_PID_DIR (/tmp),
# SPARK_IDENT_STRING ($USER), SPARK_NICENESS (0), SPARK_NO_DAEMONIZE,
# SPARK_LOG_MAX_FILES (5).
set -u
usage="Usage: ember-daemon.sh [--config <conf-dir>] (start|stop|status) <command> <instance-number> <args...>"
if [ $# -le 1 ]; then echo "$usage" >&2; exit 1; fi

if [ "$1" = "--config" ]; then
  shift; export SPARK_CONF_DIR="$1"; shift
  if [ ! -d "$SPARK_CONF_DIR" ]; then echo "ERROR : $SPARK_CONF_DIR is not a directory" >&2; echo "$usage" >&2; exit 1; fi
fi
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"

option="$1"; shift
command="$1"; shift
instance="${1:-1}"; shift || true

export SPARK_IDENT_STRING="${SPARK_IDENT_STRING:-${USER:-$(id -un)}}"
export SPARK_LOG_DIR="${SPARK_LOG_DIR:-$EMBER_HOME/logs}"
export SPARK_PID_DIR="${SPARK_PID_DIR:-/tmp}"
export SPARK_NICENESS="${SPARK_NICENESS:-0}"
mkdir -p "$SPARK_LOG_DIR" "$SPARK_PID_DIR"

log="$SPARK_LOG_DIR/ember-$SPARK_IDENT_STRING-$command-$instance-$(hostname).out"
pid="$SPARK_PID_DIR/ember-$SPARK_IDENT_STRING-$command-$instance.pid"

rotate_log() {
  local f="$1" num="${SPARK_LOG_MAX_FILES:-5}"
  [ -f "$f" ] || return 0
  while [ "$num" -gt 1 ]; do
    local prev=$((num - 1))
    [ -f "$f.$prev" ] && mv "$f.$prev" "$f.$num"
    num=$prev
  done
  mv "$f" "$f.$num"
}

is_running() {
  [ -f "$pid" ] || return 1
  local p; p="$(cat "$pid" 2>/dev/null)"
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && ps -p "$p" -o args= 2>/dev/null | grep -q "ember"
}

case "$option" in
  start)
    if is_running; then
      echo "$command running as process $(cat "$pid").  Stop it first."
      exit 1
    fi
    bin="$(ember_bin)" || exit 1
    rotate_log "$log"
    echo "starting ember $command, logging to $log"
    if [ -n "${SPARK_NO_DAEMONIZE:-}" ]; then
      export SPARK_WORKER_INSTANCE="$instance"
      exec nice -n "$SPARK_NICENESS" "$bin" "$command" "$@"
    fi
    SPARK_WORKER_INSTANCE="$instance" nohup nice -n "$SPARK_NICENESS" "$bin" "$command" "$@" >>"$log" 2>&1 </dev/null &
    newpid=$!
    echo "$newpid" >"$pid"
    # Give it a moment to fail fast (bad flags, port in use).
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 "$newpid" 2>/dev/null || break
      sleep 0.2
    done
    if ! kill -0 "$newpid" 2>/dev/null; then
      echo "failed to launch: ember $command $*"
      tail -n 20 "$log" | sed 's/^/  /'
      echo "full log in $log"
      rm -f "$pid"
      exit 1
    fi
    ;;
  stop)
    if is_running; then
      p="$(cat "$pid")"
      echo "stopping $command"
      kill "$p"
      for _ in $(seq 1 100); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$p" 2>/dev/null; then
        echo "$command did not stop after SIGTERM; killing it"
        kill -9 "$p"
      fi
      rm -f "$pid"
    else
      echo "no $command to stop"
      rm -f "$pid"
    fi
    ;;
  status)
    if is_running; then
      echo "$command is running."
      exit 0
    elif [ -f "$pid" ]; then
      echo "$command is not running (stale pid file $pid)."
      exit 1
    else
      echo "$command not running."
      exit 2
    fi
    ;;
  *)
    echo "$usage" >&2
    exit 1
    ;;
esac
