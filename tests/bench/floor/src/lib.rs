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
//! - `calls:NAME,...`: only the named ones of them (`clock`,
//!   `request-headers`, `property`, `response-headers`, `set-header`), to
//!   tell what each costs.
//!
//! The difference between `calls` and the filter is the filter's own work
//! (decision, record, batch, stream); between `noop` and `calls`, what
//! these host calls cost Envoy.

use observatory_engine::host::{Headers, Host};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

/// The filter's own host (`filter/wasm/src/host.rs`) and the ABI it calls,
/// so that the floor makes its calls with exactly the filter's code.
#[path = "../../../../filter/wasm/src/abi.rs"]
#[allow(dead_code, reason = "the floor makes only some of the filter's calls")]
mod abi;
#[path = "../../../../filter/wasm/src/host.rs"]
mod host;

use host::WasmHost;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| Box::new(Root { calls: Calls::NONE }));
}}

/// Which of the filter's host calls each request makes.
#[derive(Clone, Copy)]
struct Calls {
    clock: bool,
    request_headers: bool,
    property: bool,
    response_headers: bool,
    set_header: bool,
}

impl Calls {
    const NONE: Calls = Calls {
        clock: false,
        request_headers: false,
        property: false,
        response_headers: false,
        set_header: false,
    };
    const ALL: Calls = Calls {
        clock: true,
        request_headers: true,
        property: true,
        response_headers: true,
        set_header: true,
    };

    /// `noop`, `calls` or `calls:NAME,...` (JSON-quoted or not).
    fn parse(config: &str) -> Option<Calls> {
        let config = config.trim_matches('"');
        match config {
            "noop" => return Some(Calls::NONE),
            "calls" => return Some(Calls::ALL),
            _ => {}
        }
        let mut calls = Calls::NONE;
        for name in config.strip_prefix("calls:")?.split(',') {
            let flag = match name {
                "clock" => &mut calls.clock,
                "request-headers" => &mut calls.request_headers,
                "property" => &mut calls.property,
                "response-headers" => &mut calls.response_headers,
                "set-header" => &mut calls.set_header,
                _ => return None,
            };
            *flag = true;
        }
        Some(calls)
    }
}

struct Root {
    calls: Calls,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = WasmHost.plugin_configuration();
        let config = String::from_utf8_lossy(&config);
        match Calls::parse(&config) {
            Some(calls) => self.calls = calls,
            None => {
                let _ = hostcalls::log(
                    LogLevel::Error,
                    &format!(
                        "floor: configuration {config:?}: want noop, calls or calls:NAME,... \
                         (clock, request-headers, property, response-headers, set-header)"
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
    calls: Calls,
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if self.calls.clock {
            let _ = WasmHost.now();
        }
        if self.calls.request_headers {
            WasmHost.for_each_header(Headers::Request, |_, _| {});
        }
        if self.calls.property {
            let _ = WasmHost.property(b"connection\0id");
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _headers: usize, _end_of_stream: bool) -> Action {
        if self.calls.response_headers {
            WasmHost.for_each_header(Headers::Response, |_, _| {});
        }
        if self.calls.set_header {
            WasmHost.set_header(
                Headers::Response,
                "x-correlation-id",
                Some("3f0e8a52-6c1d-4b7e-9a40-000000000001"),
            );
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        if self.calls.clock {
            let _ = WasmHost.now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Calls;

    #[test]
    fn configuration_names_the_calls() {
        let pick = |c: &str| {
            Calls::parse(c).map(|c| {
                [
                    c.clock,
                    c.request_headers,
                    c.property,
                    c.response_headers,
                    c.set_header,
                ]
            })
        };
        assert_eq!(pick("noop"), Some([false; 5]));
        assert_eq!(pick("\"calls\""), Some([true; 5]));
        assert_eq!(
            pick("calls:clock,property"),
            Some([true, false, true, false, false])
        );
        assert_eq!(
            pick("calls:set-header"),
            Some([false, false, false, false, true])
        );
        assert_eq!(pick("calls:clock,bogus"), None);
        assert_eq!(pick("calls:"), None);
        assert_eq!(pick("all"), None);
    }
}
