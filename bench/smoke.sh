#!/usr/bin/env bash
# Smoke run of every sockgate-bench scenario at tiny sizes (about a minute), against every
# server that can be built here: sockgate (required), the conformance Engine.IO baseline
# (required), socketioxide and Node socket.io (skipped, with the reason printed, only when they
# cannot be built). Exits non-zero when a build of ours fails or any scenario fails.
# Load goes to 127.0.0.1 only. Env: CARGO_TARGET_DIR (default: the workspace's target/),
# BENCH_PROFILE=release|dev (default dev, to share the test build).
set -uo pipefail
bench="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$bench/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
profile="${BENCH_PROFILE:-dev}"
if [ "$profile" = release ]; then flag=--release; dir=release; else flag=; dir=debug; fi

echo "== building loadgen, bench-server (sockgate) and conformance ($profile)"
(cd "$root" && CARGO_TARGET_DIR="$target" cargo build $flag -p sockgate-bench -p sockgate-bench-server -p conformance) || {
  echo "smoke: build of the sockgate bench packages failed"; exit 1; }

# sockgate:coalesce=20 checks the variant mechanism (it runs only the single-server broadcasts).
servers=sockgate,sockgate:coalesce=20,conformance

echo "== socketioxide comparison server"
if CARGO_TARGET_DIR="$target/bench-socketioxide" cargo build $flag --locked \
    --manifest-path "$bench/socketioxide-server/Cargo.toml"; then
  servers="$servers,socketioxide"
else
  echo "smoke: SKIPPING socketioxide: its package could not be built (see the cargo output above)"
fi

echo "== Node socket.io comparison server"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "smoke: SKIPPING node: node/npm are not installed"
elif [ -f "$bench/node-server/node_modules/@socket.io/redis-adapter/package.json" ] \
  && [ -f "$bench/node-server/node_modules/socket.io-msgpack-parser/package.json" ] \
    || (cd "$bench/node-server" && npm ci --no-audit --no-fund --loglevel=error); then
  servers="$servers,node"
else
  echo "smoke: SKIPPING node: npm ci failed in bench/node-server"
fi

out="$(mktemp -d /tmp/sockgate-bench-smoke.XXXXXX)"
echo "== smoke run against: $servers (results in $out)"
SOCKGATE_BENCH_DIR="$bench" timeout 600 "$target/$dir/loadgen" bench --smoke --servers "$servers" --out "$out" \
  --sockgate-bin "$target/$dir/bench-server" \
  --conformance-bin "$target/$dir/conformance" \
  --socketioxide-bin "$target/bench-socketioxide/$dir/socketioxide-bench-server" \
  --node-dir "$bench/node-server"
