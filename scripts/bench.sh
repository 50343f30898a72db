#!/usr/bin/env bash
# `make bench`: livetape and its peers side by side on loopback, same harness, same machine.
# Writes the raw results to target/bench/results.jsonl and the table to docs/benchmarks.md.
# Every run is bounded: each scenario measures for BENCH_SECS seconds, then stops its servers.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tools scripts/setup.sh installed: npm's wasm-opt (binaryen 132) first, then cargo's.
export PATH="$PWD/scripts/wasm-opt/node_modules/.bin:$HOME/.cargo/bin:$PATH"

SECS=${BENCH_SECS:-8}
OUT=target/bench
mkdir -p "$OUT"
# BENCH_ONLY="e f" runs only those scenarios (a b c d e f g h p w z x r browser) and replaces their rows
# (p includes its churn rounds, pc, and its 10,000-client round, p10k).
ONLY=${BENCH_ONLY:-}
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
if [ -z "$ONLY" ]; then
  : > "$OUT/results.jsonl"
else
  touch "$OUT/results.jsonl"
  python3 -c "
import json, sys
# The churn rounds (pc) and the 10,000-client round (p10k) belong to p.
keep = [l for l in open('$OUT/results.jsonl') if l.strip() and {'pc': 'p', 'p10k': 'p'}.get(json.loads(l)['scenario'], json.loads(l)['scenario']) not in '$ONLY'.split()]
open('$OUT/results.jsonl', 'w').writelines(keep)"
fi
TARGET_DIR=${CARGO_TARGET_DIR:-target}

echo "==> Building the site, the server and the load generator (release)"
cargo leptos build --release
bash scripts/precompress.sh
cargo build --release --features ssr --bin livetape --example loadgen --example send_floor
LIVETAPE="$TARGET_DIR/release/livetape"
LOADGEN="$TARGET_DIR/release/examples/loadgen"
FLOOR="$TARGET_DIR/release/examples/send_floor"
if [ ! -f bench/peers/node_modules/.package-lock.json ] \
  || [ bench/peers/package-lock.json -nt bench/peers/node_modules/.package-lock.json ]; then
  (cd bench/peers && npm ci --no-audit --no-fund)
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PORT=3400
SERVER_PID=
# SIGTERM, then SIGKILL if the server has not exited within 5 s (a saturated peer may never
# finish closing its connections).
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
# Processes a scenario starts besides SERVER_PID (Redis, a producer, edges).
EXTRA_PIDS=()
stop_extra() {
  for pid in "${EXTRA_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${EXTRA_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  EXTRA_PIDS=()
}
trap 'stop_server; stop_extra' EXIT

wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# start KIND RATE: a server publishing RATE quote events per second in 100 ms ticks (the
# batched peer's tick), to every client.
start() {
  local kind=$1 rate=$2
  PORT=$((PORT + 1))
  case $kind in
    livetape)
      # RATE quotes a second: RATE/10 symbols (at least 10) each moving up to 10 times a
      # second, i.e. once per 100 ms tick; no trades. Nothing fed (RATE 0): 50 quiet symbols.
      local symbols per_symbol
      symbols=$(python3 -c "print(50 if $rate == 0 else max(10, int($rate) // 10))")
      per_symbol=$(python3 -c "print($rate / $symbols)")
      "$LIVETAPE" --addr "127.0.0.1:$PORT" --symbols "$symbols" --quote-rate "$per_symbol" --trade-rate 0 \
        --tick-ms 100 --warmup-secs 0 --max-connections 20000 >/dev/null 2>&1 &
      ;;
    ws)
      node bench/peers/ws-server.js "$PORT" "$rate" >/dev/null 2>&1 &
      ;;
    wsbatch)
      node bench/peers/ws-batch-server.js "$PORT" "$rate" >/dev/null 2>&1 &
      ;;
    wsbatch-deflate)
      node bench/peers/ws-batch-server.js "$PORT" "$rate" deflate >/dev/null 2>&1 &
      ;;
    socketio)
      node bench/peers/socketio-server.js "$PORT" "$rate" >/dev/null 2>&1 &
      ;;
    livetape-personal)
      # A whole market: 10,000 symbols moving RATE times a second in all; no trades.
      "$LIVETAPE" --addr "127.0.0.1:$PORT" --symbols 10000 \
        --quote-rate "$(python3 -c "print($rate / 10000)")" --trade-rate 0 \
        --tick-ms 100 --warmup-secs 0 --max-connections 20000 >/dev/null 2>&1 &
      ;;
    wspersonal)
      node bench/peers/ws-personal-server.js "$PORT" "$rate" 10000 >/dev/null 2>&1 &
      ;;
    wspersonal-deflate)
      node bench/peers/ws-personal-server.js "$PORT" "$rate" 10000 deflate >/dev/null 2>&1 &
      ;;
    floor)
      "$FLOOR" "$PORT" "$rate" >/dev/null &
      ;;
    floor-livetape)
      "$FLOOR" "$PORT" "$rate" livetape >/dev/null &
      ;;
  esac
  SERVER_PID=$!
  wait_port "$PORT" || { echo "server $kind did not start" >&2; return 1; }
}

# run SCENARIO KIND RATE CLIENTS [LOADGEN FLAGS...]: one measured run, appended to results.jsonl.
run() {
  local scenario=$1 kind=$2 rate=$3 clients=$4 path=/ws client=${2%-deflate}
  shift 4
  case $kind in ws | wsbatch | wsbatch-deflate | wspersonal | wspersonal-deflate | floor | floor-livetape) path=/ ;; esac
  [ "$kind" = livetape-personal ] && client=livetape
  # Each floor sends one server's frames; the load generator reads them as that server's.
  [ "$kind" = floor ] && client=wsbatch
  [ "$kind" = floor-livetape ] && client=livetape
  start "$kind" "$rate"
  local addrs=$(( clients / 20000 + 1 ))
  echo "--> $scenario: $kind, $rate events/s fed, $clients clients $*"
  "$LOADGEN" --kind "$client" --server "127.0.0.1:$PORT" --path "$path" --clients "$clients" \
    --secs "$SECS" --server-pid "$SERVER_PID" --source-addrs "$addrs" "$@" \
    | python3 -c "import json,sys; r=json.load(sys.stdin); r.update(scenario='$scenario', rate=$rate, server='$kind'); print(json.dumps(r))" \
    | tee -a "$OUT/results.jsonl"
  stop_server
}

# sustained KIND: did the last run deliver 90% of what was fed to every client, p99 < 100 ms?
sustained() {
  tail -n 1 "$OUT/results.jsonl" | python3 -c "
import json, sys
r = json.load(sys.stdin)
sys.exit(0 if r['events_per_sec'] >= 0.9 * r['rate'] * r['clients'] and r['p99_ms'] < 100 else 1)"
}

KINDS=${BENCH_KINDS:-livetape wsbatch ws socketio}

# (a) a fixed event rate, clients stepped up.
if want a; then
  for clients in 100 1000 10000; do
    for kind in $KINDS; do run a "$kind" 100 "$clients"; done
  done
fi
# (b) 1,000 clients, the event rate stepped up until a server falls behind (one step past
# the last rate it sustained is enough to show it). What is measured is the steady state: at
# 20,000/s the connect phase (each livetape client also takes a snapshot of every symbol)
# leaves a backlog in the socket buffers that the load generator, with little headroom left,
# needs a few seconds to drain, so every server gets 8 s to settle instead of 2. From
# 10,000/s on, where RSS has a target, 40 s: longer than livetape's 30 s history of quotes,
# so that RSS is read once the history holds all it will.
if want b; then
  for kind in $KINDS; do
    for rate in 100 1000 2000 5000 10000 20000; do
      settle=8; [ "$rate" -ge 10000 ] && settle=40
      run b "$kind" "$rate" 1000 --settle "$settle"
      sustained || break
    done
  done
fi
# (c) 19,000 subscribed clients (the open-files limit is 20,000) and nothing fed: the
# server's memory per idle client.
if want c; then for kind in $KINDS; do run c "$kind" 0 19000; done; fi
# (d) 1,000 clients at 100 events/s, then one more that stops reading: the others' latency.
if want d; then for kind in $KINDS; do run d "$kind" 100 1000 --stall; done; fi

# (g) compression: 1,000 clients at 5,000 quotes/s, each offering permessage-deflate as
# browsers do. livetape compresses each tick once for all; the batched peer declines (ws's
# default), or with deflate on compresses per client. livetape without the offer for reference.
if want g; then
  run g livetape 5000 1000
  run g livetape 5000 1000 --deflate
  run g wsbatch 5000 1000 --deflate
  run g wsbatch-deflate 5000 1000 --deflate
fi

# (h) the CPU target, measured again and again: one run of each of these after the other, in
# BENCH_ROUNDS (5) rounds, so that a slow minute of the machine hits every server alike and the medians
# compare. At 5,000 quotes/s: livetape, the batched peer, the floors (examples/send_floor.rs:
# the peer's frames, or livetape's, and nothing but one write per client per tick) and
# livetape and its floor with a browser's deflate offer; the peer's floor at 4,000/s too (its
# cost steps between 4,000 and 5,000/s, while livetape's floor with larger frames does not: the
# step is receive work charged to the sender, not bytes); at 100 quotes/s (the same 10,000
# sends a second, frames 45x smaller): livetape, the peer and the floors, which is what a
# send costs before its bytes.
if want h; then
  for round in $(seq "${BENCH_ROUNDS:-5}"); do
    echo "--> h: round $round"
    run h livetape 5000 1000 --settle 8
    run h wsbatch 5000 1000 --settle 8
    run h floor 5000 1000 --settle 8
    run h floor 4000 1000 --settle 8
    run h floor-livetape 5000 1000 --settle 8
    run h livetape 5000 1000 --settle 8 --deflate
    run h floor-livetape 5000 1000 --settle 8 --deflate
    run h livetape 100 1000 --settle 8
    run h wsbatch 100 1000 --settle 8
    run h floor 100 1000 --settle 8
    run h floor-livetape 100 1000 --settle 8
  done
fi

# (e) scale-out: a producer and three edges on one Redis, the clients spread over the edges
# (1,000, then 10,000) at 100 quotes/s in 100 ms ticks; the same loads on one embedded
# process are (a)'s rows. The difference is what the hop through Redis adds.
# on_redis EDGES PRODUCER_FLAGS...: a Redis, a producer with those flags (100 ms ticks, no
# warm-up) and EDGES edges, each on a fresh port; sets REDIS_PORT, PRODUCER_PID, EDGE_PORTS and
# EDGE_PIDS, and lists every process in EXTRA_PIDS for stop_extra.
on_redis() {
  local n_edges=$1
  shift
  REDIS_PORT=$((PORT + 1))
  PORT=$((PORT + 2))
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null 2>&1 &
  EXTRA_PIDS=($!)
  wait_port "$REDIS_PORT"
  "$LIVETAPE" --addr "127.0.0.1:$PORT" --redis "redis://127.0.0.1:$REDIS_PORT" --role producer \
    "$@" --tick-ms 100 --warmup-secs 0 >/dev/null 2>&1 &
  PRODUCER_PID=$!
  EXTRA_PIDS+=($!)
  EDGE_PORTS=()
  EDGE_PIDS=()
  for _ in $(seq 1 "$n_edges"); do
    PORT=$((PORT + 1))
    "$LIVETAPE" --addr "127.0.0.1:$PORT" --redis "redis://127.0.0.1:$REDIS_PORT" --role edge \
      --max-connections 20000 >/dev/null 2>&1 &
    EXTRA_PIDS+=($!)
    EDGE_PIDS+=($!)
    EDGE_PORTS+=("$PORT")
    wait_port "$PORT"
  done
}
if want e && command -v redis-server >/dev/null; then
  for clients in 1000 10000; do
    on_redis 3 --symbols 10 --quote-rate 10 --trade-rate 0
    edges=()
    for k in 0 1 2; do edges+=(--server "127.0.0.1:${EDGE_PORTS[$k]}" --server-pid "${EDGE_PIDS[$k]}"); done
    sleep 1
    echo "--> e: 3 edges on Redis, 100 events/s fed, $clients clients"
    "$LOADGEN" --kind livetape "${edges[@]}" --clients "$clients" --secs "$SECS" \
      | python3 -c "import json,sys; r=json.load(sys.stdin); r.update(scenario='e', rate=100, edges=3); print(json.dumps(r))" \
      | tee -a "$OUT/results.jsonl"
    stop_extra
  done
fi

# (w) waiting for a replica: a producer and one edge on a Redis primary with one replica, 1,000
# clients on the edge, 100 quotes/s in 100 ms ticks; asynchronous replication, then
# --redis-wait-replicas 1. Besides the clients' latency, the producer's own histogram gives each
# tick's publish round trip (livetape_redis_commit_seconds: the Lua commit; or stage, WAIT and
# promote), over the measured window.
commit_seconds() {
  curl -s "http://127.0.0.1:$1/metrics" | python3 -c "
import json, sys
b, s, c = {}, 0.0, 0
for l in sys.stdin:
    if l.startswith('livetape_redis_commit_seconds_bucket'):
        b[l.split('le=\"')[1].split('\"')[0]] = float(l.split()[-1])
    elif l.startswith('livetape_redis_commit_seconds_sum'):
        s = float(l.split()[-1])
    elif l.startswith('livetape_redis_commit_seconds_count'):
        c = float(l.split()[-1])
print(json.dumps({'buckets': b, 'sum': s, 'count': c}))"
}
if want w && command -v redis-server >/dev/null; then
  for wait_n in 0 1; do
    REDIS_PORT=$((PORT + 1))
    REPLICA_PORT=$((PORT + 2))
    PORT=$((PORT + 3))
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null 2>&1 &
    EXTRA_PIDS=($!)
    # A replica writes the RDB of its first sync: into target/bench, not the working tree.
    redis-server --bind 127.0.0.1 --port "$REPLICA_PORT" --save "" --appendonly no \
      --dir "$PWD/$OUT" --replicaof 127.0.0.1 "$REDIS_PORT" >/dev/null 2>&1 &
    EXTRA_PIDS+=($!)
    wait_port "$REDIS_PORT"
    wait_port "$REPLICA_PORT"
    for _ in $(seq 1 100); do
      redis-cli -p "$REPLICA_PORT" INFO replication | grep -q master_link_status:up && break
      sleep 0.1
    done
    PRODUCER_PORT=$PORT
    "$LIVETAPE" --addr "127.0.0.1:$PRODUCER_PORT" --redis "redis://127.0.0.1:$REDIS_PORT" \
      --role producer --redis-wait-replicas "$wait_n" \
      --symbols 10 --quote-rate 10 --trade-rate 0 --tick-ms 100 --warmup-secs 0 >/dev/null 2>&1 &
    EXTRA_PIDS+=($!)
    PORT=$((PORT + 1))
    "$LIVETAPE" --addr "127.0.0.1:$PORT" --redis "redis://127.0.0.1:$REDIS_PORT" --role edge \
      --max-connections 20000 >/dev/null 2>&1 &
    EXTRA_PIDS+=($!)
    edge_pid=$!
    wait_port "$PRODUCER_PORT"
    wait_port "$PORT"
    sleep 1
    echo "--> w: 1,000 clients on an edge, the producer waiting for $wait_n replicas"
    commit_seconds "$PRODUCER_PORT" > "$OUT/commit-before.json"
    "$LOADGEN" --kind livetape --server "127.0.0.1:$PORT" --server-pid "$edge_pid" --clients 1000 \
      --secs "$SECS" > "$OUT/wait-feed.json"
    commit_seconds "$PRODUCER_PORT" > "$OUT/commit-after.json"
    python3 - "$wait_n" <<'PY' | tee -a "$OUT/results.jsonl"
import json, sys
r = json.load(open("target/bench/wait-feed.json"))
a, b = (json.load(open(f"target/bench/commit-{p}.json")) for p in ("before", "after"))
n = b["count"] - a["count"]
bounds = sorted((float(k) for k in b["buckets"] if k != "+Inf"))
def le(q):
    # The smallest bucket bound under which q of the window's ticks fall (an upper bound).
    for x in bounds:
        key = next(k for k in b["buckets"] if k != "+Inf" and float(k) == x)
        if b["buckets"][key] - a["buckets"].get(key, 0) >= q * n:
            return x * 1e3
    return None
r.update(scenario="w", rate=100, wait=int(sys.argv[1]), ticks=n,
         commit_mean_ms=(b["sum"] - a["sum"]) / n * 1e3 if n else None,
         commit_p50_le_ms=le(0.5), commit_p99_le_ms=le(0.99))
print(json.dumps(r))
PY
    stop_extra
  done
fi

# (z) compression for personalised frames: the (p) load, each client offering
# permessage-deflate as browsers do or not, rounds alternating; beside it the personalised
# peer with ws's permessage-deflate on (the same choice: no context kept, plain under 256 B).
# A personalised frame (2 to 3 updates, ~300 B) is compressed for its one client.
# docs/capacity.md weighs this against the other choices.
if want z; then
  for round in 1 2; do
    run z livetape-personal 5000 1000 --watch 50 --settle 4
    run z livetape-personal 5000 1000 --watch 50 --settle 4 --deflate
    run z wspersonal-deflate 5000 1000 --watch 50 --settle 4 --deflate
  done
fi

# (x) one edge at its open-files limit: 20,000 clients asked of one process with the default
# --max-connections (20,000) under this machine's open-files limit (20,000; a container
# without CAP_SYS_RESOURCE cannot raise it). It serves what the limit leaves room for (19,744)
# and refuses the rest with 503. Each client watches its own 50 of 10,000 symbols, 1,000
# moves/s in all (5 updates/s a client, about 99,000/s delivered).
if want x; then run x livetape-personal 1000 20000 --watch 50 --settle 8; fi

# (r) what Redis carries per edge, for docs/capacity.md: a producer moving a whole market
# (10,000 symbols, 5,000 quote moves/s in 100 ms ticks, no trades) and E edges following it
# (1, then 4), no clients. Redis's own counters (INFO) over SECS: bytes out and in per second,
# its CPU; and each edge's CPU and RSS for following the feed.
redis_counters() {
  redis-cli -p "$1" INFO | tr -d '\r' | python3 -c "
import json, sys
k = dict(l.split(':', 1) for l in sys.stdin if ':' in l and not l.startswith('#'))
print(json.dumps({'out': int(k['total_net_output_bytes']), 'in': int(k['total_net_input_bytes']),
                  'cpu': float(k['used_cpu_sys']) + float(k['used_cpu_user']),
                  'mem': int(k['used_memory'])}))"
}
proc_cpu_secs() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
if want r && command -v redis-server >/dev/null; then
  for n_edges in 1 4; do
    on_redis "$n_edges" --symbols 10000 --quote-rate 0.5 --trade-rate 0
    sleep 5
    echo "--> r: a producer moving 10,000 symbols 5,000 times a second, $n_edges edges on Redis"
    before=$(redis_counters "$REDIS_PORT")
    cpu_before=$(for p in "$PRODUCER_PID" "${EDGE_PIDS[@]}"; do proc_cpu_secs "$p"; done | paste -sd,)
    t0=$(date +%s.%N)
    sleep "$SECS"
    after=$(redis_counters "$REDIS_PORT")
    cpu_after=$(for p in "$PRODUCER_PID" "${EDGE_PIDS[@]}"; do proc_cpu_secs "$p"; done | paste -sd,)
    t1=$(date +%s.%N)
    rss=$(for p in "${EDGE_PIDS[@]}"; do awk '/VmRSS/ {print $2}' "/proc/$p/status"; done | paste -sd,)
    python3 -c "
import json
a, b, secs = json.loads('$before'), json.loads('$after'), $t1 - $t0
ca, cb, rss = [$cpu_before], [$cpu_after], [$rss]
edges = [y - x for x, y in zip(ca[1:], cb[1:])]
print(json.dumps({'scenario': 'r', 'edges': $n_edges, 'secs': secs, 'rate': 5000, 'symbols': 10000,
  'redis_out_bytes_per_sec': (b['out'] - a['out']) / secs, 'redis_in_bytes_per_sec': (b['in'] - a['in']) / secs,
  'redis_cpu_cores': (b['cpu'] - a['cpu']) / secs, 'redis_used_memory': b['mem'],
  'producer_cpu_cores': (cb[0] - ca[0]) / secs, 'edge_cpu_cores': sum(edges) / len(edges) / secs,
  'edge_rss_kib': sum(rss) / len(rss)}))" | tee -a "$OUT/results.jsonl"
    stop_extra
  done
fi

# (f) a page-load storm: 500 clients on the default feed, then `hey` asking for / (gzip) at
# 1,000 pages/s, then as fast as it can; the feed measured before and during.
storm() {
  local phase=$1
  shift
  PORT=$((PORT + 1))
  "$LIVETAPE" --addr "127.0.0.1:$PORT" --warmup-secs 30 --max-connections 20000 >/dev/null 2>&1 &
  SERVER_PID=$!
  wait_port "$PORT"
  local hey_out="$OUT/hey-$phase.txt" feed_out="$OUT/feed-$phase.json" hey_pid=
  : > "$hey_out"
  if [ "$#" -gt 0 ]; then
    # Long enough to cover the load generator's connect, settle and measuring window.
    hey -z "$((SECS + 6))s" -H "Accept-Encoding: gzip" "$@" "http://127.0.0.1:$PORT/" > "$hey_out" 2>&1 &
    hey_pid=$!
  fi
  echo "--> f: storm $phase (hey $*)"
  "$LOADGEN" --kind livetape --server "127.0.0.1:$PORT" --clients 500 --secs "$SECS" \
    --server-pid "$SERVER_PID" > "$feed_out"
  [ -n "$hey_pid" ] && { wait "$hey_pid" 2>/dev/null || true; }
  python3 scripts/bench_hey.py "$phase" "$feed_out" "$hey_out" | tee -a "$OUT/results.jsonl"
  stop_server
}
if want f; then
  storm before
  storm rate1000 -c 20 -q 50
  storm fullspeed -c 50
fi

# (p) personalised: 1,000 clients, each watching its own 50 random symbols of 10,000 (the
# same watchlists for both servers), 5,000 quote moves/s. livetape builds each client's frame
# from the tick's shared encoded updates; the peer stringifies each changed quote once per
# tick and concatenates each client's. Rounds alternate the servers (P_ROUNDS, default 3).
if want p; then
  for round in $(seq 1 "${P_ROUNDS:-3}"); do
    for kind in livetape-personal wspersonal; do
      run p "$kind" 5000 1000 --watch 50 --settle 4
    done
    # The same with churn: every 10th client changes 10 of its symbols every second; the
    # latency is the others' (what churn costs them).
    for kind in livetape-personal wspersonal; do
      run pc "$kind" 5000 1000 --watch 50 --settle 4 --churn-every 10
    done
  done
  # And at 10,000 clients, one round each: on 2 cores the server and the load generator
  # together saturate the machine, so this reads where it stops, not a ratio.
  for kind in livetape-personal wspersonal; do
    run p10k "$kind" 5000 10000 --watch 50 --settle 8
  done
fi

# The browser, measured by Chromium's own performance APIs: 500 symbols at 10 updates/s each,
# and a whole market of 10,000 symbols (scrolled through, and sorted as it moves).
if want browser; then
  echo "--> browser: 500 symbols at 10 updates/s each; a whole market of 10,000 symbols"
  rm -f "$OUT/browser.json" "$OUT/browser-10k.json"
  BIN_ABS=$(realpath "$LIVETAPE")
  (cd end2end && E2E_PORT=3108 LIVETAPE_BIN="$BIN_ABS" npx playwright test -c bench.config.ts) \
    || echo "the browser benchmark failed; its row is left out" >&2
fi
WASM=target/site/pkg/livetape.wasm
# What crosses the wire: the precompressed files the server sends (scripts/precompress.sh).
python3 -c "
import json, os
size = lambda p: os.path.getsize(p) if os.path.exists(p) else None
print(json.dumps({'raw': size('$WASM'), 'brotli': size('$WASM.br'), 'gzip': size('$WASM.gz'),
                  'js_brotli': size('target/site/pkg/livetape.js.br'), 'css_brotli': size('target/site/pkg/livetape.css.br')}))" \
  > "$OUT/wasm.json"

python3 scripts/bench_report.py "$OUT/results.jsonl" > docs/benchmarks.md
echo "==> Wrote docs/benchmarks.md"
