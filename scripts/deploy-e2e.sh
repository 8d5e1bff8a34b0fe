#!/usr/bin/env bash
# Rolling deploys behind a real load balancer (issue 11): Debian's haproxy and redis-server
# (installed when missing), the npm packages of e2e/deploy (socket.io 4.8.4, socket.io-client
# 4.8.4, @socket.io/redis-streams-adapter 0.3.1, redis 5.12.1, from its committed lockfile),
# the cluster-node binary, then `node --test e2e/deploy/test/`: two sockgate nodes and two
# Node nodes, each pair behind HAProxy on a redis-server, every process on a free port of
# 127.0.0.1 and stopped by PID. DEPLOY_CLIENTS sets the size (default 200; the full 1,000 run
# is scripts/reliability.sh).
#
#   scripts/deploy-e2e.sh deps   # only install haproxy and redis-server
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DEPLOY="$ROOT/e2e/deploy"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export SOCKGATE_BIN_DIR="${SOCKGATE_BIN_DIR:-$TARGET_DIR/debug}"

apt_install() {
  local command="$1" package="$2"
  command -v "$command" >/dev/null 2>&1 && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "deploy-e2e: $command is missing and this is not root: install Debian's $package" >&2
      return 1
    }
    sudo="sudo -n"
  fi
  echo "deploy-e2e: installing $package (apt-get)..." >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$package" >/dev/null
  command -v "$command" >/dev/null 2>&1
}

# Debian installs haproxy under /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"
apt_install redis-server redis-server
apt_install haproxy haproxy
[ "${1:-}" = deps ] && exit 0

stamp="$DEPLOY/node_modules/.sockgate-lock.sha256"
want="$(sha256sum "$DEPLOY/package-lock.json" | cut -d' ' -f1)"
if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
  (cd "$DEPLOY" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

cargo build -p cluster-node --quiet
cd "$DEPLOY"
timeout --kill-after=10 "${DEPLOY_TIMEOUT:-600}" node --test --test-concurrency=1 test/
