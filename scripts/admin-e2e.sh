#!/usr/bin/env bash
# The Socket.IO Admin UI tests (issue 12): the npm packages of e2e/admin (from its committed
# lockfile: @socket.io/admin-ui 0.5.1 and its built UI, socket.io 4.8.4 and
# @socket.io/redis-adapter 8.3.0 for the Node node of the mixed cluster, socket.io-client,
# playwright-core), Debian's redis-server and chromium when missing, the chat example, then
# `node --test e2e/admin/test/`: the protocol with socket.io-client, the real UI in headless
# Chromium, the mixed cluster. Every process runs on 127.0.0.1 and is stopped by its PID.
#
#   scripts/admin-e2e.sh deps   # only install what is missing (npm ci, redis-server, chromium)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
ADMIN="$ROOT/e2e/admin"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export SOCKGATE_BIN_DIR="${SOCKGATE_BIN_DIR:-$TARGET_DIR/debug}"

deps() {
  "$ROOT/scripts/cluster-e2e.sh" deps # redis-server
  "$ROOT/scripts/browser-deps.sh"     # chromium
  local stamp="$ADMIN/node_modules/.sockgate-lock.sha256" want
  want="$(sha256sum "$ADMIN/package-lock.json" | cut -d' ' -f1)"
  if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }; then
    (cd "$ADMIN" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
}

deps
[ "${1:-}" = deps ] && exit 0

cargo build -p chat --quiet
cd "$ADMIN"
timeout --kill-after=10 300 node --test --test-concurrency=1 test/
