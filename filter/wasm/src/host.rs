//! The engine's [`Host`] on proxy-wasm: a zero-sized type whose methods are
//! the host calls of [`crate::abi`]. A failed call is `None`, an empty value
//! or a [`HostError`], never a panic.

use std::time::{Duration, SystemTime};

use log::warn;
use observatory_engine::header_map;
use observatory_engine::host::{Body, Headers, Host, HostError};

use crate::abi::{self, Status, OK};

/// Envoy, as the engine sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct WasmHost;

fn result(status: Status) -> Result<(), HostError> {
    match status {
        OK => Ok(()),
        other => Err(HostError(abi::status_name(other))),
    }
}

/// A buffer the host filled, as an owned `Vec`.
///
/// # Safety
/// `status`, `data` and `size` are a host call's answer: on [`OK`] a
/// non-null `data` is `size` bytes the host allocated through this module's
/// `proxy_on_memory_allocate` (the Rust global allocator) and handed to us.
unsafe fn take(status: Status, data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if status != OK || data.is_null() {
        return None;
    }
    // SAFETY: as the caller promises.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

fn map_type(map: Headers) -> u32 {
    match map {
        Headers::Request => abi::map::REQUEST_HEADERS,
        Headers::Response => abi::map::RESPONSE_HEADERS,
    }
}

fn buffer_type(body: Body) -> u32 {
    match body {
        Body::Request => abi::buffer::REQUEST_BODY,
        Body::Response => abi::buffer::RESPONSE_BODY,
    }
}

fn buffer(which: u32, start: usize, size: usize) -> Vec<u8> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut len: usize = 0;
    // SAFETY: the host only writes the two out-parameters.
    let status = unsafe { abi::proxy_get_buffer_bytes(which, start, size, &mut data, &mut len) };
    // SAFETY: a host call's answer.
    unsafe { take(status, data, len) }.unwrap_or_default()
}

impl Host for WasmHost {
    fn now(&self) -> SystemTime {
        let mut nanos: u64 = 0;
        // SAFETY: the host only writes the out-parameter.
        match unsafe { abi::proxy_get_current_time_nanoseconds(&mut nanos) } {
            OK => SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos),
            _ => SystemTime::UNIX_EPOCH,
        }
    }

    fn property(&self, path: &[u8]) -> Option<Vec<u8>> {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: the host reads `path` during the call and only writes the
        // two out-parameters.
        let status =
            unsafe { abi::proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
        // SAFETY: a host call's answer.
        unsafe { take(status, data, size) }
    }

    /// One host call, no copies.
    fn for_each_header(&self, map: Headers, visit: impl FnMut(&[u8], &[u8])) {
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: the host only writes the two out-parameters.
        let status =
            unsafe { abi::proxy_get_header_map_pairs(map_type(map), &mut data, &mut size) };
        // SAFETY: a host call's answer.
        let Some(bytes) = (unsafe { take(status, data, size) }) else {
            return;
        };
        if let Err(e) = header_map::for_each(&bytes, visit) {
            warn!("{e}");
        }
    }

    fn set_header(&self, map: Headers, name: &str, value: Option<&str>) {
        // SAFETY: the host only reads the buffers during the call.
        let _ = unsafe {
            match value {
                Some(value) => abi::proxy_replace_header_map_value(
                    map_type(map),
                    name.as_ptr(),
                    name.len(),
                    value.as_ptr(),
                    value.len(),
                ),
                None => {
                    abi::proxy_remove_header_map_value(map_type(map), name.as_ptr(), name.len())
                }
            }
        };
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
        result(unsafe {
            abi::proxy_send_local_response(
                status,
                details.as_ptr(),
                details.len(),
                body.as_ptr(),
                body.len(),
                headers.as_ptr(),
                headers.len(),
                -1,
            )
        })
    }

    fn body(&self, which: Body, start: usize, size: usize) -> Vec<u8> {
        buffer(buffer_type(which), start, size)
    }

    fn replace_body(&self, which: Body, size: usize, data: &[u8]) -> bool {
        // SAFETY: the host only reads `data` during the call.
        let status = unsafe {
            abi::proxy_set_buffer_bytes(buffer_type(which), 0, size, data.as_ptr(), data.len())
        };
        status == OK
    }

    fn plugin_configuration(&self) -> Vec<u8> {
        buffer(abi::buffer::PLUGIN_CONFIGURATION, 0, usize::MAX)
    }

    fn env_var(&self, name: &str) -> Option<String> {
        // WASI `environ_get`: Envoy answers with the VM's environment.
        std::env::var(name).ok()
    }

    fn set_tick_period(&self, period: Duration) -> Result<(), HostError> {
        let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
        // SAFETY: no pointers.
        result(unsafe { abi::proxy_set_tick_period_milliseconds(millis) })
    }

    fn open_grpc_stream(
        &self,
        service: &str,
        service_name: &str,
        method: &str,
        initial_metadata: &[(&str, &[u8])],
    ) -> Result<u32, HostError> {
        let metadata = header_map::serialize(initial_metadata);
        let mut token: u32 = 0;
        // SAFETY: every pointer/length pair describes a live buffer the host
        // only reads during the call; it only writes `token`.
        result(unsafe {
            abi::proxy_grpc_stream(
                service.as_ptr(),
                service.len(),
                service_name.as_ptr(),
                service_name.len(),
                method.as_ptr(),
                method.len(),
                metadata.as_ptr(),
                metadata.len(),
                &mut token,
            )
        })?;
        Ok(token)
    }

    fn send_grpc_message(&self, token: u32, message: &[u8]) -> Result<(), HostError> {
        // SAFETY: the host only reads `message` during the call.
        result(unsafe { abi::proxy_grpc_send(token, message.as_ptr(), message.len(), 0) })
    }

    fn cancel_grpc_stream(&self, token: u32) {
        // SAFETY: no pointers.
        let _ = unsafe { abi::proxy_grpc_cancel(token) };
    }

    fn grpc_message(&self, size: usize) -> Vec<u8> {
        buffer(abi::buffer::GRPC_RECEIVE, 0, size)
    }

    fn grpc_status_message(&self) -> String {
        let mut code: u32 = 0;
        let mut data: *mut u8 = std::ptr::null_mut();
        let mut size: usize = 0;
        // SAFETY: the host only writes the three out-parameters.
        let status = unsafe { abi::proxy_get_status(&mut code, &mut data, &mut size) };
        // SAFETY: a host call's answer.
        unsafe { take(status, data, size) }
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    fn define_counter(&self, name: &str) -> Result<u32, HostError> {
        let mut id: u32 = 0;
        // SAFETY: the host reads `name` during the call and only writes `id`.
        result(unsafe {
            abi::proxy_define_metric(abi::METRIC_COUNTER, name.as_ptr(), name.len(), &mut id)
        })?;
        Ok(id)
    }

    fn increment_counter(&self, id: u32, by: u64) {
        // SAFETY: no pointers.
        let _ = unsafe { abi::proxy_increment_metric(id, i64::try_from(by).unwrap_or(i64::MAX)) };
    }
}
