#!/usr/bin/env bash
# Installs and checks what the network-namespace tests need
# (internal/netns, internal/fault): iproute2's `ip` (Debian's iproute2
# package), root, a kernel that lets us add a namespace, a bridge and a
# veth pair, and /dev/net/tun for the impaired ("slow, lossy") links.
#
# Idempotent: it installs nothing when `ip` is there (apt-get update once,
# then apt-get install only what is missing). It then tries `ip netns add`
# and the rest on throwaway names and removes them. When something is
# missing it says what; it exits non-zero only when EMBER_REQUIRE_NETNS is
# set (CI) or an install failed: otherwise the tests simply skip.
set -euo pipefail

required() {
  case "${EMBER_REQUIRE_NETNS:-}" in
    "" | 0 | false | no) return 1 ;;
    *) return 0 ;;
  esac
}

fail() {
  echo "netns.sh: $*" >&2
  if required; then
    echo "netns.sh: EMBER_REQUIRE_NETNS is set: the namespace tests would fail" >&2
    exit 1
  fi
  echo "netns.sh: the network-namespace tests will skip" >&2
  exit 0
}

if [ "$(id -u)" -ne 0 ]; then
  fail "not root: network namespaces need root"
fi

if ! command -v ip >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    fail "iproute2's ip is missing and there is no apt-get to install it"
  fi
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  # Other installs may hold the dpkg lock: wait for it rather than fail.
  if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
         apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends iproute2; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "netns.sh: installing Debian's iproute2 package failed" >&2
    exit 1
  fi
fi

# Try what the harness does, on names no test uses, and clean up.
ns="emb-netnssh-$$"
br="embsh$$b"
veth="embsh$$v"
cleanup() {
  ip link del "$veth" >/dev/null 2>&1 || true
  ip link del "$br" >/dev/null 2>&1 || true
  ip netns del "$ns" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if ! out=$(ip netns add "$ns" 2>&1); then
  fail "'ip netns add' does not work here: $out"
fi
if ! out=$(ip link add name "$br" type bridge 2>&1); then
  fail "cannot add a bridge: $out"
fi
if ! out=$(ip link add "$veth" type veth peer name eth0 netns "$ns" 2>&1); then
  fail "cannot add a veth pair into a namespace: $out"
fi
if ! out=$(ip -n "$ns" link set lo up 2>&1); then
  fail "cannot bring up a namespace's loopback: $out"
fi
if [ ! -c /dev/net/tun ]; then
  fail "/dev/net/tun is missing: the impaired-link tests need TAP devices"
fi
echo "netns.sh: network namespaces, bridges, veth pairs and TAP devices work"
