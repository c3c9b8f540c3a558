#!/usr/bin/env bash
# Stops the master started by start-master.sh.
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
exec "$EMBER_HOME/sbin/ember-daemon.sh" stop master 1
