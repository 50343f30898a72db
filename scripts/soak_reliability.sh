#!/usr/bin/env bash
# Runs the soak of `make test` (5,000 clients, or CLIENTS; 60 s) RUNS times and tallies the
# verdicts and the memory readings, to show that its verdict is reliable (docs/soak.md). Usage:
#
#   scripts/soak_reliability.sh [RUNS] [idle|hog] [SERVER_BIN]
#
# `hog` runs a busy loop on one core beside every soak. SERVER_BIN defaults to the release
# build; pass a build with `--features soak-leak` to see the verdict catch a leak. Writes one
# line per run to $OUT/runs.tsv (OUT defaults to target/soak-reliability).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
# The first run's number (and seed): FIRST=11 continues a campaign that stopped after run 10.
FIRST=${FIRST:-1}
CLIENTS=${CLIENTS:-5000}
MODE=${2:-idle}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
BIN=${3:-$TARGET_DIR/release/livetape}
OUT=${OUT:-$TARGET_DIR/soak-reliability}
SOAK=$TARGET_DIR/release/examples/soak
[ -x "$SOAK" ] || cargo build --release --features ssr --example soak
mkdir -p "$OUT"
hog=""
if [ "$MODE" = hog ]; then
  # One core kept busy for the whole campaign, as a noisy neighbour would.
  (while :; do :; done) &
  hog=$!
  trap 'kill $hog 2>/dev/null || true' EXIT
fi
printf 'run\tmode\tresult\tsecs\treturn_kib_per_conn\tslope_mib_per_min\tkib_per_reconnect\tresidual_mib\tper_conn_kib\tbeyond_history\tfailures\n' >"$OUT/runs.tsv"
passed=0
for i in $(seq "$FIRST" $((FIRST + RUNS - 1))); do
  dir="$OUT/$MODE-$i"
  mkdir -p "$dir"
  start=$SECONDS
  if "$SOAK" --server-bin "$BIN" --clients "$CLIENTS" --secs 60 --out "$dir" --seed "$i" \
    >"$dir/stdout.txt" 2>"$dir/stderr.txt"; then
    result=pass
    passed=$((passed + 1))
  else
    result=fail
  fi
  secs=$((SECONDS - start))
  line=$(grep -m1 '^| server RSS' "$dir/soak.md" || true)
  ret=$(sed -n 's/.*after the return [0-9.]* MiB (\([-+0-9.]*\) KiB per connection it opened.*/\1/p' <<<"$line")
  beyond=$(grep -m1 '^| resumes from beyond the history' "$dir/soak.md" | sed 's/.*| \([0-9]*\) |$/\1/' || true)
  slope=$(sed -n 's/.*trend \([-+0-9.]*\) MiB\/min.*/\1/p' <<<"$line")
  per=$(sed -n 's/.*(\([-+0-9.]*\) KiB per reconnect.*/\1/p' <<<"$line")
  residual=$(sed -n 's/.*(\([-+0-9.]*\) MiB above idle.*/\1/p' <<<"$line")
  conn=$(sed -n 's/.*; \([0-9.]*\) KiB per open connection.*/\1/p' <<<"$line")
  why=$(grep -m1 '^soak failed' "$dir/stderr.txt" | sed 's/^soak failed: //' || true)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$i" "$MODE" "$result" "$secs" "$ret" "$slope" "$per" "$residual" "$conn" "$beyond" "$why" \
    | tee -a "$OUT/runs.tsv"
done
echo "$passed of $RUNS passed ($MODE, $BIN); $OUT/runs.tsv"
