//! Checks a batch before anything is stored. A batch whose envelope is
//! wrong (no sender ids, a heartbeat with content, too many records) is
//! refused with a precise INVALID_ARGUMENT; a record that is wrong costs
//! only itself: [`check_record`] names its problem (also a record naming
//! another proxy than its batch), and the ingest stores
//! it as an `invalid` entry ([`crate::trail::InvalidNotice`]) instead.

use observatory_proto::audit::{AuditBatch, AuditRecord};
use thiserror::Error;

/// Longest prefix of an offending value echoed in an error (it travels in a
/// gRPC trailer, which must stay small).
const MAX_ECHO_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Error)]
pub enum Invalid {
    #[error("batch seq {seq}: {field} must not be empty")]
    EmptyId { seq: u64, field: &'static str },
    #[error("batch seq 0 is a heartbeat and must carry no records and no gap")]
    HeartbeatWithContent,
    #[error("batch seq {seq}: {count} records exceed the limit of {max}")]
    TooManyRecords { seq: u64, count: usize, max: usize },
}

/// What is wrong with one record.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RecordProblem {
    #[error("ts_unix_nanos must be > 0, got {0}")]
    Timestamp(i64),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("duration_ms must be a finite number, got {0}")]
    Duration(f64),
    #[error("decision must be \"allow\" or \"deny\", got {0:?}")]
    Decision(String),
    #[error("shadow_decision must be \"\", \"allow\" or \"deny\", got {0:?}")]
    ShadowDecision(String),
    #[error("proxy_id {record:?} is not its batch's {batch:?}")]
    ProxyId { record: String, batch: String },
}

/// Validates the batch envelope; the first problem wins. Records are
/// checked one by one with [`check_record`].
pub fn validate(batch: &AuditBatch, max_records: usize) -> Result<(), Invalid> {
    let seq = batch.seq;
    for (field, value) in [
        ("proxy_id", &batch.proxy_id),
        ("instance_id", &batch.instance_id),
    ] {
        if value.is_empty() {
            return Err(Invalid::EmptyId { seq, field });
        }
    }
    if seq == 0 && (!batch.records.is_empty() || batch.gap.is_some()) {
        return Err(Invalid::HeartbeatWithContent);
    }
    if batch.records.len() > max_records {
        return Err(Invalid::TooManyRecords {
            seq,
            count: batch.records.len(),
            max: max_records,
        });
    }
    Ok(())
}

/// The first problem of one record of the batch of `proxy_id`, which then
/// cannot be stored as a record. A record must name its batch's proxy: the
/// batch's is the one its sender was authorised to write.
pub fn check_record(r: &AuditRecord, proxy_id: &str) -> Result<(), RecordProblem> {
    if r.ts_unix_nanos <= 0 {
        return Err(RecordProblem::Timestamp(r.ts_unix_nanos));
    }
    for (field, value) in [("correlation_id", &r.correlation_id), ("method", &r.method)] {
        if value.is_empty() {
            return Err(RecordProblem::Empty(field));
        }
    }
    // JSON has no NaN or infinity; serde_json would silently write null.
    if !r.duration_ms.is_finite() {
        return Err(RecordProblem::Duration(r.duration_ms));
    }
    if !matches!(r.decision.as_str(), "allow" | "deny") {
        return Err(RecordProblem::Decision(echo(&r.decision)));
    }
    if !matches!(r.shadow_decision.as_str(), "" | "allow" | "deny") {
        return Err(RecordProblem::ShadowDecision(echo(&r.shadow_decision)));
    }
    if r.proxy_id != proxy_id {
        return Err(RecordProblem::ProxyId {
            record: echo(&r.proxy_id),
            batch: echo(proxy_id),
        });
    }
    Ok(())
}

/// `value`, cut to [`MAX_ECHO_CHARS`] characters.
fn echo(value: &str) -> String {
    match value.char_indices().nth(MAX_ECHO_CHARS) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use observatory_proto::audit::AuditGap;

    fn record() -> AuditRecord {
        AuditRecord {
            ts_unix_nanos: 1_700_000_000_000_000_000,
            correlation_id: "c-1".into(),
            method: "GET".into(),
            decision: "allow".into(),
            proxy_id: "p".into(),
            ..AuditRecord::default()
        }
    }

    fn batch(seq: u64, records: Vec<AuditRecord>) -> AuditBatch {
        AuditBatch {
            proxy_id: "p".into(),
            instance_id: "i".into(),
            seq,
            records,
            gap: None,
        }
    }

    #[test]
    fn accepts_heartbeat_and_valid_batch() {
        assert_eq!(validate(&batch(0, vec![]), 10), Ok(()));
        let mut shadowed = record();
        shadowed.shadow_decision = "deny".into();
        assert_eq!(validate(&batch(1, vec![record(), shadowed]), 10), Ok(()));
        // An empty batch that only reports a gap is fine.
        let mut gap_only = batch(2, vec![]);
        gap_only.gap = Some(AuditGap {
            dropped_records: 5,
            dropped_batches: 1,
        });
        assert_eq!(validate(&gap_only, 10), Ok(()));
    }

    #[test]
    fn rejects_empty_ids() {
        let mut b = batch(3, vec![]);
        b.instance_id.clear();
        assert_eq!(
            validate(&b, 10).unwrap_err().to_string(),
            "batch seq 3: instance_id must not be empty"
        );
        b.proxy_id.clear();
        assert_eq!(
            validate(&b, 10),
            Err(Invalid::EmptyId {
                seq: 3,
                field: "proxy_id"
            })
        );
    }

    #[test]
    fn heartbeat_must_be_empty() {
        assert_eq!(
            validate(&batch(0, vec![record()]), 10),
            Err(Invalid::HeartbeatWithContent)
        );
        let mut b = batch(0, vec![]);
        b.gap = Some(AuditGap::default());
        assert_eq!(validate(&b, 10), Err(Invalid::HeartbeatWithContent));
    }

    #[test]
    fn limits_record_count() {
        assert_eq!(
            validate(&batch(4, vec![record(); 3]), 2)
                .unwrap_err()
                .to_string(),
            "batch seq 4: 3 records exceed the limit of 2"
        );
    }

    #[test]
    fn names_the_problem_of_a_record() {
        type Spoil = fn(&mut AuditRecord);
        let cases: Vec<(Spoil, &str)> = vec![
            (|r| r.ts_unix_nanos = 0, "ts_unix_nanos must be > 0, got 0"),
            (
                |r| r.correlation_id.clear(),
                "correlation_id must not be empty",
            ),
            (|r| r.method.clear(), "method must not be empty"),
            (
                |r| r.duration_ms = f64::NAN,
                "duration_ms must be a finite number, got NaN",
            ),
            (
                |r| r.decision = "maybe".into(),
                "decision must be \"allow\" or \"deny\", got \"maybe\"",
            ),
            (
                |r| r.decision.clear(),
                "decision must be \"allow\" or \"deny\", got \"\"",
            ),
            (
                |r| r.shadow_decision = "Allow".into(),
                "shadow_decision must be \"\", \"allow\" or \"deny\", got \"Allow\"",
            ),
            (
                |r| r.proxy_id = "victim".into(),
                "proxy_id \"victim\" is not its batch's \"p\"",
            ),
        ];
        for (spoil, want) in cases {
            let mut bad = record();
            spoil(&mut bad);
            assert_eq!(check_record(&bad, "p").unwrap_err().to_string(), want);
            // A bad record is the record's problem, not the batch's.
            assert_eq!(validate(&batch(7, vec![record(), bad]), 10), Ok(()));
        }
        assert_eq!(check_record(&record(), "p"), Ok(()));
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let mut bad = record();
        bad.decision = "é".repeat(1000);
        let msg = check_record(&bad, "p").unwrap_err().to_string();
        assert!(msg.ends_with(&format!("got \"{}…\"", "é".repeat(MAX_ECHO_CHARS))));
    }
}
