#!/usr/bin/env bash
# Installs the ZooKeeper server that the deploy/recovery tests start:
# Debian's zookeeper package (/usr/share/java/zookeeper.jar, its
# dependencies and a java). Idempotent and quiet: it does nothing when the
# jar and java are there, and installs only when running as root with
# apt-get. Without them the ZooKeeper tests skip (or fail when
# EMBER_REQUIRE_ZOOKEEPER is set).
set -euo pipefail

jar=/usr/share/java/zookeeper.jar
if [ -f "$jar" ] && command -v java >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "zookeeper.sh: $jar or java missing, and not root with apt-get: the ZooKeeper tests will skip" >&2
  exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# Other installs may hold the dpkg lock: wait for it rather than fail.
if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
       apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends zookeeper; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "zookeeper.sh: installing Debian's zookeeper package failed" >&2
  exit 1
fi
if [ ! -f "$jar" ]; then
  echo "zookeeper.sh: the zookeeper package is installed but $jar is missing" >&2
  exit 1
fi
