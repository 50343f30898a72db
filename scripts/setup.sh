#!/usr/bin/env bash
# Installs what livetape needs, and skips whatever is already there. Safe to run again and
# again; `make run` and `make test` call it first.
#
#   scripts/setup.sh        what building and running the dashboard needs: the Rust toolchain
#                           pinned in rust-toolchain.toml (with the wasm32 target),
#                           cargo-leptos, the wasm-bindgen CLI matching Cargo.lock, npm's
#                           binaryen (wasm-opt, in scripts/wasm-opt/), brotli and zopfli
#   scripts/setup.sh test   that, and what the tests run for real: cargo-nextest, Debian's
#                           chromium, redis-server, haproxy, nginx, prometheus (promtool), hey
#                           and python3-venv, and Playwright from npm (in end2end/)
set -euo pipefail
cd "$(dirname "$0")/.."
FOR=${1:-run}

step() { printf '\n==> %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

CARGO_LEPTOS_VERSION=0.3.11
TOOLCHAIN=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
# wasm-opt comes from npm's binaryen: Debian's binaryen 108 produces a bundle that fails at
# start-up with current wasm-bindgen output. The Makefile puts the same directory first on PATH.
export PATH="$PWD/scripts/wasm-opt/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# npm ci in $1 unless its node_modules matches its lock file already.
npm_ci() {
  if [ ! -f "$1/node_modules/.package-lock.json" ] \
    || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    step "Installing npm packages in $1 (npm ci)"
    (cd "$1" && npm ci --no-audit --no-fund)
  fi
}

# --- Debian packages -------------------------------------------------------------------------
missing=()
# The bundle is precompressed at build time (scripts/precompress.sh).
have brotli || missing+=(brotli)
have zopfli || missing+=(zopfli)
if [ "$FOR" = test ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # The cluster (Redis and Sentinel, HAProxy), the SSE proxy test (nginx), metrics checks
  # (promtool) and the page-storm benchmark (hey): real services the tests start on free
  # loopback ports.
  have redis-server || missing+=(redis-server)
  have redis-sentinel || missing+=(redis-sentinel)
  have haproxy || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  have nginx || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  have promtool || missing+=(prometheus)
  have hey || missing+=(hey)
  # The Autobahn run installs PyPI's kosoku into a virtualenv (scripts/autobahn.sh).
  python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
  step "Installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# --- Rust toolchain (RUSTUP_AUTO_INSTALL=0 here: install the pinned one explicitly) ----------
if ! rustup toolchain list | grep -q "^${TOOLCHAIN}-"; then
  step "Installing Rust ${TOOLCHAIN}"
  rustup toolchain install "$TOOLCHAIN" --no-self-update --profile minimal -c clippy,rustfmt -t wasm32-unknown-unknown
fi
if ! rustup target list --installed --toolchain "$TOOLCHAIN" | grep -q '^wasm32-unknown-unknown$'; then
  step "Adding the wasm32 target to Rust ${TOOLCHAIN}"
  rustup target add --toolchain "$TOOLCHAIN" wasm32-unknown-unknown
fi
for component in clippy rustfmt; do
  if ! rustup component list --installed --toolchain "$TOOLCHAIN" | grep -q "^${component}"; then
    rustup component add --toolchain "$TOOLCHAIN" "$component"
  fi
done

# --- Build tools: cargo-leptos and the wasm-bindgen CLI -------------------------------------
# Built without optimisation (`--debug`, no debug info): cargo-leptos's release profile (fat
# LTO, one codegen unit) took about 20 minutes on 2 cores, the dev profile under 7, and the
# site builds as fast with either (both only drive cargo, wasm-bindgen and wasm-opt; measured
# in issue 22's note). Both install at once: one's serial tail leaves a core to the other.
export CARGO_PROFILE_DEV_DEBUG=0
pids=()
if ! cargo-leptos --version 2>/dev/null | grep -q " ${CARGO_LEPTOS_VERSION}$"; then
  step "Building cargo-leptos ${CARGO_LEPTOS_VERSION} (once; about 7 minutes on 2 cores)"
  cargo "+${TOOLCHAIN}" install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked \
    --features no_downloads --debug &
  pids+=($!)
fi
# wasm-bindgen: must match the library version in Cargo.lock exactly. Its published lock file
# can name a crate version the registry no longer serves; then resolve afresh (same
# wasm-bindgen-cli version, compatible dependencies).
if ! wasm-bindgen --version 2>/dev/null | grep -q " ${WASM_BINDGEN_VERSION}$"; then
  step "Building wasm-bindgen-cli ${WASM_BINDGEN_VERSION} (once; about a minute)"
  ( cargo "+${TOOLCHAIN}" install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --locked --debug \
    || cargo "+${TOOLCHAIN}" install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --debug ) &
  pids+=($!)
fi
for pid in "${pids[@]}"; do wait "$pid"; done

# --- npm: wasm-opt (binaryen) --------------------------------------------------------------
npm_ci scripts/wasm-opt

if [ "$FOR" = test ]; then
  # --- cargo-nextest: runs the Rust tests with the groups in .config/nextest.toml (the
  # cluster and fault tests one at a time) and kills a hung test instead of waiting forever
  if ! cargo nextest --version >/dev/null 2>&1; then
    step "Building cargo-nextest (once; a few minutes)"
    cargo "+${TOOLCHAIN}" install cargo-nextest --locked
  fi
  # --- Playwright from npm (its browser is Debian's chromium) ----------------------------
  npm_ci end2end
fi

step "Setup complete ($FOR): rust ${TOOLCHAIN}, $(cargo-leptos --version), $(wasm-bindgen --version), $(wasm-opt --version | head -n1)$([ "$FOR" = test ] && echo ", $(/usr/bin/chromium --version 2>/dev/null)")"
