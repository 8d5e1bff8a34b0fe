#!/usr/bin/env bash
# The full-size reliability run of bench/RELIABILITY.md: 1,000 official clients per scenario,
# sockgate and Node socket.io (redis-streams-adapter 0.3.1, CSR on) in the same run, a rolling
# deploy and a jitter run each, behind HAProxy on one redis-server. Prints one JSON line per
# scenario and a Markdown table; keeps both in bench/results/reliability/.
#
#   scripts/reliability.sh [clients]     # default 1000
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
CLIENTS="${1:-1000}"
"$ROOT/scripts/deploy-e2e.sh" deps
export PATH="$PATH:/usr/sbin:/sbin"
(cd "$ROOT/e2e/deploy" && [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error)
cargo build -p cluster-node --quiet
export SOCKGATE_BIN_DIR="${SOCKGATE_BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/debug}"
out="$ROOT/bench/results/reliability"
mkdir -p "$out"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
cd "$ROOT/e2e/deploy"
timeout --kill-after=10 1800 node run.mjs --kind both --mode all --clients "$CLIENTS" \
  | tee "$out/$stamp-$CLIENTS.txt"
