//! The engine's [`Host`] on proxy-wasm: a zero-sized type whose methods are
//! the host calls.
//!
//! The SDK's `Context` helpers unwrap host errors (a panic kills the VM), so
//! everything here goes through `proxy_wasm::hostcalls` or the raw ABI and
//! turns errors into `None`, an empty value or a [`HostError`].

use std::time::{Duration, SystemTime};

use log::warn;
use observatory_engine::header_map;
use observatory_engine::host::{Body, Headers, Host, HostError};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType, MetricType, Status};

/// Envoy, as the engine sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct WasmHost;

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

fn error(status: Status) -> HostError {
    HostError(match status {
        Status::Ok => "Ok",
        Status::NotFound => "NotFound",
        Status::BadArgument => "BadArgument",
        Status::SerializationFailure => "SerializationFailure",
        Status::ParseFailure => "ParseFailure",
        Status::Empty => "Empty",
        Status::CasMismatch => "CasMismatch",
        Status::InternalFailure => "InternalFailure",
        _ => "an unknown status",
    })
}

fn map_type(map: Headers) -> MapType {
    match map {
        Headers::Request => MapType::HttpRequestHeaders,
        Headers::Response => MapType::HttpResponseHeaders,
    }
}

fn buffer_type(body: Body) -> BufferType {
    match body {
        Body::Request => BufferType::HttpRequestBody,
        Body::Response => BufferType::HttpResponseBody,
    }
}

fn buffer(which: BufferType, start: usize, size: usize) -> Vec<u8> {
    hostcalls::get_buffer(which, start, size)
        .ok()
        .flatten()
        .unwrap_or_default()
}

impl Host for WasmHost {
    fn now(&self) -> SystemTime {
        hostcalls::get_current_time().unwrap_or(SystemTime::UNIX_EPOCH)
    }

    fn property(&self, path: &[u8]) -> Option<Vec<u8>> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: the host reads `path` during the call and only writes the
        // two out-parameters.
        let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
        if status != Status::Ok || data.is_null() {
            return None;
        }
        // SAFETY: as in `for_each_header`: `size` bytes allocated through
        // this module's allocator, now owned by us.
        Some(unsafe { Vec::from_raw_parts(data, size, size) })
    }

    /// One host call, no copies.
    fn for_each_header(&self, map: Headers, visit: impl FnMut(&[u8], &[u8])) {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: the host only writes the two out-parameters.
        let status = unsafe { proxy_get_header_map_pairs(map_type(map), &mut data, &mut size) };
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

    fn set_header(&self, map: Headers, name: &str, value: Option<&str>) {
        let _ = hostcalls::set_map_value(map_type(map), name, value);
    }

    fn send_local_response(
        &self,
        status: u32,
        details: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError> {
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
            other => Err(error(other)),
        }
    }

    fn body(&self, which: Body, start: usize, size: usize) -> Vec<u8> {
        buffer(buffer_type(which), start, size)
    }

    fn replace_body(&self, which: Body, size: usize, data: &[u8]) -> bool {
        hostcalls::set_buffer(buffer_type(which), 0, size, data).is_ok()
    }

    fn plugin_configuration(&self) -> Vec<u8> {
        buffer(BufferType::PluginConfiguration, 0, usize::MAX)
    }

    fn env_var(&self, name: &str) -> Option<String> {
        // WASI `environ_get`: Envoy answers with the VM's environment.
        std::env::var(name).ok()
    }

    fn set_tick_period(&self, period: Duration) -> Result<(), HostError> {
        hostcalls::set_tick_period(period).map_err(error)
    }

    fn open_grpc_stream(
        &self,
        service: &str,
        service_name: &str,
        method: &str,
        initial_metadata: &[(&str, &[u8])],
    ) -> Result<u32, HostError> {
        hostcalls::open_grpc_stream(service, service_name, method, initial_metadata.to_vec())
            .map_err(error)
    }

    fn send_grpc_message(&self, token: u32, message: &[u8]) -> Result<(), HostError> {
        // Not the SDK's `Context::send_grpc_stream_message`: it panics on error.
        hostcalls::send_grpc_stream_message(token, Some(message), false).map_err(error)
    }

    fn cancel_grpc_stream(&self, token: u32) {
        let _ = hostcalls::cancel_grpc_stream(token);
    }

    fn grpc_message(&self, size: usize) -> Vec<u8> {
        buffer(BufferType::GrpcReceiveBuffer, 0, size)
    }

    fn grpc_status_message(&self) -> String {
        hostcalls::get_grpc_status()
            .ok()
            .and_then(|(_, m)| m)
            .unwrap_or_default()
    }

    fn define_counter(&self, name: &str) -> Result<u32, HostError> {
        hostcalls::define_metric(MetricType::Counter, name).map_err(error)
    }

    fn increment_counter(&self, id: u32, by: u64) {
        let _ = hostcalls::increment_metric(id, i64::try_from(by).unwrap_or(i64::MAX));
    }
}
