#!/bin/bash
# Run from a directory holding release builds of bench-server and loadgen (copied from
# $CARGO_TARGET_DIR/release) and the wrapper bench-server-metrics (`exec ./bench-server --metrics "$@"`).
# Instructions executed by the server (valgrind cachegrind, deterministic within ~1%) for a fixed
# load, metrics off and on, at two durations: the difference is the cost of the extra load alone.
# The second echo measurement used --rate 100 instead of 20.
cd "${BENCH_DIR:-/tmp/metrics-bench}"
scenario=$1; shift   # echo | broadcast
for dur in 3 9; do
  for mode in off on; do
    flag=""; [ $mode = on ] && flag="--metrics"
    port=$((40100 + RANDOM % 500))
    out=vg-$scenario-$mode-$dur
    valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=$out.cg ./bench-server $flag --port $port > $out.server.txt 2>&1 &
    pid=$!
    for i in $(seq 1 100); do grep -q listening $out.server.txt && break; sleep 0.2; done
    if [ $scenario = broadcast ]; then
      timeout 120 ./loadgen run --scenario broadcast --clients 100 --connect-rate 100 --senders 2 --rate 40 --duration $dur --port $port --server-pid $pid --max-gen-share 1 > $out.load.txt 2>&1
    else
      timeout 120 ./loadgen run --scenario echo --clients 10 --connect-rate 100 --rate 20 --duration $dur --port $port --server-pid $pid --max-gen-share 1 > $out.load.txt 2>&1
    fi
    kill -INT $pid; sleep 3; kill $pid 2>/dev/null; wait $pid 2>/dev/null
    echo "$out: $(grep -E 'I *refs' $out.server.txt) $(tail -1 $out.load.txt)"
  done
done
