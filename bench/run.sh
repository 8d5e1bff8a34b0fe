#!/usr/bin/env bash
# The full benchmark (about 20-25 minutes on the 2-core machine): builds everything in release mode,
# then `loadgen bench` alternates sockgate, sockgate:coalesce=20 (broadcasts only), socketioxide and
# Node socket.io (plus the conformance Engine.IO baseline for eio-idle-5k) and writes
# bench/results/{results.md,results.json,chart.svg}.
# Extra arguments go to `loadgen bench` (e.g. --only echo-50 --rounds 3). Load goes to 127.0.0.1 only.
set -euo pipefail
bench="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$bench/.." && pwd)"
target="${CARGO_TARGET_DIR:-/work/target-bench}"
(cd "$root" && CARGO_TARGET_DIR="$target" cargo build --release -p sockgate-bench -p sockgate-bench-server -p conformance)
CARGO_TARGET_DIR="$target/bench-socketioxide" cargo build --release --locked --manifest-path "$bench/socketioxide-server/Cargo.toml"
[ -f "$bench/node-server/node_modules/@socket.io/redis-adapter/package.json" ] \
  && [ -f "$bench/node-server/node_modules/socket.io-msgpack-parser/package.json" ] || (cd "$bench/node-server" && npm ci --no-audit --no-fund)
SOCKGATE_BENCH_DIR="$bench" "$target/release/loadgen" bench --out "$bench/results" \
  --sockgate-bin "$target/release/bench-server" \
  --conformance-bin "$target/release/conformance" \
  --socketioxide-bin "$target/bench-socketioxide/release/socketioxide-bench-server" \
  --node-dir "$bench/node-server" "$@"
