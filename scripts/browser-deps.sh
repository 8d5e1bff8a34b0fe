#!/usr/bin/env bash
# Installs what the browser test (e2e/js/test/browser.test.mjs) needs and is missing:
# Debian's `chromium` at /usr/bin/chromium. Non-interactive and quiet; run as root (CI) or
# with passwordless sudo. Does nothing when chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "browser-deps: /usr/bin/chromium is missing and this is not root (no sudo): install Debian's chromium package" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "browser-deps: installing chromium (apt-get)..." >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
  chromium fonts-liberation fonts-dejavu-core >/dev/null

if [ ! -x /usr/bin/chromium ]; then
  echo "browser-deps: apt-get finished but /usr/bin/chromium is still missing" >&2
  exit 1
fi
echo "browser-deps: $(/usr/bin/chromium --version 2>/dev/null || echo chromium installed)" >&2
