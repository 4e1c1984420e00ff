//! One entry as read back from where the trail is stored, before anything
//! is made of it: a line of a file (its number), or a Loki entry (its
//! timestamp and the labels of its result stream). Evidence bundles keep
//! entries in this form, one JSON object per line.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    /// Loki: the entry's timestamp (unix ns; a string, which JSON tools
    /// read without rounding).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "nanos_as_string"
    )]
    pub loki_ts: Option<i64>,
    /// A file: the line's number, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_no: Option<u64>,
    /// Loki: the labels of the entry's result stream (stream labels and
    /// structured metadata).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    pub line: String,
}

impl Entry {
    pub fn at_line(line_no: u64, line: &str) -> Entry {
        Entry {
            loki_ts: None,
            line_no: Some(line_no),
            labels: BTreeMap::new(),
            line: line.to_owned(),
        }
    }

    /// Where it is, for people: `line 12` or `Loki ts 1764…`.
    pub fn position(&self) -> String {
        match (self.line_no, self.loki_ts) {
            (Some(n), _) => format!("line {n}"),
            (None, Some(ts)) => format!("Loki ts {ts}"),
            (None, None) => "unknown position".to_owned(),
        }
    }
}

mod nanos_as_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ts {
            Some(ts) => s.serialize_str(&ts.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}
