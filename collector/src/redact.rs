//! Re-redaction of every incoming record before it is stored, with the
//! redaction engine the filter runs (`observatory_redact`), as
//! defence in depth: a proxy without (or with a weaker) `redaction`
//! configuration must not leak PII into the audit store. What the collector
//! had to redact is added to the record's `redactions` and counted
//! separately (`records_redacted`, `redactions_added`). [`load`] builds the
//! engine for it and for the `redact` command ([`crate::commands::redact`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use observatory_proto::audit::AuditRecord;
use observatory_redact::fields::redact_field;
use observatory_redact::{Content, RedactionConfig, Redactor};
use thiserror::Error;

use crate::telemetry::{Counter, Telemetry};

#[derive(Debug, Error)]
pub enum LoadError {
    #[error("cannot read redaction config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("redaction config {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("redaction config: {0}")]
    Compile(#[from] observatory_redact::ConfigError),
}

/// Builds the engine from a JSON file holding the filter's `redaction`
/// object (so filter and collector can share one file), or with the
/// defaults (every built-in type, `mask`) without one. `hmacKeyEnv` is read
/// from this process's environment.
pub fn load(path: Option<&Path>) -> Result<Redactor, LoadError> {
    let mut config = match path {
        None => RedactionConfig::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
                path: path.to_owned(),
                source,
            })?;
            let mut de = serde_json::Deserializer::from_str(&text);
            serde_path_to_error::deserialize(&mut de).map_err(|e| LoadError::Invalid {
                path: path.to_owned(),
                message: format!("redaction{}: {}", field_suffix(e.path()), e.inner()),
            })?
        }
    };
    config.resolve_hmac_key_env(|name| std::env::var(name).ok())?;
    Ok(Redactor::new(&config)?)
}

/// `.types.EMAIL.mode` for a nested field, nothing for the document itself.
fn field_suffix(path: &serde_path_to_error::Path) -> String {
    let path = path.to_string();
    if path == "." {
        String::new()
    } else {
        format!(".{path}")
    }
}

/// What re-redaction did; exported on `/metrics` by [`RedactStats::register`].
#[derive(Debug, Default)]
pub struct RedactStats {
    /// Records the collector's re-redaction had to change.
    pub records_redacted: Counter,
    /// Findings the collector's re-redaction added (beyond the filter's).
    pub redactions_added: Counter,
}

impl RedactStats {
    pub fn register(&self, telemetry: &Telemetry) {
        telemetry.register_all(&[
            (
                &self.records_redacted,
                "records_redacted",
                "Records the collector's re-redaction changed",
            ),
            (
                &self.redactions_added,
                "redactions_added",
                "Findings the collector's re-redaction added beyond the filter's",
            ),
        ]);
    }
}

/// Re-redacts records on ingest.
#[derive(Debug)]
pub struct RecordRedactor {
    redactor: Redactor,
    stats: Arc<RedactStats>,
}

impl RecordRedactor {
    /// Counts what it redacts in `stats`.
    pub fn new(redactor: Redactor, stats: Arc<RedactStats>) -> Self {
        RecordRedactor { redactor, stats }
    }

    /// Redacts the free-text fields of `records` in place (path, query, user
    /// agent, recorded headers and body excerpts; identities, ids and
    /// addresses are the filter's own facts and stay), adds the findings
    /// to each record's `redactions` and counts them.
    pub fn apply(&self, records: &mut [AuditRecord]) {
        let stats = &self.stats;
        for record in records {
            let mut added = BTreeMap::new();
            self.field(&mut record.path, Content::Text, &mut added);
            self.field(&mut record.query, Content::Query, &mut added);
            self.field(
                &mut record.user_agent,
                Content::Header("user-agent"),
                &mut added,
            );
            for (name, value) in &mut record.headers {
                self.field(value, Content::Header(name), &mut added);
            }
            // Excerpts may be cut JSON: the engine falls back to text then.
            self.field(&mut record.request_body, Content::Auto(""), &mut added);
            self.field(&mut record.response_body, Content::Auto(""), &mut added);
            if added.is_empty() {
                continue;
            }
            stats.records_redacted.add(1);
            for (kind, n) in added {
                stats.redactions_added.add(u64::from(n));
                let count = record.redactions.entry(kind).or_default();
                *count = count.saturating_add(n);
            }
        }
    }

    /// Nothing past the scan limit is kept (see [`redact_field`]).
    fn field(&self, value: &mut String, content: Content<'_>, added: &mut BTreeMap<String, u32>) {
        if let Cow::Owned(text) = redact_field(&self.redactor, value, content, added) {
            *value = text;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&RedactionConfig::default()).unwrap()
    }

    #[test]
    fn record_text_fields_are_redacted_and_counted_on_top() {
        let stats = Arc::new(RedactStats::default());
        let mut records = vec![
            AuditRecord {
                path: "/users/jane.doe@example.com/cards/4242424242424242".into(),
                user_agent: "curl/8.5.0".into(),
                source_ip: "10.1.2.3".into(),
                ..AuditRecord::default()
            },
            AuditRecord {
                path: "/api/orders/7".into(),
                query: "page=2".into(),
                user_agent: "curl/8.5.0".into(),
                ..AuditRecord::default()
            },
            AuditRecord {
                query: "to=joe%40example.com".into(),
                headers: [("x-api-key".to_owned(), "k-7d1f0c9a8b".to_owned())].into(),
                request_body: r#"{"password": "hunter22", "note": "#.into(),
                response_body: "ssn 123-45-6789".into(),
                ..AuditRecord::default()
            },
        ];
        records[0].redactions.insert("EMAIL".into(), 2);
        RecordRedactor::new(redactor(), stats.clone()).apply(&mut records);
        assert_eq!(
            records[0].path,
            "/users/[REDACTED:EMAIL]/cards/[REDACTED:CREDIT_CARD]"
        );
        assert_eq!(records[0].source_ip, "10.1.2.3");
        let counts: Vec<_> = records[0]
            .redactions
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(counts, [("CREDIT_CARD", 1), ("EMAIL", 3)]);
        assert_eq!(records[1].path, "/api/orders/7");
        assert!(records[1].redactions.is_empty());
        assert_eq!(records[2].query, "to=[REDACTED:EMAIL]");
        assert_eq!(records[2].headers["x-api-key"], "[REDACTED:API_KEY]");
        assert_eq!(
            records[2].request_body,
            r#"{"password": "[REDACTED:PASSWORD]", "note": "#
        );
        assert_eq!(records[2].response_body, "ssn [REDACTED:US_SSN]");
        assert_eq!(records[2].redactions.values().sum::<u32>(), 4);
        assert_eq!(stats.records_redacted.get(), 2);
        assert_eq!(stats.redactions_added.get(), 6);

        // Already redacted records stay as they are.
        let before = records.clone();
        RecordRedactor::new(redactor(), stats.clone()).apply(&mut records);
        assert_eq!(records, before);
        assert_eq!(stats.redactions_added.get(), 6);
    }

    #[test]
    fn config_file_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("redaction.json");
        std::fs::write(&path, r#"{"types": {"EMAIL": {"mode": "blur"}}}"#).unwrap();
        let err = load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("redaction.types.EMAIL.mode: unknown variant `blur`"),
            "{err}"
        );
        std::fs::write(&path, r#"{"types": {"E_MAIL": {}}}"#).unwrap();
        let err = load(Some(&path)).unwrap_err().to_string();
        assert!(
            err.contains("redaction.types.E_MAIL: unknown type"),
            "{err}"
        );
        let err = load(Some(&dir.path().join("missing.json")))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot read redaction config"), "{err}");

        std::fs::write(&path, r#"{"types": {"EMAIL": {"enabled": false}}}"#).unwrap();
        let redactor = load(Some(&path)).unwrap();
        assert!(redactor
            .redact("jane@example.com", Content::Text)
            .findings
            .is_empty());
    }
}
