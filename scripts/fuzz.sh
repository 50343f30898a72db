#!/usr/bin/env bash
# make fuzz: every fuzz target for $1 seconds (default 300) with cargo-fuzz on nightly.
# Installs the nightly toolchain and cargo-fuzz when missing. New corpus entries are merged
# (minimised) into fuzz/corpus/<target>; a crash is copied to fuzz/regressions/<target>
# (tests/fuzz_corpus.rs replays it in make test) and the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-300}"
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "==> Installing the nightly toolchain (for cargo fuzz)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> Installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

targets=(client_msg sse_query redis_payload ws_frame publish_body)
failed=()
summary=()
mkdir -p target
for t in "${targets[@]}"; do
  echo "==> cargo fuzz run $t for ${secs}s"
  mkdir -p "fuzz/corpus/$t" "fuzz/regressions/$t"
  log="target/fuzz-$t.log"
  # libFuzzer adds what it finds to the corpus dir; cmin then keeps the smallest set with
  # the same coverage, which is what is committed.
  if cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$log" 2>&1; then
    status=ok
  else
    status=CRASH
    failed+=("$t")
    for a in fuzz/artifacts/"$t"/*; do
      [ -e "$a" ] && cp "$a" "fuzz/regressions/$t/"
    done
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  cargo +nightly fuzz cmin "$t" "fuzz/corpus/$t" >/dev/null 2>&1 || true
  summary+=("$t: $status, $runs executions in ${secs}s, corpus $(ls "fuzz/corpus/$t" | wc -l) inputs")
  tail -n 3 "$log"
done
echo
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "crashes in: ${failed[*]} (inputs copied to fuzz/regressions/; tests/fuzz_corpus.rs now replays them)"
  exit 1
fi
