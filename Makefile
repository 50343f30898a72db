# livetape: `make run` to watch the dashboard, `make test` to run every test.
# Both install what is missing first (scripts/setup.sh; idempotent).

ADDR ?= 127.0.0.1:3000
# cargo-leptos (built with no_downloads) takes wasm-opt from PATH: use npm's binaryen 132.
export PATH := $(CURDIR)/scripts/wasm-opt/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BIN := $(TARGET_DIR)/release/livetape
# Port for the end-to-end run, away from a dashboard you may have open on :3000.
E2E_PORT ?= 3107

.PHONY: setup setup-test build run dev test lint unit e2e soak soak-run soak-leak-check fuzz autobahn bench cluster clean

## What running the dashboard needs (the toolchain, cargo-leptos, wasm-bindgen, wasm-opt).
setup:
	@bash scripts/setup.sh

## That, and what the tests run for real (nextest, Chromium, Redis, HAProxy, nginx, ...).
setup-test:
	@bash scripts/setup.sh test

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

## Every test: format and lint, unit and integration, Playwright in Chromium, Autobahn
## conformance of the WebSocket code, a 60 s soak of $(SOAK_TEST_CLIENTS) clients (half of
## `make soak`'s: ten thousand clients and the server on two cores leave no headroom, and a
## gate should test the server, not how busy the machine is; docs/soak.md).
SOAK_TEST_CLIENTS ?= 5000
test: setup-test lint unit build e2e
	bash scripts/autobahn.sh
	@$(MAKE) --no-print-directory soak-run SOAK_SECS=60 SOAK_CLIENTS=$(SOAK_TEST_CLIENTS)

lint:
	@echo "==> cargo fmt --check, clippy (server and browser builds), no import cycle in src/"
	cargo fmt --all -- --check
	python3 scripts/module_graph.py
	cargo clippy --features ssr --all-targets -- -D warnings
	cargo clippy --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings

unit:
	@echo "==> Unit, integration and property tests"
	@if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --features ssr; \
	else \
	  cargo test --features ssr; \
	fi
	@echo "==> Doc examples (the README's From Rust program among them) and the client's docs"
	cargo test --doc --features ssr
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --lib --features client

e2e:
	@echo "==> End-to-end tests in Chromium (Playwright) against $(BIN) on port $(E2E_PORT)"
	cd end2end && CI=1 E2E_PORT=$(E2E_PORT) LIVETAPE_BIN=$(abspath $(BIN)) npx playwright test

## The soak: $(SOAK_CLIENTS) clients on one server for $(SOAK_SECS) s, a tenth of them
## reconnecting at random, one in a hundred reading slowly; RSS, fds, gaps, duplicates and
## mismatches checked; the table and a plot go to $(TARGET_DIR)/soak/.
SOAK_SECS ?= 600
SOAK_CLIENTS ?= 10000
soak: build
	@$(MAKE) --no-print-directory soak-run

soak-run:
	@echo "==> Soak: $(SOAK_CLIENTS) clients for $(SOAK_SECS) s (table and plot in $(TARGET_DIR)/soak)"
	cargo build --release --features ssr --example soak
	$(TARGET_DIR)/release/examples/soak --server-bin $(BIN) --clients $(SOAK_CLIENTS) \
	  --secs $(SOAK_SECS) --out $(TARGET_DIR)/soak

## The soak's memory verdict must catch a real leak: a server built to leak 4 KiB per closed
## connection (feature soak-leak) gets the soak of `make test` and must fail on its memory
## (a first build about 20 minutes, then 2).
soak-leak-check:
	cargo build --release --features ssr,soak-leak --bin livetape --target-dir $(TARGET_DIR)/soak-leak
	cargo build --release --features ssr --example soak
	@mkdir -p $(TARGET_DIR)/soak-leak/soak
	@if $(TARGET_DIR)/release/examples/soak --server-bin $(TARGET_DIR)/soak-leak/release/livetape \
	  --clients $(SOAK_TEST_CLIENTS) --secs 60 --out $(TARGET_DIR)/soak-leak/soak \
	  2>$(TARGET_DIR)/soak-leak/soak/stderr.txt; then \
	  echo "soak-leak-check: the soak passed a leaking server"; exit 1; \
	elif grep -q 'the return kept' $(TARGET_DIR)/soak-leak/soak/stderr.txt; then \
	  grep '^soak failed' $(TARGET_DIR)/soak-leak/soak/stderr.txt; \
	  echo "soak-leak-check: the soak caught the leak"; \
	else cat $(TARGET_DIR)/soak-leak/soak/stderr.txt; \
	  echo "soak-leak-check: the soak failed, but not on the leak"; exit 1; fi

## Fuzz the decoders of everything that comes from the network or Redis, FUZZ_SECS each
## (nightly toolchain and cargo-fuzz are installed here, not by make test).
FUZZ_SECS ?= 300
fuzz:
	bash scripts/fuzz.sh $(FUZZ_SECS)

## Autobahn WebSocket conformance (PyPI kosoku) against the server's own RFC 6455 code.
autobahn:
	bash scripts/autobahn.sh

## A cluster on loopback: Redis, two producers, three edges, HAProxy on $(CLUSTER_PORT).
CLUSTER_PORT ?= 3000
cluster: setup-test build
	CLUSTER_PORT=$(CLUSTER_PORT) LIVETAPE_BIN=$(BIN) bash scripts/cluster.sh

## Side-by-side benchmarks on loopback (livetape vs Node ws); writes docs/benchmarks.md.
bench: setup-test
	bash scripts/bench.sh

clean:
	cargo clean
