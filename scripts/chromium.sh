#!/usr/bin/env bash
# Installs headless Chromium for the web UI browser test
# (deploy/webui/browser_test.go) when it is absent. Idempotent and quiet:
# it does nothing when a chromium binary is already on the machine.
# Without root (and without sudo) it only prints a note; the browser test
# then skips itself.
set -euo pipefail

for bin in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$bin" >/dev/null 2>&1; then
    exit 0
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "chromium.sh: chromium is absent and this user cannot install it; the browser test will skip" >&2
    exit 0
  fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium.sh: no apt-get here; install chromium by hand or the browser test will skip" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "chromium.sh: chromium did not install" >&2; exit 1; }
