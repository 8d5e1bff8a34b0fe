#!/bin/bash
# Run from a directory holding release builds of bench-server and loadgen (copied from
# $CARGO_TARGET_DIR/release) and the wrapper bench-server-metrics (`exec ./bench-server --metrics "$@"`).
# Alternating metrics off/on (ABBA), one round per invocation; bounded by ROUNDS.
cd "${BENCH_DIR:-/tmp/metrics-bench}"
LG=./loadgen; SC=echo-50,broadcast-1000@100; ROUNDS=${ROUNDS:-4}
for r in $(seq 1 $ROUNDS); do
  if [ $((r % 2)) -eq 1 ]; then order="off on"; else order="on off"; fi
  for mode in $order; do
    bin=./bench-server; [ $mode = on ] && bin=./bench-server-metrics
    echo "== round $r $mode $(date +%T)"
    timeout 300 $LG bench --servers sockgate --sockgate-bin $bin --only $SC --rounds 1 --out out-$mode-$r > log-$mode-$r.txt 2>&1
    echo "rc=$?"
  done
done
echo finished
