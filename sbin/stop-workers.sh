#!/usr/bin/env bash
# Stops the workers on every host of conf/workers.
. "$(dirname "${BASH_SOURCE[0]}")/ember-config.sh"
exec "$SPARK_HOME/sbin/workers.sh" cd "$SPARK_HOME" \; "$SPARK_HOME/sbin/stop-worker.sh"
