#!/usr/bin/env bash
# Installs the pinned Apache Spark that the live interop tests use as a peer:
# the pyspark wheel from PyPI, which carries the whole distribution (jars/,
# bin/spark-submit, bin/spark-class, the Python side). It goes into the
# project-local, git-ignored .spark/ directory and is reused when present.
# Prints the SPARK_HOME on its last line.
#
#   scripts/spark.sh            install when missing, print SPARK_HOME
#   EMBER_SPARK_VERSION=4.1.x   another pin (the tests are written for 4.1)
#
# A SPARK_HOME already set in the environment that holds jars/ wins, and
# nothing is installed. Without pip or a registry the script says why and
# exits 1; the tests then skip, or fail when EMBER_REQUIRE_SPARK=1 (CI).
set -euo pipefail
cd "$(dirname "$0")/.."

version="${EMBER_SPARK_VERSION:-4.1.4}"

if [ -n "${SPARK_HOME:-}" ] && [ -d "$SPARK_HOME/jars" ]; then
  echo "$SPARK_HOME"
  exit 0
fi

dest="$PWD/.spark/pyspark-$version"
home="$dest/pyspark"
if [ -f "$home/jars/spark-core_2.13-$version.jar" ] && [ -x "$home/bin/spark-submit" ]; then
  echo "$home"
  exit 0
fi

pip=""
for p in pip3 pip "python3 -m pip"; do
  if $p --version >/dev/null 2>&1; then pip="$p"; break; fi
done
if [ -z "$pip" ]; then
  echo "spark.sh: no pip: cannot install pyspark==$version (the live Spark tests will skip)" >&2
  exit 1
fi

tmp="$dest.tmp.$$"
rm -rf "$tmp"
mkdir -p "$(dirname "$dest")"
log=$(mktemp)
trap 'rm -rf "$tmp" "$log"' EXIT
echo "spark.sh: installing pyspark==$version (Spark $version, ~450 MB) into $dest" >&2
# py4j is the only dependency; it comes along so PySpark drivers run.
if ! $pip install --disable-pip-version-check --no-input -q --target "$tmp" "pyspark==$version" >"$log" 2>&1; then
  cat "$log" >&2
  echo "spark.sh: pip install pyspark==$version failed" >&2
  exit 1
fi
if [ ! -f "$tmp/pyspark/jars/spark-core_2.13-$version.jar" ]; then
  echo "spark.sh: pyspark==$version installed, but its jars/ lacks spark-core_2.13-$version.jar" >&2
  exit 1
fi
chmod +x "$tmp"/pyspark/bin/* "$tmp"/pyspark/sbin/* 2>/dev/null || true
rm -rf "$dest"
mv "$tmp" "$dest"
echo "$home"
