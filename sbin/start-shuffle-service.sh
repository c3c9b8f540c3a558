#!/usr/bin/env bash
# Starts the standalone external shuffle service (spark.shuffle.service.port, 7337).
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
exec "$EMBER_HOME/sbin/ember-daemon.sh" start shuffle-service 1 "$@"
