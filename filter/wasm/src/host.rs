//! Fallible access to what Envoy knows, and the filter's counters.
//!
//! The SDK's `Context` helpers unwrap host errors (a panic kills the VM), so
//! everything here goes through `proxy_wasm::hostcalls` and turns errors into
//! `None` or a no-op.

use std::cell::Cell;
use std::time::SystemTime;

use log::warn;
use observatory_engine::header_map;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType, Status};

pub fn now() -> SystemTime {
    hostcalls::get_current_time().unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Milliseconds on the host clock, for batch ages and backoff.
pub fn now_ms() -> u64 {
    millis(now())
}

pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[link(wasm_import_module = "env")]
extern "C" {
    /// The ABI call behind the SDK's `get_map`, which would allocate two
    /// `String`s per header and panic on a non-UTF-8 value or a non-Ok status.
    fn proxy_get_header_map_pairs(
        map_type: MapType,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> Status;

    /// Behind the SDK's `get_property`, which copies and re-encodes the
    /// path on every call and panics on an unexpected status.
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> Status;

    /// Behind the SDK's `send_http_response`, which panics on a non-Ok status.
    #[allow(clippy::too_many_arguments, reason = "the ABI's signature")]
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> Status;
}

/// Answers the request locally. `details` (no spaces) is what Envoy's
/// access log shows as `%RESPONSE_CODE_DETAILS%`.
pub fn send_local_response(
    status: u32,
    details: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(), Status> {
    let headers = header_map::serialize(headers);
    // SAFETY: every pointer/length pair describes a live buffer the host
    // only reads during the call.
    let result = unsafe {
        proxy_send_local_response(
            status,
            details.as_ptr(),
            details.len(),
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    };
    match result {
        Status::Ok => Ok(()),
        other => Err(other),
    }
}

/// Calls `visit` with each header of `map` (one host call, no copies);
/// nothing when the map is unavailable or malformed.
pub fn for_each_header(map: MapType, visit: impl FnMut(&[u8], &[u8])) {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host only writes the two out-parameters.
    let status = unsafe { proxy_get_header_map_pairs(map, &mut data, &mut size) };
    if status != Status::Ok || data.is_null() {
        return;
    }
    // SAFETY: on Ok the host returns a buffer of `size` bytes that it
    // allocated through this module's `proxy_on_memory_allocate` (the Rust
    // global allocator), handing ownership to us; the SDK frees it the same way.
    let bytes = unsafe { Vec::from_raw_parts(data, size, size) };
    if let Err(e) = header_map::for_each(&bytes, visit) {
        warn!("{e}");
    }
}

pub fn set_request_header(name: &str, value: &str) {
    let _ = hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value));
}

pub fn set_response_header(name: &str, value: &str) {
    let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(value));
}

pub fn remove_response_header(name: &str) {
    let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, None);
}

/// `size` bytes from `start` of the body Envoy holds for this callback.
pub fn body(which: BufferType, start: usize, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(which, start, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Replaces the first `size` bytes of the buffered body with `data`.
pub fn replace_body(which: BufferType, size: usize, data: &[u8]) -> bool {
    hostcalls::set_buffer(which, 0, size, data).is_ok()
}

/// The value of a property; `path` is its segments joined by NUL bytes
/// (`b"connection\0id"`), the form the host reads, so a constant path
/// costs nothing to build.
fn property(path: &[u8]) -> Option<Vec<u8>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host reads `path` during the call and only writes the
    // two out-parameters.
    let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    if status != Status::Ok || data.is_null() {
        return None;
    }
    // SAFETY: as in `for_each_header`: `size` bytes allocated through this
    // module's allocator, now owned by us.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

pub fn property_string(path: &[u8]) -> Option<String> {
    String::from_utf8(property(path)?)
        .ok()
        .filter(|s| !s.is_empty())
}

/// A field of the Envoy node (`xds.node.*` in Envoy 1.40; older builds
/// expose it as `node.*`).
pub fn node_property(field: &[&str]) -> Option<String> {
    [&["xds", "node"][..], &["node"]].iter().find_map(|prefix| {
        let path: Vec<&str> = prefix.iter().chain(field).copied().collect();
        property_string(path.join("\0").as_bytes())
    })
}

/// Envoy serialises boolean properties as one byte.
pub fn property_bool(path: &[u8]) -> bool {
    matches!(property(path).as_deref(), Some([1, ..]))
}

/// Envoy serialises integer properties as 8 little-endian bytes.
pub fn property_u64(path: &[u8]) -> u64 {
    property(path)
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, |b| u64::try_from(i64::from_le_bytes(b)).unwrap_or(0))
}

/// The filter's Envoy counters (`wasmcustom.observatory_*`).
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    Requests,
    Allowed,
    Denied,
    ShadowDenied,
    AuditUnavailable,
    RecordsExported,
    RecordsDropped,
    StreamReconnects,
    DlpRewritten,
    DlpSkipped,
    PiiDenied,
}

const COUNTERS: [&str; 11] = [
    "observatory_requests_total",
    "observatory_allowed",
    "observatory_denied",
    "observatory_shadow_denied",
    "observatory_audit_unavailable",
    "observatory_records_exported",
    "observatory_records_dropped",
    "observatory_stream_reconnects",
    "observatory_dlp_rewritten",
    "observatory_dlp_skipped",
    "observatory_pii_denied",
];

/// Counts are kept in the VM and handed to Envoy on each tick: one host
/// call per counter per tick instead of several per request.
#[derive(Debug)]
pub struct Metrics {
    ids: [u32; COUNTERS.len()],
    pending: [Cell<u64>; COUNTERS.len()],
}

impl Metrics {
    pub fn define() -> Result<Self, String> {
        let mut ids = [0; COUNTERS.len()];
        for (id, name) in ids.iter_mut().zip(COUNTERS) {
            *id = hostcalls::define_metric(MetricType::Counter, name)
                .map_err(|e| format!("define_metric {name}: {e:?}"))?;
        }
        Ok(Metrics {
            ids,
            pending: Default::default(),
        })
    }

    pub fn add(&self, counter: Counter, n: u64) {
        if let Some(c) = self.pending.get(counter as usize) {
            c.set(c.get() + n);
        }
    }

    /// Publishes the pending counts to Envoy.
    pub fn flush(&self) {
        for (id, pending) in self.ids.iter().zip(&self.pending) {
            let n = pending.replace(0);
            if n > 0 {
                let _ = hostcalls::increment_metric(*id, i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }
}
