//! Envoy glue for the Observatory filter: the proxy-wasm callbacks, each
//! forwarded to `observatory-engine` with [`host::WasmHost`], the engine's
//! host on proxy-wasm calls. Every decision lives in the engine.

mod host;
mod http;
mod root;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    // A panic aborts the VM and with it this worker's traffic; at least say why.
    std::panic::set_hook(Box::new(|info| {
        let _ = proxy_wasm::hostcalls::log(LogLevel::Critical, &format!("observatory: panic: {info}"));
    }));
    proxy_wasm::set_root_context(|context_id| Box::new(root::Root::new(context_id)));
}}
