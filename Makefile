# livetape: `make run` to watch the dashboard, `make test` to run every test.
# Both install what is missing first (scripts/setup.sh; idempotent).

ADDR ?= 127.0.0.1:3000
# cargo-leptos (built with no_downloads) takes wasm-opt from PATH: use npm's binaryen 132.
export PATH := $(CURDIR)/scripts/wasm-opt/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BIN := $(TARGET_DIR)/release/livetape
# Port for the end-to-end run, away from a dashboard you may have open on :3000.
E2E_PORT ?= 3107

.PHONY: setup build run dev test lint unit e2e bench cluster clean

setup:
	@bash scripts/setup.sh

## Optimised site (WASM bundle, CSS, assets in target/site) and server binary.
build: setup
	@echo "==> Building the optimised site and server (cargo leptos build --release)"
	cargo leptos build --release
	@bash scripts/precompress.sh

## Serve the dashboard on $(ADDR).
run: build
	@echo "==> Serving http://$(ADDR)  (Ctrl-C to stop)"
	LEPTOS_SITE_ROOT=target/site $(BIN) --addr $(ADDR)

## Development: rebuilds and reloads the page when a component or style changes.
dev: setup
	cargo leptos watch

## Every test: format and lint, unit and integration, then Playwright in Chromium.
test: setup lint unit build e2e

lint:
	@echo "==> cargo fmt --check and clippy (server and browser builds)"
	cargo fmt --all -- --check
	cargo clippy --features ssr --all-targets -- -D warnings
	cargo clippy --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings

unit:
	@echo "==> Unit, integration and property tests"
	@if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --features ssr; \
	else \
	  cargo test --features ssr; \
	fi

e2e:
	@echo "==> End-to-end tests in Chromium (Playwright) against $(BIN) on port $(E2E_PORT)"
	cd end2end && CI=1 E2E_PORT=$(E2E_PORT) LIVETAPE_BIN=$(abspath $(BIN)) npx playwright test

## A cluster on loopback: Redis, two producers, three edges, HAProxy on $(CLUSTER_PORT).
CLUSTER_PORT ?= 3000
cluster: build
	CLUSTER_PORT=$(CLUSTER_PORT) LIVETAPE_BIN=$(BIN) bash scripts/cluster.sh

## Side-by-side benchmarks on loopback (livetape vs Node ws); writes docs/benchmarks.md.
bench: setup
	bash scripts/bench.sh

clean:
	cargo clean
