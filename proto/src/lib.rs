//! Protobuf types of the Observatory audit stream (`observatory.audit.v1`).
//!
//! The message types build everywhere, including `wasm32-wasip1`; the tonic
//! server is generated only with the `grpc` feature.

/// `observatory.audit.v1`: records, batches, acks and the `AuditService`.
pub mod audit {
    #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
    include!(concat!(env!("OUT_DIR"), "/observatory.audit.v1.rs"));
}
