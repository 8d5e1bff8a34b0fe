#!/usr/bin/env bash
# The mixed-cluster tests (issue 10): Debian's redis-server (installed when missing), the npm
# packages of e2e/cluster (socket.io 4.8.4, @socket.io/redis-adapter 8.3.0,
# @socket.io/redis-emitter 5.1.0, @socket.io/redis-streams-adapter 0.3.1, from its committed
# lockfile; reinstalled whenever the lockfile changes), the cluster-node and emit
# binaries and the chat example (chat.test.mjs: its cluster mode), then
# `node --test e2e/cluster/test/*.test.mjs`. Each test starts its own
# redis-server on a free port of 127.0.0.1 and stops it by PID.
#
#   scripts/cluster-e2e.sh deps   # only install redis-server (used before `cargo test`)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
CLUSTER="$ROOT/e2e/cluster"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export SOCKGATE_BIN_DIR="${SOCKGATE_BIN_DIR:-$TARGET_DIR/debug}"

redis_deps() {
  if command -v redis-server >/dev/null 2>&1; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "cluster-e2e: redis-server is missing and this is not root: install Debian's redis-server" >&2
      return 1
    }
    sudo="sudo -n"
  fi
  echo "cluster-e2e: installing redis-server (apt-get)..." >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold redis-server >/dev/null
  command -v redis-server >/dev/null 2>&1
}

redis_deps
[ "${1:-}" = deps ] && exit 0

stamp="$CLUSTER/node_modules/.sockgate-lock.sha256"
want="$(sha256sum "$CLUSTER/package-lock.json" | cut -d' ' -f1)"
if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
  (cd "$CLUSTER" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
fi

cargo build -p cluster-node -p chat --quiet
cd "$CLUSTER"
timeout --kill-after=10 600 node --test --test-concurrency=1 test/*.test.mjs
