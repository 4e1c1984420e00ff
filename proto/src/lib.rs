//! Protobuf types of the Observatory audit stream (`observatory.audit.v1`).
//!
//! The message types build everywhere, including `wasm32-wasip1`; the tonic
//! server is generated only with the `grpc` feature; Loki's push messages
//! only with the `loki` feature (the collector's Loki sink); the record's
//! canonical JSON only with the `json` feature (the collector's), so the
//! filter gets no serde through this crate.

/// `observatory.audit.v1`: records, batches, acks and the `AuditService`.
pub mod audit {
    #![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]
    include!(concat!(env!("OUT_DIR"), "/observatory.audit.v1.rs"));
}

/// `logproto`: Grafana Loki's push request (`PushRequest`, `StreamAdapter`,
/// `EntryAdapter`, `LabelPairAdapter`), with feature `loki`.
#[cfg(feature = "loki")]
pub mod loki {
    include!(concat!(env!("OUT_DIR"), "/logproto.rs"));
}

/// The record's canonical JSON line, with feature `json`.
#[cfg(feature = "json")]
pub mod json;

pub mod time;
