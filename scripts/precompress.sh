#!/usr/bin/env bash
# Writes brotli (.br) and gzip (.gz) copies of the built bundle next to it, once, at build
# time: the server sends them as they are (tower-http's ServeDir, precompressed) instead of
# compressing the WASM on every request. gzip comes from zopfli, which packs the same gzip
# format ~5% tighter than gzip -9; browsers that do not take brotli over plain HTTP get it.
set -euo pipefail
cd "$(dirname "$0")/.."
PKG=${1:-target/site/pkg}
for f in "$PKG"/*.wasm "$PKG"/*.js "$PKG"/*.css; do
  [ -f "$f" ] || continue
  if [ ! -f "$f.br" ] || [ "$f" -nt "$f.br" ]; then brotli -q 11 -k -f "$f"; fi
  if [ ! -f "$f.gz" ] || [ "$f" -nt "$f.gz" ]; then
    if command -v zopfli >/dev/null 2>&1; then zopfli --i15 "$f"; else gzip -9 -k -f "$f"; fi
  fi
done
wasm=$(ls "$PKG"/*.wasm | head -n1)
printf 'bundle %s: %s B raw, %s B brotli, %s B gzip\n' "$wasm" "$(stat -c %s "$wasm")" \
  "$(stat -c %s "$wasm.br")" "$(stat -c %s "$wasm.gz")"
