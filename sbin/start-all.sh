#!/usr/bin/env bash
# Starts the master, then a worker on every host of conf/workers.
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
"$EMBER_HOME/sbin/start-master.sh" || exit 1
"$EMBER_HOME/sbin/start-workers.sh"
