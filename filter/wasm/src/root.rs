//! Root context (one per plugin configuration in each VM): forwards to the
//! engine's [`Plugin`].

use observatory_engine::plugin::Plugin;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;

use crate::host::WasmHost;
use crate::http::Http;

pub struct Root(Plugin);

impl Root {
    pub fn new(context_id: u32) -> Self {
        Root(Plugin::new(context_id))
    }
}

impl Context for Root {
    fn on_grpc_stream_message(&mut self, token: u32, message_size: usize) {
        self.0
            .on_grpc_stream_message(&WasmHost, token, message_size);
    }

    fn on_grpc_stream_close(&mut self, token: u32, status_code: u32) {
        self.0.on_grpc_stream_close(&WasmHost, token, status_code);
    }

    fn on_done(&mut self) -> bool {
        self.0.on_done(&WasmHost)
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.0.on_configure(&WasmHost)
    }

    fn on_tick(&mut self) {
        self.0.on_tick(&WasmHost);
    }

    /// Only as an HCM access logger (`envoy.access_loggers.wasm`).
    fn on_log(&mut self) {
        self.0.on_log(&WasmHost);
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Must never be None (the SDK panics); an unconfigured root yields a
        // pass-through context.
        Some(Box::new(Http(self.0.http_filter())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
