#!/usr/bin/env bash
# make autobahn: the Autobahn WebSocket conformance cases (PyPI kosoku, which drives the
# Autobahn TestSuite's own case files without Docker) against examples/ws_echo.rs, an echo
# server on livetape's own RFC 6455 code. Compression (cases 12.*, 13.*) is not offered by
# the server and is skipped. Fails on any case that is not OK, NON-STRICT or INFORMATIONAL.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
target="${CARGO_TARGET_DIR:-target}"
venv="${KOSOKU_VENV:-$HOME/.cache/livetape/kosoku-venv}"
out="$target/autobahn"

if [ ! -x "$venv/bin/kosoku" ]; then
  echo "==> Installing kosoku 0.1.0 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet kosoku==0.1.0
fi
cargo build --release --features ssr --example ws_echo
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$target/release/examples/ws_echo" "127.0.0.1:$port" >/dev/null &
echo_pid=$!
trap 'kill $echo_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done
rm -rf "$out"
echo "==> Autobahn cases against ws://127.0.0.1:$port (reports in $out)"
timeout 900 "$venv/bin/kosoku" "127.0.0.1:$port" -x '12.*' -x '13.*' -p 2 -o "$out" >"$out.log" 2>&1 || {
  tail -20 "$out.log"; exit 1; }
python3 - "$out/index.json" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
cases = next(iter(report.values()))
counts = collections.Counter(r["behavior"] for r in cases.values())
bad = sorted(
    (k, r["behavior"], r["behaviorClose"])
    for k, r in cases.items()
    if r["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL")
    or r["behaviorClose"] not in ("OK", "INFORMATIONAL")
)
print(f"{len(cases)} cases: " + ", ".join(f"{n} {b}" for b, n in counts.most_common()))
non_strict = sorted(k for k, r in cases.items() if r["behavior"] == "NON-STRICT")
if non_strict:
    print("NON-STRICT (invalid UTF-8 found at the end of a fragmented message, not at the "
          "first bad fragment): " + ", ".join(non_strict))
if bad:
    print("failing cases:", bad)
    sys.exit(1)
PY
