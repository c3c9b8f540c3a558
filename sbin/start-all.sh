#!/usr/bin/env bash
# Starts the master, then a worker on every host of conf/workers.
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
"$SPARK_HOME/sbin/start-master.sh" || exit 1
"$SPARK_HOME/sbin/start-workers.sh"
