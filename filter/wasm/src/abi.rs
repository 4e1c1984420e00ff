//! The proxy-wasm 0.2.1 host functions this module imports, as Envoy
//! implements them (`proxy-wasm-cpp-host`'s `exports.cc`).
//!
//! Raw declarations only: [`crate::host`] wraps them for the engine. A
//! status is a plain `u32`, not an enum, since the host may answer a value
//! no enum here lists.

/// A host call's answer; [`OK`] or why not.
pub type Status = u32;

pub const OK: Status = 0;

/// Names for the statuses Envoy answers, for error messages.
pub fn status_name(status: Status) -> &'static str {
    match status {
        0 => "Ok",
        1 => "NotFound",
        2 => "BadArgument",
        3 => "SerializationFailure",
        4 => "ParseFailure",
        5 => "BadExpression",
        6 => "InvalidMemoryAccess",
        7 => "Empty",
        8 => "CasMismatch",
        9 => "ResultMismatch",
        10 => "InternalFailure",
        11 => "BrokenConnection",
        12 => "Unimplemented",
        _ => "an unknown status",
    }
}

/// Header maps (`proxy_get_header_map_pairs` and its kin).
pub mod map {
    pub const REQUEST_HEADERS: u32 = 0;
    pub const RESPONSE_HEADERS: u32 = 2;
}

/// Buffers (`proxy_get_buffer_bytes`, `proxy_set_buffer_bytes`).
pub mod buffer {
    pub const REQUEST_BODY: u32 = 0;
    pub const RESPONSE_BODY: u32 = 1;
    pub const GRPC_RECEIVE: u32 = 5;
    pub const PLUGIN_CONFIGURATION: u32 = 7;
}

/// `proxy_log` levels.
pub mod level {
    pub const TRACE: u32 = 0;
    pub const DEBUG: u32 = 1;
    pub const INFO: u32 = 2;
    pub const WARN: u32 = 3;
    pub const ERROR: u32 = 4;
    pub const CRITICAL: u32 = 5;
}

/// `proxy_define_metric`'s counter type.
pub const METRIC_COUNTER: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    pub fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> Status;

    pub fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> Status;

    pub fn proxy_set_tick_period_milliseconds(period: u32) -> Status;

    pub fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> Status;

    pub fn proxy_set_buffer_bytes(
        buffer_type: u32,
        start: usize,
        size: usize,
        data: *const u8,
        data_size: usize,
    ) -> Status;

    /// The whole map in one buffer (`header_map::for_each` reads it).
    pub fn proxy_get_header_map_pairs(
        map_type: u32,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> Status;

    pub fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> Status;

    pub fn proxy_remove_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
    ) -> Status;

    /// A path's segments are separated by NUL bytes (`b"connection\0id"`).
    pub fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_data: *mut *mut u8,
        return_size: *mut usize,
    ) -> Status;

    #[allow(clippy::too_many_arguments, reason = "the ABI's signature")]
    pub fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> Status;

    /// The stream belongs to the calling context's root: its callbacks
    /// (`proxy_on_grpc_receive`, `proxy_on_grpc_close`) name the root.
    #[allow(clippy::too_many_arguments, reason = "the ABI's signature")]
    pub fn proxy_grpc_stream(
        service_data: *const u8,
        service_size: usize,
        service_name_data: *const u8,
        service_name_size: usize,
        method_name_data: *const u8,
        method_name_size: usize,
        initial_metadata_data: *const u8,
        initial_metadata_size: usize,
        return_token: *mut u32,
    ) -> Status;

    pub fn proxy_grpc_send(
        token: u32,
        message_data: *const u8,
        message_size: usize,
        end_stream: u32,
    ) -> Status;

    pub fn proxy_grpc_cancel(token: u32) -> Status;

    /// The last gRPC close's status and message.
    pub fn proxy_get_status(
        return_code: *mut u32,
        return_message_data: *mut *mut u8,
        return_message_size: *mut usize,
    ) -> Status;

    pub fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> Status;

    pub fn proxy_increment_metric(metric_id: u32, offset: i64) -> Status;
}
