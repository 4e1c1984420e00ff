//! Observatory's filter logic as a plain library.
//!
//! The data flow of one request, module by module:
//! [`config`] (plugin JSON → validated, compiled config) →
//! [`peer`] (who is calling, cached per connection) →
//! [`policy`] (decision) → [`dlp`] (in-flight rewriting and denial) →
//! [`redact`] (PII in bodies and headers) → [`capture`] (what a record keeps
//! of the request, redacted) → [`record`] (AU-3 audit record) →
//! [`batch`] (bounded outbox with sequence numbers, acks and gap accounting) →
//! [`stream`] (connection, backoff and delivery health of the gRPC stream).
//!
//! Nothing here touches proxy-wasm, so every piece builds and tests on the
//! host; the wasm crate is thin glue over it, and the collector reuses
//! [`record`] and [`redact`] so there is one record definition and one
//! redaction engine in the project.

pub mod batch;
pub mod capture;
pub mod config;
pub mod dlp;
pub mod error;
pub mod header_map;
pub mod peer;
pub mod policy;
pub mod record;
pub mod redact;
pub mod stream;
