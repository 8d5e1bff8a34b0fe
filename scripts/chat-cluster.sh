#!/usr/bin/env bash
# The chat as a cluster on one machine: two chat nodes (ports PORT and PORT+1, default 3000 and
# 3001) sharing one Redis through the classic adapter (SOCKGATE_ADAPTER=sharded for the other).
#
# Redis: REDIS_URL when set, else redis://127.0.0.1:6379. When nothing answers there, this
# starts Debian's redis-server (installed with apt-get when missing) on a free port of 127.0.0.1
# and uses it. Ctrl-C (or SIGTERM) stops what this started, by PID, and nothing else.
#
#   ./scripts/chat-cluster.sh                  # open http://127.0.0.1:3000/ and :3001/
#   PORT=4000 SOCKGATE_ADAPTER=sharded ./scripts/chat-cluster.sh
#   CHAT_BIN=target/debug/chat ./scripts/chat-cluster.sh   # skip the release build
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-3000}"
PIDS=()

cleanup() {
  trap - INT TERM EXIT
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

# Whether a Redis answers PING at host $1, port $2 (bash's /dev/tcp: no redis-cli needed).
redis_answers() {
  local reply=""
  { exec 3<>"/dev/tcp/$1/$2"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3>&- 3<&-
  [[ "$reply" == +PONG* || "$reply" == -NOAUTH* ]]
}

port_taken() { { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null && { exec 3>&- 3<&-; return 0; }; return 1; }

url="${REDIS_URL:-redis://127.0.0.1:6379}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
rhost="${hostport%%:*}"; rport="${hostport##*:}"; [ "$rport" = "$hostport" ] && rport=6379
if redis_answers "$rhost" "$rport"; then
  echo "chat-cluster: using the Redis at $url"
else
  [ -n "${REDIS_URL:-}" ] && echo "chat-cluster: nothing answers at $REDIS_URL; starting a Redis" >&2
  "$ROOT/scripts/cluster-e2e.sh" deps
  rport=6380
  while port_taken "$rport"; do
    rport=$((rport + 1))
    [ "$rport" -gt 6480 ] && { echo "chat-cluster: no free port in 6380-6480 for redis" >&2; exit 1; }
  done
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --loglevel warning &
  PIDS+=($!)
  url="redis://127.0.0.1:$rport"
  for _ in $(seq 1 100); do redis_answers 127.0.0.1 "$rport" && break; sleep 0.05; done
  redis_answers 127.0.0.1 "$rport" || { echo "chat-cluster: redis-server did not start" >&2; exit 1; }
  echo "chat-cluster: started redis-server on $url (pid ${PIDS[0]})"
fi

# The browser client served at /socket.io/socket.io.js (as scripts/chat.sh does).
if [ ! -f e2e/js/node_modules/socket.io-client/dist/socket.io.js ]; then
  (cd e2e/js && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -z "${CHAT_BIN:-}" ]; then
  cargo build --release -p chat --quiet
  CHAT_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/chat"
fi

for port in "$PORT" $((PORT + 1)); do
  REDIS_URL="$url" HOST="$HOST" PORT="$port" "$CHAT_BIN" &
  PIDS+=($!)
done
echo "chat-cluster: two nodes on http://$HOST:$PORT/ and http://$HOST:$((PORT + 1))/ (Ctrl-C stops them)"
# Any child exiting (a port in use, a bad setting) stops the cluster.
wait -n "${PIDS[@]}" || true
echo "chat-cluster: a process exited; stopping the others" >&2
exit 1
