# Sourced by the other sbin scripts: works out EMBER_HOME (= SPARK_HOME),
# SPARK_CONF_DIR, and the ember binary, building it from source if needed.

if [ -z "${SPARK_HOME:-}" ]; then
  SPARK_HOME="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fi
export SPARK_HOME
export EMBER_HOME="${EMBER_HOME:-$SPARK_HOME}"
export SPARK_CONF_DIR="${SPARK_CONF_DIR:-$SPARK_HOME/conf}"

# load-spark-env: source conf/ember-env.sh (or spark-env.sh) once, exporting
# every variable it sets.
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
  local bin="${EMBER_BIN:-$SPARK_HOME/bin/ember}"
  if [ -x "$bin" ] && [ -z "$(find "$SPARK_HOME" -name '*.go' -newer "$bin" -not -path '*/.git/*' -print -quit 2>/dev/null)" ]; then
    echo "$bin"; return 0
  fi
  if [ -f "$SPARK_HOME/go.mod" ] && command -v go >/dev/null 2>&1; then
    mkdir -p "$(dirname "$bin")"
    (cd "$SPARK_HOME" && go build -o "$bin" ./cmd/ember) >&2 || return 1
    echo "$bin"; return 0
  fi
  echo "ember: no binary at $bin and no Go toolchain to build it" >&2
  return 1
}
