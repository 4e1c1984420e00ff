//! Floors for the load benchmark (`tests/bench/load.sh` with
//! `WASM=target/wasm32-wasip1/release/observatory_bench_floor.wasm`).
//! The plugin configuration picks what each request costs:
//!
//! - `noop`: nothing. Envoy still enters the VM for every callback the SDK
//!   exports (context create, request and response headers, response body,
//!   log, done, delete): the floor of any Rust proxy-wasm filter here.
//! - `calls`: the host calls the Observatory filter makes on a plain GET in
//!   the benchmark's setup c, and nothing else: the clock twice, both header
//!   maps, `connection.id`, and the correlation header set on the response.
//!
//! The difference between `calls` and the filter is the filter's own work
//! (decision, record, batch, stream); between `noop` and `calls`, what
//! these host calls cost Envoy.

use observatory_engine::host::{Headers, Host};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

/// The filter's own host (`filter/wasm/src/host.rs`), so that the floor
/// makes its calls with exactly the filter's code.
#[path = "../../../../filter/wasm/src/host.rs"]
mod host;

use host::WasmHost;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| Box::new(Root { calls: false }));
}}

struct Root {
    calls: bool,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        match WasmHost.plugin_configuration().as_slice() {
            b"noop" | b"\"noop\"" => self.calls = false,
            b"calls" | b"\"calls\"" => self.calls = true,
            other => {
                let _ = hostcalls::log(
                    LogLevel::Error,
                    &format!(
                        "floor: configuration {:?}: want noop or calls",
                        String::from_utf8_lossy(other)
                    ),
                );
                return false;
            }
        }
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Http { calls: self.calls }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Http {
    calls: bool,
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if self.calls {
            let _ = WasmHost.now();
            WasmHost.for_each_header(Headers::Request, |_, _| {});
            let _ = WasmHost.property(b"connection\0id");
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if self.calls {
            WasmHost.for_each_header(Headers::Response, |_, _| {});
            WasmHost.set_header(
                Headers::Response,
                "x-correlation-id",
                Some("3f0e8a52-6c1d-4b7e-9a40-000000000001"),
            );
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        if self.calls {
            let _ = WasmHost.now();
        }
    }
}
