#!/usr/bin/env bash
# `make cluster`: a livetape cluster on this machine, on loopback.
#
#   browser ──> HAProxy :3000 ──> edge :3321 ─┐
#                          ├────> edge :3322 ─┼──> Redis :6380 <── producer :3311 (leads)
#                          └────> edge :3323 ─┘                <── producer :3312 (stands by)
#
# Redis keeps an append-only file under target/cluster/, so a Redis restart loses nothing.
# Ctrl-C stops everything. Ports: CLUSTER_PORT (3000), REDIS_PORT (6380).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LIVETAPE_BIN:-target/release/livetape}
PORT=${CLUSTER_PORT:-3000}
REDIS_PORT=${REDIS_PORT:-6380}
DIR=target/cluster
mkdir -p "$DIR/redis"
export LEPTOS_SITE_ROOT=${LEPTOS_SITE_ROOT:-target/site}

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "==> Stopping the cluster"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing is listening on port $1" >&2
  return 1
}

echo "==> Redis on 127.0.0.1:$REDIS_PORT (append-only file in $DIR/redis)"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DIR/redis" --appendonly yes --save "" \
  --logfile "$PWD/$DIR/redis.log" &
pids+=($!)
wait_port "$REDIS_PORT"
REDIS=redis://127.0.0.1:$REDIS_PORT

for i in 1 2; do
  echo "==> Producer $i on 127.0.0.1:331$i (log $DIR/producer$i.log)"
  "$BIN" --addr "127.0.0.1:331$i" --redis "$REDIS" --role producer >"$DIR/producer$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  echo "==> Edge $i on 127.0.0.1:332$i (log $DIR/edge$i.log)"
  "$BIN" --addr "127.0.0.1:332$i" --redis "$REDIS" --role edge >"$DIR/edge$i.log" 2>&1 &
  pids+=($!)
done
for p in 3321 3322 3323; do wait_port "$p"; done

echo "==> HAProxy on 127.0.0.1:$PORT in front of the edges"
LIVETAPE_BIND="127.0.0.1:$PORT" EDGE1=127.0.0.1:3321 EDGE2=127.0.0.1:3322 EDGE3=127.0.0.1:3323 \
  haproxy -db -f deploy/haproxy.cfg &
pids+=($!)
wait_port "$PORT"
echo
echo "==> The dashboard: http://127.0.0.1:$PORT   (readiness of an edge: curl 127.0.0.1:3321/readyz)"
echo "    Try: kill -9 a producer or an edge, or Redis; Ctrl-C stops everything."
# Keep running until Ctrl-C, whatever is killed in between (that is the point of a cluster).
while true; do sleep 1; done
