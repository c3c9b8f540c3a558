#!/usr/bin/env bash
# Stops the external shuffle service.
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
exec "$EMBER_HOME/sbin/ember-daemon.sh" stop shuffle-service 1
