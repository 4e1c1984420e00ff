//! Observatory's filter logic as a plain library.
//!
//! The data flow of one request, module by module:
//! [`config`] (plugin JSON → validated, compiled config) →
//! [`peer`] (who is calling, cached per connection) →
//! [`policy`] (decision) → [`dlp`] (in-flight rewriting and denial) →
//! [`capture`] (what a record keeps of the request, redacted) →
//! [`record`] (AU-3 audit record) →
//! [`batch`] (bounded outbox with sequence numbers, acks and gap accounting) →
//! [`stream`] (connection, backoff and delivery health of the gRPC stream).
//! [`error`] is the configuration error every section reports.
//!
//! Nothing here touches proxy-wasm, so every piece builds and tests on the
//! host; the wasm crate is thin glue over it. PII redaction is its own
//! crate, `observatory_redact`, which the collector uses too, so there is
//! one redaction engine in the project; the record's protobuf type and its
//! canonical JSON are `observatory_proto`'s.

pub mod batch;
pub mod capture;
pub mod config;
pub mod dlp;
pub mod error;
pub mod header_map;
pub mod peer;
pub mod policy;
pub mod record;
pub mod stream;
