#!/usr/bin/env bash
# make autobahn: the Autobahn WebSocket conformance cases (PyPI kosoku, which drives the
# Autobahn TestSuite's own case files without Docker) against examples/ws_echo.rs, an echo
# server on livetape's own RFC 6455 code, compression cases (12.*, 13.*: permessage-deflate)
# included. Offers the server declines by design (13.3.*, 13.5.*: a server window of 9 bits,
# see src/server/websocket/deflate.rs) come out UNIMPLEMENTED and are listed, not failed.
# Cases 12.2, 12.3 and 12.5 are left out: kosoku sends their text test data in binary frames
# and then checks the echo as text (its report shows opcode 2 sent and received), whatever the
# server; tests/deflate.rs echoes compressed text through the same code instead. Fails on any
# other case that is not OK, NON-STRICT or INFORMATIONAL.
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
# kosoku 0.1.0's compression cases (12.*, 13.*) hash the echoed text as a str and send an
# empty binary message as a str, so every text or empty case errors on the harness's side
# ("Strings must be encoded before hashing") before looking at the server. Fix those two lines
# of its case file, once.
python3 - "$venv" <<'PY'
import glob, sys
case = glob.glob(sys.argv[1] + "/lib/python3*/site-packages/kosoku/cases/case12_x_x.py")[0]
src = open(case).read()
if "livetape:" not in src:
    src = src.replace(
        "def onMessage(self, msg, binary):\n",
        "def onMessage(self, msg, binary):\n"
        "   if isinstance(msg, str): msg = msg.encode('utf-8')  # livetape: bytes to hash\n",
        1,
    ).replace(
        "   else:\n      msg = ''\n",
        "   else:\n      msg = b'' if self.TESTDATA['binary'] else ''  # livetape: bytes\n",
        1,
    )
    open(case, "w").write(src)
PY
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
timeout 900 "$venv/bin/kosoku" "127.0.0.1:$port" -x '12.2.*' -x '12.3.*' -x '12.5.*' -p 2 -o "$out" >"$out.log" 2>&1 || true
# kosoku exits non-zero for any case that is not OK (the declined ones too): judge its report.
[ -f "$out/index.json" ] || { tail -20 "$out.log"; echo "kosoku wrote no report" >&2; exit 1; }
python3 - "$out/index.json" <<'PY'
import collections, json, sys
report = json.load(open(sys.argv[1]))
cases = next(iter(report.values()))
counts = collections.Counter(r["behavior"] for r in cases.values())
declined = sorted(
    (k for k, r in cases.items()
     if r["behavior"] == "UNIMPLEMENTED" and k.startswith(("13.3.", "13.5."))),
    key=lambda k: [int(x) for x in k.split(".")],
)
bad = sorted(
    (k, r["behavior"], r["behaviorClose"])
    for k, r in cases.items()
    if (r["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL") and k not in declined)
    or r["behaviorClose"] not in ("OK", "INFORMATIONAL")
)
print(f"{len(cases)} cases: " + ", ".join(f"{n} {b}" for b, n in counts.most_common()))
non_strict = sorted(k for k, r in cases.items() if r["behavior"] == "NON-STRICT")
if non_strict:
    print("NON-STRICT (invalid UTF-8 found at the end of a fragmented message, not at the "
          "first bad fragment): " + ", ".join(non_strict))
if declined:
    print(f"declined by design (a server window under 15 bits): {len(declined)} cases, "
          f"{declined[0]} .. {declined[-1]}")
if bad:
    print("failing cases:", bad)
    sys.exit(1)
PY
