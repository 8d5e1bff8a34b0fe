#!/usr/bin/env bash
# The one command that runs every test of the workspace:
#   Rust: fmt check, clippy (-D warnings), cargo test
#   end to end: the official JS clients (e2e/js, node --test) against the Rust servers,
#   the reliability suite among them; a bench smoke run; a bounded run of every fuzz target
#
# Needs: the Rust toolchain (with rustfmt + clippy), Node >= 20 and npm.
# Environment:
#   CARGO_TARGET_DIR       honoured by cargo; the e2e tests look for binaries there too
#   SOCKGATE_BIN_DIR       where the e2e tests find the built binaries
#                          (default: $CARGO_TARGET_DIR/debug, else target/debug)
#   SOCKGATE_E2E_FILTER    optional --test-name-pattern for node --test
#   SOCKGATE_SKIP_RUST=1   skip fmt/clippy/cargo test (e2e only; for quick local runs)
#
# Each step is a function; add new ones (Redis, Chromium, ...) to `main`.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$(pwd)"
E2E_JS="$ROOT/e2e/js"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export SOCKGATE_BIN_DIR="${SOCKGATE_BIN_DIR:-$TARGET_DIR/debug}"

NODE_PASS=0
NODE_FAIL=0
FAILED_STEPS=()

step() { printf '\n==> %s\n' "$*"; }

# Runs a node --test command ("$@"), shows its output, and adds its `# pass` / `# fail` counts to
# the e2e totals; a non-zero exit with no failed test counts as one failure.
node_tests() {
  local log rc=0 pass fail
  log="$(mktemp)"
  "$@" 2>&1 | tee "$log" || rc=$?
  pass="$(grep -E '^# pass [0-9]+' "$log" | tail -1 | awk '{print $3}')"
  fail="$(grep -E '^# fail [0-9]+' "$log" | tail -1 | awk '{print $3}')"
  rm -f "$log"
  pass="${pass:-0}"
  fail="${fail:-0}"
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi
  NODE_PASS=$((NODE_PASS + pass))
  NODE_FAIL=$((NODE_FAIL + fail))
  return "$rc"
}

# (a) JS dependencies: npm ci when node_modules is missing or the lock file changed.
npm_deps() {
  step "npm dependencies (e2e/js)"
  local stamp="$E2E_JS/node_modules/.sockgate-lock.sha256"
  local want
  want="$(sha256sum "$E2E_JS/package-lock.json" | cut -d' ' -f1)"
  if [ -d "$E2E_JS/node_modules" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "up to date"
    return 0
  fi
  (cd "$E2E_JS" && npm ci --no-audit --no-fund --loglevel=error) || return 1
  echo "$want" > "$stamp"
}

# (b) formatting
rust_fmt() {
  step "cargo fmt --all -- --check"
  cargo fmt --all -- --check
}

# (c) lints
rust_clippy() {
  step "cargo clippy --workspace --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets --quiet -- -D warnings
}

# (c2) docs: every intra-doc link resolves, no rustdoc warning (issue 9)
rust_doc() {
  step "cargo doc --workspace --no-deps (RUSTDOCFLAGS=-D warnings)"
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
}

# (d) unit and integration tests of the crates
rust_test() {
  step "cargo test --workspace"
  local log rc=0
  log="$(mktemp)"
  cargo test --workspace 2>&1 | tee "$log" || rc=$?
  echo "--- cargo test summary"
  grep -E '^test result:|^error|FAILED|panicked' "$log" || true
  rm -f "$log"
  return "$rc"
}

# (e) build the servers the e2e tests start (each e2e test file starts its binary
# through e2e/js/lib/server.mjs); add new server packages to E2E_SERVERS.
E2E_SERVERS=(conformance testserver gateway-testserver chat)
build_servers() {
  local pkg args=()
  for pkg in "${E2E_SERVERS[@]}"; do args+=(-p "$pkg"); done
  step "cargo build ${args[*]}"
  cargo build "${args[@]}" --quiet || return 1
  for pkg in "${E2E_SERVERS[@]}"; do
    [ -x "$SOCKGATE_BIN_DIR/$pkg" ] || {
      echo "$pkg binary not found in $SOCKGATE_BIN_DIR" >&2
      return 1
    }
  done
}

# (e) the official JS clients against the servers
node_e2e() {
  step "node --test e2e/js/test (binaries from $SOCKGATE_BIN_DIR)"
  local args=(--test --test-concurrency=1)
  [ -n "${SOCKGATE_E2E_FILTER:-}" ] && args+=(--test-name-pattern="$SOCKGATE_E2E_FILTER")
  # bounded: the whole e2e run must finish within 15 minutes
  node_tests bash -c 'cd "$1" && shift && exec timeout --kill-after=10 900 node "$@" test/' _ "$E2E_JS" "${args[@]}"
}

# (f) Debian's chromium for the browser test (installed only when missing)
browser_deps() {
  step "scripts/browser-deps.sh"
  "$ROOT/scripts/browser-deps.sh"
}

# (g) a smoke run of every benchmark scenario at tiny sizes, side by side with socketioxide and
# Node socket.io (the full benchmark is bench/run.sh)
bench_smoke() {
  step "bench/smoke.sh"
  timeout --kill-after=10 900 "$ROOT/bench/smoke.sh"
}

# (h) every fuzz target for a bounded time (about a minute in all; installs cargo-fuzz when missing)
fuzz_smoke() {
  step "scripts/fuzz-smoke.sh"
  timeout --kill-after=10 1200 "$ROOT/scripts/fuzz-smoke.sh"
}

# (i) mixed clusters: Node and sockgate nodes on one redis-server (issue 10); `cluster_deps`
# installs redis-server before `cargo test`, whose Redis fault test needs it
cluster_deps() {
  step "scripts/cluster-e2e.sh deps"
  "$ROOT/scripts/cluster-e2e.sh" deps
}
cluster_e2e() {
  step "scripts/cluster-e2e.sh"
  node_tests "$ROOT/scripts/cluster-e2e.sh"
}

# (j) rolling deploys behind HAProxy: two sockgate nodes, then two Node nodes, on Redis
# Streams (issue 11); 200 clients here, 1,000 in scripts/reliability.sh.
deploy_e2e() {
  step "scripts/deploy-e2e.sh"
  node_tests timeout --kill-after=10 900 "$ROOT/scripts/deploy-e2e.sh"
}

# (k) the official Socket.IO Admin UI (issue 12): its protocol, the real UI in Chromium, a mixed
# cluster with a Node node running @socket.io/admin-ui; counted with the node e2e tests
admin_e2e() {
  step "scripts/admin-e2e.sh"
  node_tests "$ROOT/scripts/admin-e2e.sh"
}

# (l) promtool for e2e/js/test/metrics.test.mjs (issue 12), which checks the chat example's
# /metrics with `promtool check metrics`: Debian's prometheus package, installed when missing
# (only its promtool is used; no Prometheus server is started)
metrics_deps() {
  step "promtool (Debian's prometheus package)"
  if ! command -v promtool >/dev/null 2>&1; then
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null 2>&1 || {
        echo "promtool is missing and this is not root: install Debian's prometheus package" >&2
        return 1
      }
      sudo="sudo -n"
    fi
    echo "installing prometheus (apt-get) for promtool..." >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    # A policy-rc.d answering 101 ("action forbidden") keeps the install from starting the
    # package's Prometheus server; it is removed again if we created it.
    local policy=/usr/sbin/policy-rc.d created=0 rc=0
    if [ ! -e "$policy" ]; then
      $sudo sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy" && created=1
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold prometheus >/dev/null || rc=$?
    [ "$created" -eq 1 ] && $sudo rm -f "$policy"
    [ "$rc" -eq 0 ] || return 1
  fi
  promtool --version 2>&1 | head -1
}

# (m) typed contracts (issue 13): the chat's generated files are up to date
# (`chat-contract --check`), the generated TypeScript compiles with tsc --strict with a client
# using every event and each negative case fails alone, the AsyncAPI document passes
# @asyncapi/parser, and the tsc-compiled client talks to the typed chat (examples/chat/client,
# own package.json + lockfile).
typed_contracts() {
  local dir="$ROOT/examples/chat/client"
  step "typed contracts (examples/chat/client)"
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund) || return 1
  fi
  cargo build -p chat --bins --quiet || return 1
  "$SOCKGATE_BIN_DIR/chat-contract" --check || { echo "generated contract files are stale: cargo run -p chat --bin chat-contract" >&2; return 1; }
  (cd "$dir" && rm -rf dist && timeout 300 node node_modules/typescript/bin/tsc -p tsconfig.json) || return 1
  node_tests bash -c 'cd "$1" && exec timeout --kill-after=10 600 node --test --test-concurrency=1 test/' _ "$dir"
}

# Runs a step, records a failure and carries on, so one run shows every problem.
# NB: `set -e` does not apply inside a function called from `if`, so every step
# function must propagate its failures itself (`|| return 1`, or its last command).
run() {
  if ! "$@"; then
    FAILED_STEPS+=("$1")
    echo "!! step failed: $1" >&2
  fi
}

main() {
  npm_deps || { echo "npm ci failed" >&2; exit 1; }
  run cluster_deps
  if [ "${SOCKGATE_SKIP_RUST:-0}" != 1 ]; then
    run rust_fmt
    run rust_clippy
    run rust_doc
    run rust_test
  fi
  run browser_deps
  run metrics_deps
  if build_servers; then
    run node_e2e
  else
    FAILED_STEPS+=(build_servers)
  fi
  run cluster_e2e
  run deploy_e2e
  run admin_e2e
  run typed_contracts
  run bench_smoke
  run fuzz_smoke

  echo
  if [ "${#FAILED_STEPS[@]}" -gt 0 ]; then
    echo "failed steps: ${FAILED_STEPS[*]}"
  fi
  echo "e2e: $NODE_PASS passed, $NODE_FAIL failed"
  [ "${#FAILED_STEPS[@]}" -eq 0 ]
}

main "$@"
