//! Observatory's filter logic as a plain library, including every decision
//! the proxy-wasm callbacks make.
//!
//! The data flow of one request, module by module:
//! [`config`] (plugin JSON → validated, compiled config) →
//! [`peer`] (who is calling, cached per connection) →
//! [`policy`] (decision) → [`dlp`] (in-flight rewriting and denial) →
//! [`capture`] (what a record keeps of the request, redacted) →
//! [`record`] (AU-3 audit record) →
//! [`batch`] (bounded outbox with sequence numbers, acks, gap accounting and
//! how long records have waited) →
//! [`stream`] (connection and backoff of the gRPC stream).
//! [`error`] is the configuration error every section reports.
//!
//! The callbacks: [`plugin`] (root context: configuration, tick, the
//! collector's answers, the access logger) and [`http`] (one request), over
//! [`active`] (a configured plugin: [`settings`], [`metrics`], [`export`]),
//! [`request`] (what is read of a request), [`exchange`] (one request's
//! facts) and [`body`] (bodies, with a `redaction` section).
//! They reach Envoy only through [`host::Host`]; `observatory-filter`
//! implements it with proxy-wasm calls and forwards each callback here,
//! and the unit tests use a mock host that records the calls.
//!
//! Nothing here touches proxy-wasm, so every piece builds and tests on the
//! host. PII redaction is its own crate, `observatory_redact`, which the
//! collector uses too, so there is one redaction engine in the project; the
//! record's protobuf type and its canonical JSON are `observatory_proto`'s.

pub mod active;
pub mod batch;
pub mod body;
pub mod capture;
pub mod config;
pub mod dlp;
pub mod error;
pub mod exchange;
pub mod export;
pub mod header_map;
pub mod host;
pub mod http;
pub mod metrics;
pub mod peer;
pub mod plugin;
pub mod policy;
pub mod record;
pub mod request;
pub mod settings;
pub mod stream;
pub mod text;
