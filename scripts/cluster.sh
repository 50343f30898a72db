#!/usr/bin/env bash
# `make cluster`: a livetape cluster on this machine, on loopback.
#
#   browser ──> HAProxy :3000 ──> edge :3321 ─┐
#                          ├────> edge :3322 ─┼──> Redis :6380 <── producer :3311 (leads)
#                          └────> edge :3323 ─┘      │ replica :6381   producer :3312 (stands by)
#                                                    Sentinels :26380-26382 (deploy/sentinel.conf)
#
# Every node finds the primary through the three Sentinels; kill the primary and they promote
# the replica, and the nodes move to it. Redis keeps append-only files under target/cluster/,
# so a restart loses nothing. Ctrl-C stops everything. Ports: CLUSTER_PORT (3000), REDIS_PORT
# (6380; the replica is the next port), SENTINEL_PORT (26380, 26381, 26382).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${LIVETAPE_BIN:-target/release/livetape}
PORT=${CLUSTER_PORT:-3000}
REDIS_PORT=${REDIS_PORT:-6380}
DIR=target/cluster
SENTINEL_PORT=${SENTINEL_PORT:-26380}
mkdir -p "$DIR/redis" "$DIR/replica"
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

echo "==> Redis primary on 127.0.0.1:$REDIS_PORT, replica on $((REDIS_PORT + 1)) (append-only files in $DIR)"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DIR/redis" --appendonly yes --save "" \
  --logfile "$PWD/$DIR/redis.log" &
pids+=($!)
redis-server --bind 127.0.0.1 --port "$((REDIS_PORT + 1))" --dir "$DIR/replica" --appendonly yes \
  --save "" --replicaof 127.0.0.1 "$REDIS_PORT" --logfile "$PWD/$DIR/replica.log" &
pids+=($!)
wait_port "$REDIS_PORT"
wait_port "$((REDIS_PORT + 1))"
sentinels=()
for i in 0 1 2; do
  port=$((SENTINEL_PORT + i))
  mkdir -p "$DIR/sentinel$i"
  # A fresh copy each run: Sentinel rewrites its file with what it learned last time.
  sed -e "s|SENTINEL_PORT|$port|" -e "s|SENTINEL_DIR|$PWD/$DIR/sentinel$i|" \
    -e "s|PRIMARY_HOST|127.0.0.1|" -e "s|PRIMARY_PORT|$REDIS_PORT|" deploy/sentinel.conf \
    >"$DIR/sentinel$i/sentinel.conf"
  echo "==> Sentinel on 127.0.0.1:$port"
  redis-sentinel "$DIR/sentinel$i/sentinel.conf" --logfile "$PWD/$DIR/sentinel$i.log" &
  pids+=($!)
  wait_port "$port"
  sentinels+=("127.0.0.1:$port")
done
REDIS="redis+sentinel://$(IFS=,; echo "${sentinels[*]}")/livetape"

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
echo "    Try: kill -9 a producer, an edge, or the Redis primary (Sentinel promotes the replica;"
echo "    redis-cli -p $SENTINEL_PORT SENTINEL GET-MASTER-ADDR-BY-NAME livetape); Ctrl-C stops everything."
# Keep running until Ctrl-C, whatever is killed in between (that is the point of a cluster).
while true; do sleep 1; done
