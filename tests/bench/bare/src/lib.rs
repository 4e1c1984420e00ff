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

/// The ABI version Envoy checks for.
#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// Buffers Envoy hands over (configuration, header maps) are allocated
/// here; never freed, as nothing here reads them.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let mut buffer = std::mem::ManuallyDrop::new(Vec::<u8>::with_capacity(size));
    buffer.as_mut_ptr()
}

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
    0
}

#[no_mangle]
pub extern "C" fn proxy_on_response_headers(_context: u32, _headers: usize, _eos: u32) -> u32 {
    0
}

#[cfg(feature = "all-callbacks")]
mod all_callbacks {
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
    pub extern "C" fn proxy_on_log(_context: u32) {}

    #[no_mangle]
    pub extern "C" fn proxy_on_delete(_context: u32) {}
}
