//! Fallible access to what Envoy knows, and the filter's counters.
//!
//! The SDK's `Context` helpers unwrap host errors (a panic kills the VM), so
//! everything here goes through `proxy_wasm::hostcalls` and turns errors into
//! `None` or a no-op.

use std::time::SystemTime;

use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, MetricType};

pub fn now() -> SystemTime {
    hostcalls::get_current_time().unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Milliseconds on the host clock, for batch ages and backoff.
pub fn now_ms() -> u64 {
    now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub fn request_header(name: &str) -> Option<String> {
    hostcalls::get_map_value(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
}

pub fn response_header(name: &str) -> Option<String> {
    hostcalls::get_map_value(MapType::HttpResponseHeaders, name)
        .ok()
        .flatten()
}

pub fn set_request_header(name: &str, value: &str) {
    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
}

pub fn set_response_header(name: &str, value: &str) {
    let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(value));
}

pub fn property_string(path: &[&str]) -> Option<String> {
    let bytes = hostcalls::get_property(path.to_vec()).ok().flatten()?;
    String::from_utf8(bytes).ok().filter(|s| !s.is_empty())
}

/// A field of the Envoy node (`xds.node.*` in Envoy 1.40; older builds
/// expose it as `node.*`).
pub fn node_property(field: &[&str]) -> Option<String> {
    ["xds.node", "node"].iter().find_map(|prefix| {
        let mut path: Vec<&str> = prefix.split('.').collect();
        path.extend_from_slice(field);
        property_string(&path)
    })
}

/// Envoy serialises boolean properties as one byte.
pub fn property_bool(path: &[&str]) -> bool {
    matches!(
        hostcalls::get_property(path.to_vec())
            .ok()
            .flatten()
            .as_deref(),
        Some([1, ..])
    )
}

/// Envoy serialises integer properties as 8 little-endian bytes.
pub fn property_u64(path: &[&str]) -> u64 {
    hostcalls::get_property(path.to_vec())
        .ok()
        .flatten()
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, |b| u64::try_from(i64::from_le_bytes(b)).unwrap_or(0))
}

/// The filter's Envoy counters (`wasmcustom.observatory_*`).
#[derive(Debug, Clone, Copy)]
pub struct Metrics {
    pub requests: u32,
    pub allowed: u32,
    pub denied: u32,
    pub shadow_denied: u32,
    pub audit_unavailable: u32,
    pub records_exported: u32,
    pub records_dropped: u32,
    pub stream_reconnects: u32,
}

impl Metrics {
    pub fn define() -> Result<Self, String> {
        let counter = |name: &str| {
            hostcalls::define_metric(MetricType::Counter, name)
                .map_err(|e| format!("define_metric {name}: {e:?}"))
        };
        Ok(Metrics {
            requests: counter("observatory_requests_total")?,
            allowed: counter("observatory_allowed")?,
            denied: counter("observatory_denied")?,
            shadow_denied: counter("observatory_shadow_denied")?,
            audit_unavailable: counter("observatory_audit_unavailable")?,
            records_exported: counter("observatory_records_exported")?,
            records_dropped: counter("observatory_records_dropped")?,
            stream_reconnects: counter("observatory_stream_reconnects")?,
        })
    }

    pub fn add(id: u32, n: u64) {
        if n > 0 {
            let _ = hostcalls::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
        }
    }
}
