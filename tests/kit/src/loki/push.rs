//! What a push carries, as the stand-in decodes and keeps it.

use std::collections::BTreeMap;

/// One entry as Loki keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LokiLine {
    pub ts_nanos: i64,
    pub line: String,
    pub metadata: BTreeMap<String, String>,
}

/// One stream of one request, as decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct PushedStream {
    /// As written (empty values included).
    pub labels: BTreeMap<String, String>,
    pub entries: Vec<LokiLine>,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub content_type: String,
    pub content_encoding: String,
    pub tenant: String,
    pub authorization: String,
    /// Empty when the body could not be decoded.
    pub streams: Vec<PushedStream>,
}

/// Labels, the same as [`PushedStream::labels`].
pub type Labels = BTreeMap<String, String>;

/// Label name and value pairs in the order they were written.
pub(crate) type Pairs = Vec<(String, String)>;

/// Labels → (ts, line) → what is kept of the entry: what a query would
/// return.
pub(crate) type Store = BTreeMap<Labels, BTreeMap<(i64, String), Kept>>;

/// An entry's structured metadata, when it was stored (unix ns, for the
/// ingester's flush) and its place in the order of pushes (Loki keeps
/// entries of one stream with the same timestamp in the order they came).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Kept {
    pub metadata: Labels,
    pub stored_at: i64,
    pub order: u64,
}

/// One stream of a push body: its labels as written (`text`) and read
/// (`pairs`), and its entries.
pub(crate) struct Decoded {
    pub text: String,
    pub pairs: Pairs,
    pub entries: Vec<LokiLine>,
}

impl Decoded {
    pub fn pushed(&self) -> PushedStream {
        PushedStream {
            labels: self.pairs.iter().cloned().collect(),
            entries: self.entries.clone(),
        }
    }
}

/// An answer other than 204: its status and body.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal {
            status: 400,
            message: message.into(),
        }
    }
}
