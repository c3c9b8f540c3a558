# Sourced by the other sbin scripts. Works out:
#
#   EMBER_HOME      the Ember installation: the parent of this sbin
#                   directory, always (never $SPARK_HOME). bin/ember,
#                   sbin/*, logs/ and work/ are found or made there.
#   SPARK_CONF_DIR  kept when set (as in Spark), else $EMBER_HOME/conf.
#   SPARK_HOME      keeps its Spark meaning: the Spark distribution
#                   (jars/, bin/spark-submit) the workers launch JVM
#                   executors and drivers from. Set it in the environment
#                   or in conf/ember-env.sh; it is passed to the daemons
#                   as is. Unset, the workers run only Ember's Go
#                   applications.
#
# and the ember binary (ember_bin), building it from source if needed.

EMBER_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export EMBER_HOME
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-$EMBER_HOME/conf}"

# load-spark-env: source conf/ember-env.sh (or spark-env.sh) once, exporting
# every variable it sets (SPARK_HOME among them).
if [ -z "${SPARK_ENV_LOADED:-}" ]; then
  export SPARK_ENV_LOADED=1
  for f in "$SPARK_CONF_DIR/ember-env.sh" "$SPARK_CONF_DIR/spark-env.sh"; do
    if [ -f "$f" ]; then
      set -a
      # shellcheck disable=SC1090
      . "$f"
      set +a
      break
    fi
  done
fi

# ember_bin prints the path of the ember binary, building it when absent or
# older than the sources (a source checkout is a distribution too).
ember_bin() {
  local bin="${EMBER_BIN:-$EMBER_HOME/bin/ember}"
  if [ -x "$bin" ] && [ -z "$(find "$EMBER_HOME" -name '*.go' -newer "$bin" -not -path '*/.git/*' -print -quit 2>/dev/null)" ]; then
    echo "$bin"; return 0
  fi
  if [ -f "$EMBER_HOME/go.mod" ] && command -v go >/dev/null 2>&1; then
    mkdir -p "$(dirname "$bin")"
    (cd "$EMBER_HOME" && go build -o "$bin" ./cmd/ember) >&2 || return 1
    echo "$bin"; return 0
  fi
  echo "ember: no binary at $bin and no Go toolchain to build it" >&2
  return 1
}
