//! Envoy glue for the Observatory filter: the proxy-wasm callbacks, each
//! forwarded to `observatory-engine` with [`host::WasmHost`], the engine's
//! host on proxy-wasm calls. Every decision lives in the engine.
//!
//! The module speaks the proxy-wasm ABI itself rather than through the
//! Rust SDK: it exports only the callbacks it uses and finds a request's
//! context with one lookup, which saves Envoy work on every request
//! (README, "Where the filter's time goes").

mod abi;
mod callbacks;
mod contexts;
mod host;
mod logger;
mod memory;

#[cfg(target_os = "wasi")]
extern "C" {
    /// Static constructors, which a reactor module runs itself.
    fn __wasm_call_ctors();
}

/// Envoy calls this once, after instantiating the module.
#[no_mangle]
pub extern "C" fn _initialize() {
    #[cfg(target_os = "wasi")]
    // SAFETY: called once, before any other export.
    unsafe {
        __wasm_call_ctors();
    }
    logger::init(log::LevelFilter::Info);
}
