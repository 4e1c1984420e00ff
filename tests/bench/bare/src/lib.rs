//! A no-op proxy-wasm module written against the ABI directly, for the load
//! benchmark (`tests/bench/load.sh` with `WASM=` this module, setup s).
//!
//! The Rust SDK exports every HTTP callback, so Envoy enters the VM for
//! each of them (response body, done, log, delete) whether a filter uses
//! it or not, and dispatches each through the SDK's context map. Built
//! plain, this module exports only what Envoy needs to run an HTTP filter
//! (VM start, configure, context create, request and response headers);
//! with `--features all-callbacks` it also exports the others, empty. Set
//! against each other and against the SDK's `noop` floor
//! (`tests/bench/floor`), they price a callback entry and the SDK's
//! dispatch.
//!
//! With `--features filter-callbacks` it exports what the filter exports
//! (all of them but delete); with `--features calls` it also makes the
//! filter's host calls on a GET, with the filter's own `host.rs`: the clock
//! at request headers and at log, both header maps, `connection.id`, and
//! the correlation header set on the response. That is the floor of any
//! module recording what the filter records, on the filter's own dispatch.

#[cfg(feature = "calls")]
#[path = "../../../../filter/wasm/src/abi.rs"]
#[allow(dead_code, reason = "the floor makes only some of the filter's calls")]
mod abi;
#[cfg(feature = "calls")]
#[path = "../../../../filter/wasm/src/host.rs"]
mod host;

/// The ABI version and the allocator, the filter's own: buffers Envoy hands
/// over are allocated as the filter allocates them (only `calls` reads and
/// frees them).
#[path = "../../../../filter/wasm/src/memory.rs"]
mod memory;

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_root: u32, _size: usize) -> bool {
    true
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(_root: u32, _size: usize) -> bool {
    true
}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(_context: u32, _parent: u32) {}

/// `Action::Continue` is 0.
#[no_mangle]
pub extern "C" fn proxy_on_request_headers(_context: u32, _headers: usize, _eos: u32) -> u32 {
    #[cfg(feature = "calls")]
    calls::request_headers();
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(_context: u32, _headers: usize, _eos: u32) -> u32 {
    #[cfg(feature = "calls")]
    calls::response_headers();
    0
}

#[cfg(feature = "calls")]
mod calls {
    use observatory_engine::host::{Headers, Host};

    use crate::host::WasmHost;

    pub fn request_headers() {
        let _ = WasmHost.now();
        WasmHost.for_each_header(Headers::Request, |_, _| {});
        let _ = WasmHost.property(b"connection\0id");
    }

    pub fn response_headers() {
        WasmHost.for_each_header(Headers::Response, |_, _| {});
        WasmHost.set_header(
            Headers::Response,
            "x-correlation-id",
            Some("3f0e8a52-6c1d-4b7e-9a40-000000000001"),
        );
    }

    pub fn log() {
        let _ = WasmHost.now();
    }
}

#[cfg(any(feature = "all-callbacks", feature = "filter-callbacks"))]
mod more_callbacks {
    #[no_mangle]
    pub extern "C" fn proxy_on_request_body(_context: u32, _size: usize, _eos: u32) -> u32 {
        0
    }

    #[no_mangle]
    pub extern "C" fn proxy_on_response_body(_context: u32, _size: usize, _eos: u32) -> u32 {
        0
    }

    #[no_mangle]
    pub extern "C" fn proxy_on_request_trailers(_context: u32, _trailers: usize) -> u32 {
        0
    }

    #[no_mangle]
    pub extern "C" fn proxy_on_response_trailers(_context: u32, _trailers: usize) -> u32 {
        0
    }

    #[no_mangle]
    pub extern "C" fn proxy_on_done(_context: u32) -> bool {
        true
    }

    #[no_mangle]
    pub extern "C" fn proxy_on_log(_context: u32) {
        #[cfg(feature = "calls")]
        crate::calls::log();
    }

    /// The filter does not export delete.
    #[cfg(feature = "all-callbacks")]
    #[no_mangle]
    pub extern "C" fn proxy_on_delete(_context: u32) {}
}
