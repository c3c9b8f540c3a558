#!/usr/bin/env bash
# Stops the workers on every host of conf/workers.
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
exec "$EMBER_HOME/sbin/workers.sh" cd "$EMBER_HOME" \; "$EMBER_HOME/sbin/stop-worker.sh"
