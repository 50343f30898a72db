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
: > "$OUT/results.jsonl"
TARGET_DIR=${CARGO_TARGET_DIR:-target}

echo "==> Building the site, the server and the load generator (release)"
cargo leptos build --release
cargo build --release --features ssr --bin livetape --example loadgen
LIVETAPE="$TARGET_DIR/release/livetape"
LOADGEN="$TARGET_DIR/release/examples/loadgen"
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
trap stop_server EXIT

# start KIND RATE: a server publishing RATE events per second.
start() {
  local kind=$1 rate=$2
  PORT=$((PORT + 1))
  case $kind in
    livetape)
      # RATE quote events per second: 50 symbols moving RATE/50 times a second each (at most
      # one move per tick, so the tick shrinks for high rates), no trades.
      local per_symbol tick
      per_symbol=$(python3 -c "print($rate/50)")
      tick=$(python3 -c "print(max(5, min(100, int(1000/max($rate/50,1)))))")
      "$LIVETAPE" --addr "127.0.0.1:$PORT" --symbols 50 --quote-rate "$per_symbol" --trade-rate 0 \
        --tick-ms "$tick" --warmup-secs 0 --max-connections 20000 >/dev/null 2>&1 &
      ;;
    ws)
      node bench/peers/ws-server.js "$PORT" "$rate" >/dev/null 2>&1 &
      ;;
    socketio)
      node bench/peers/socketio-server.js "$PORT" "$rate" >/dev/null 2>&1 &
      ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server $kind did not start" >&2
  return 1
}

# run SCENARIO KIND RATE CLIENTS [LOADGEN FLAGS...]: one measured run, appended to results.jsonl.
run() {
  local scenario=$1 kind=$2 rate=$3 clients=$4 path=/ws
  shift 4
  [ "$kind" = ws ] && path=/
  start "$kind" "$rate"
  local addrs=$(( clients / 20000 + 1 ))
  echo "--> $scenario: $kind, $rate events/s fed, $clients clients $*"
  "$LOADGEN" --kind "$kind" --server "127.0.0.1:$PORT" --path "$path" --clients "$clients" \
    --secs "$SECS" --server-pid "$SERVER_PID" --source-addrs "$addrs" "$@" \
    | python3 -c "import json,sys; r=json.load(sys.stdin); r.update(scenario='$scenario', rate=$rate); print(json.dumps(r))" \
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

KINDS=${BENCH_KINDS:-livetape ws socketio}

# (a) a fixed event rate, clients stepped up.
for clients in 100 1000 10000; do
  for kind in $KINDS; do run a "$kind" 100 "$clients"; done
done
# (b) 1,000 clients, the event rate stepped up until a server falls behind (one step past
# the last rate it sustained is enough to show it).
for kind in $KINDS; do
  for rate in 100 200 500 1000 2000 5000 10000; do
    run b "$kind" "$rate" 1000
    sustained || break
  done
done
# (c) 10,000 subscribed clients and nothing fed: the server's memory per idle client.
for kind in $KINDS; do run c "$kind" 0 10000; done
# (d) 1,000 clients at 100 events/s, then one more that stops reading: the others' latency.
for kind in $KINDS; do run d "$kind" 100 1000 --stall; done

# The browser: 500 symbols at 10 updates/s each, measured by Chromium's own performance APIs.
echo "--> browser: the dashboard with 500 symbols at 10 updates/s each"
rm -f "$OUT/browser.json"
BIN_ABS=$(realpath "$LIVETAPE")
(cd end2end && E2E_PORT=3108 LIVETAPE_BIN="$BIN_ABS" npx playwright test -c bench.config.ts) \
  || echo "the browser benchmark failed; its row is left out" >&2
WASM=target/site/pkg/livetape.wasm
python3 -c "import gzip, json; b = open('$WASM', 'rb').read(); print(json.dumps({'raw': len(b), 'gzip': len(gzip.compress(b, 9))}))" \
  > "$OUT/wasm.json"

python3 scripts/bench_report.py "$OUT/results.jsonl" > docs/benchmarks.md
echo "==> Wrote docs/benchmarks.md"
