#!/usr/bin/env bash
# Stops the worker instances of this machine.
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
instances="${SPARK_WORKER_INSTANCES:-1}"
for ((i = 1; i <= instances; i++)); do
  "$EMBER_HOME/sbin/ember-daemon.sh" stop worker "$i"
done
