#!/usr/bin/env bash
# make fuzz: every fuzz target for $1 seconds (default 300) with cargo-fuzz on nightly.
# Installs the nightly toolchain and cargo-fuzz when missing. The corpus is committed as one
# archive per target (fuzz/corpus/<target>.tar.gz: thousands of small files do not belong in
# the repository's tree); it is unpacked into target/fuzz-corpus/<target>, fuzzed, minimised
# (cargo fuzz cmin) and packed again, reproducibly (sorted names, no times or owners), so an
# unchanged corpus gives a byte-identical archive. A crash is copied to
# fuzz/regressions/<target> (tests/fuzz_corpus.rs replays both in make test) and the run fails.
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
  corpus="target/fuzz-corpus/$t"
  rm -rf "$corpus" && mkdir -p "$corpus" "fuzz/regressions/$t"
  [ -f "fuzz/corpus/$t.tar.gz" ] && tar -xzf "fuzz/corpus/$t.tar.gz" -C "$corpus"
  log="target/fuzz-$t.log"
  # libFuzzer adds what it finds to the corpus dir; cmin then keeps the smallest set with
  # the same coverage, which is what is committed.
  if cargo +nightly fuzz run "$t" "$corpus" -- \
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
  cargo +nightly fuzz cmin "$t" "$corpus" >/dev/null 2>&1 || true
  (cd "$corpus" && find . -type f -printf '%P\n' | LC_ALL=C sort \
    | tar --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - -T - | gzip -n -9) \
    >"fuzz/corpus/$t.tar.gz"
  summary+=("$t: $status, $runs executions in ${secs}s, corpus $(ls "$corpus" | wc -l) inputs")
  tail -n 3 "$log"
done
echo
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "crashes in: ${failed[*]} (inputs copied to fuzz/regressions/; tests/fuzz_corpus.rs now replays them)"
  exit 1
fi
