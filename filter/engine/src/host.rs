//! What the filter asks of Envoy: properties, header maps, bodies, local
//! replies, the gRPC stream to the collector, counters, the clock.
//!
//! The callbacks' decisions live in this crate and reach Envoy only through
//! [`Host`]. `observatory-filter` implements it with proxy-wasm calls on a
//! zero-sized type; unit tests use a mock that records every call, so they
//! can assert what the filter did and in which order. Engine code takes
//! `&H` with `H: Host` (monomorphized, no `dyn`), so the real host costs
//! exactly its calls.

use std::time::{Duration, SystemTime};

use thiserror::Error;

#[cfg(test)]
pub mod mock;

/// A header map of the current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Headers {
    Request,
    Response,
}

/// A body buffer of the current request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Request,
    Response,
}

/// A host call that did not succeed, by the status the host answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("host answered {0}")]
pub struct HostError(pub &'static str);

/// The calls the filter makes into Envoy. None may panic: a failure is an
/// error, `None` or an empty value.
pub trait Host {
    /// The host's wall clock.
    fn now(&self) -> SystemTime;

    /// The value of a property; `path` is its segments joined by NUL bytes
    /// (`b"connection\0id"`), the form the host reads.
    fn property(&self, path: &[u8]) -> Option<Vec<u8>>;

    /// Calls `visit` with each header of `map`; nothing when it is unavailable.
    fn for_each_header(&self, map: Headers, visit: impl FnMut(&[u8], &[u8]));

    /// Sets (`Some`) or removes (`None`) a header.
    fn set_header(&self, map: Headers, name: &str, value: Option<&str>);

    /// Answers the request locally. `details` (no spaces) is what Envoy's
    /// access log shows as `%RESPONSE_CODE_DETAILS%`.
    fn send_local_response(
        &self,
        status: u32,
        details: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(), HostError>;

    /// `size` bytes from `start` of the body Envoy holds for this callback.
    fn body(&self, which: Body, start: usize, size: usize) -> Vec<u8>;

    /// Replaces the first `size` bytes of the buffered body with `data`.
    fn replace_body(&self, which: Body, size: usize, data: &[u8]) -> bool;

    /// The plugin configuration (empty when there is none).
    fn plugin_configuration(&self) -> Vec<u8>;

    /// A variable of the VM's environment: what the plugin's
    /// `vm_config.environment_variables` hand it (Istio: `vmConfig.env`),
    /// not the whole process environment.
    fn env_var(&self, name: &str) -> Option<String>;

    fn set_tick_period(&self, period: Duration) -> Result<(), HostError>;

    /// Opens a gRPC stream; `service` is a cluster name or a serialized
    /// `envoy.config.core.v3.GrpcService`. Returns the stream's token.
    fn open_grpc_stream(
        &self,
        service: &str,
        service_name: &str,
        method: &str,
        initial_metadata: &[(&str, &[u8])],
    ) -> Result<u32, HostError>;

    /// Sends one message (the raw protobuf; Envoy adds the gRPC framing).
    fn send_grpc_message(&self, token: u32, message: &[u8]) -> Result<(), HostError>;

    fn cancel_grpc_stream(&self, token: u32);

    /// The message a gRPC stream callback announced, `size` bytes.
    fn grpc_message(&self, size: usize) -> Vec<u8>;

    /// The status message of the gRPC stream that just closed.
    fn grpc_status_message(&self) -> String;

    /// Defines a counter; returns its id.
    fn define_counter(&self, name: &str) -> Result<u32, HostError>;

    fn increment_counter(&self, id: u32, by: u64);

    /// A property as text; `None` when absent, empty or not UTF-8.
    fn property_string(&self, path: &[u8]) -> Option<String> {
        String::from_utf8(self.property(path)?)
            .ok()
            .filter(|s| !s.is_empty())
    }

    /// Envoy serialises boolean properties as one byte.
    fn property_bool(&self, path: &[u8]) -> bool {
        matches!(self.property(path).as_deref(), Some([1, ..]))
    }

    /// Envoy serialises integer properties as 8 little-endian bytes.
    fn property_i64(&self, path: &[u8]) -> Option<i64> {
        let bytes = self.property(path)?;
        <[u8; 8]>::try_from(bytes.as_slice())
            .ok()
            .map(i64::from_le_bytes)
    }

    /// A non-negative integer property; 0 when absent.
    fn property_u64(&self, path: &[u8]) -> u64 {
        self.property_i64(path)
            .map_or(0, |n| u64::try_from(n).unwrap_or(0))
    }

    /// A field of the Envoy node (`xds.node.*` in Envoy 1.40; older builds
    /// expose it as `node.*`).
    fn node_property(&self, field: &[&str]) -> Option<String> {
        [&["xds", "node"][..], &["node"]].iter().find_map(|prefix| {
            let path: Vec<&str> = prefix.iter().chain(field).copied().collect();
            self.property_string(path.join("\0").as_bytes())
        })
    }

    /// Milliseconds on the host clock, for batch ages and backoff.
    fn now_ms(&self) -> u64 {
        millis(self.now())
    }
}

pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, observatory_proto::time::millis)
}
