#!/usr/bin/env bash
# One round of bench (p) at 10,000 clients (issue: everything delivered, p99 under 100 ms,
# memory per client), for livetape and the personalised Node ws peer, each with its own 50 of
# 10,000 symbols at 5,000 moves/s. Needs the release build and loadgen (scripts/bench.sh
# builds both). Bounded: 10 s measured after 8 s to settle, per server. On 2 cores the server
# and the load generator together saturate the machine, so read p99 with that in mind.
cd "$(dirname "$0")/.."
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
PORT=3470
for kind in livetape wspersonal; do
  if [ $kind = livetape ]; then
    ./target/release/livetape --addr 127.0.0.1:$PORT --symbols 10000 --quote-rate 0.5 --trade-rate 0 --tick-ms 100 --warmup-secs 0 --max-connections 20000 --max-connections-per-ip 20000 >/dev/null 2>&1 &
    path=/ws
  else
    node bench/peers/ws-personal-server.js $PORT 5000 10000 >/dev/null 2>&1 &
    path=/
  fi
  pid=$!
  sleep 3
  ./target/release/examples/loadgen --kind $kind --server 127.0.0.1:$PORT --path $path --clients 10000 --secs 10 --settle 8 --server-pid $pid --source-addrs 2 --watch 50 | python3 -c "import json,sys; r=json.load(sys.stdin); print('$kind', json.dumps({k: r[k] for k in ('connected','errors','events_per_sec','p50_ms','p99_ms','server_cpu_cores','server_rss_kib','server_rss_before_kib','loadgen_cpu_cores')}))"
  kill $pid; wait $pid 2>/dev/null
  sleep 2
done
