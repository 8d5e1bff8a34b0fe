#!/usr/bin/env bash
# The main job: the seed's chat gateway (in-memory adapter) with its web page.
# Installs the official browser client from npm (e2e/js's lockfile) if needed, then runs
# `chat` on HOST:PORT (default 127.0.0.1:3000). With REDIS_URL set the node joins a cluster on
# that Redis (SOCKGATE_ADAPTER=classic|sharded; see README "The chat as a cluster", and
# scripts/chat-cluster.sh for two nodes and a Redis in one command).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f e2e/js/node_modules/socket.io-client/dist/socket.io.js ]; then
  (cd e2e/js && npm ci --no-audit --no-fund --loglevel=error)
fi
exec cargo run --release -p chat
