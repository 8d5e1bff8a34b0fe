#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time (FUZZ_SECONDS each, default 8 s:
# about a minute for the six targets, plus one build), with debug assertions on so that integer
# overflows count as crashes. New inputs go to a scratch corpus, never into fuzz/corpus/.
# Needs cargo-fuzz (installed here if missing) and no nightly: RUSTC_BOOTSTRAP=1 and
# --sanitizer none make the stable toolchain build libFuzzer targets.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${FUZZ_SECONDS:-8}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd "$here/fuzz"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

targets=$(cargo fuzz list)
cargo fuzz build --sanitizer none -a >/dev/null
failed=0
for t in $targets; do
  mkdir -p "$scratch/$t" "corpus/$t"
  start=$(date +%s)
  if cargo fuzz run "$t" --sanitizer none -a "$scratch/$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 >"$scratch/$t.log" 2>&1; then
    runs=$(grep -o 'Done [0-9]* runs' "$scratch/$t.log" | tail -1 || true)
    echo "fuzz-smoke: $t ok (${runs:-?}, $(( $(date +%s) - start )) s)"
  else
    echo "fuzz-smoke: $t FAILED; last lines:"
    tail -40 "$scratch/$t.log"
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "fuzz-smoke: crash inputs are in fuzz/artifacts/<target>/"
  exit 1
fi
echo "fuzz-smoke: every target ran ${seconds} s without a crash"
