#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use observatory_proto::json::CanonicalRecord;

use super::declared::declared;
use super::*;
use crate::trail::CheckpointNotice;

/// The leaf paths of `value`.
fn paths_of<T: Serialize>(value: &T) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_paths(
        &serde_json::to_value(value).unwrap(),
        String::new(),
        &mut out,
    );
    out
}

/// Whether `pattern` (`*` for any one key) names `path`.
fn covers(pattern: &str, path: &str) -> bool {
    let (pattern, path): (Vec<_>, Vec<_>) =
        (pattern.split('.').collect(), path.split('.').collect());
    pattern.len() == path.len() && pattern.iter().zip(&path).all(|(p, s)| p == s || *p == "*")
}

/// Fails with what one side has and the other lacks.
fn assert_same(what: &str, written: &BTreeSet<String>, declared: &BTreeSet<String>) {
    let unset: Vec<_> = declared
        .iter()
        .filter(|d| !written.iter().any(|w| covers(d, w)))
        .collect();
    let undeclared: Vec<_> = written
        .iter()
        .filter(|w| !declared.iter().any(|d| covers(d, w)))
        .collect();
    assert!(
        unset.is_empty() && undeclared.is_empty(),
        "{what}: declared but not in the sample: {unset:?}; in the sample but not declared: {undeclared:?}"
    );
}

/// What a stored record declares: the canonical record, its reasons typed
/// as the scorer's [`Reason`] (the record's own are free-form JSON), and
/// the warm-up flag.
fn record_declared(entry: &RecordEntry) -> BTreeSet<String> {
    // Every field of a stored record, named: a new one does not compile here.
    let RecordEntry {
        record: _,
        reasons: _,
        warmup: _,
    } = entry;
    let mut fields = declared::<CanonicalRecord>().unwrap();
    assert!(fields.remove("anomaly_reasons[]"));
    let reasons = declared::<Reason>().unwrap();
    fields.extend(
        reasons
            .into_iter()
            .map(|p| format!("anomaly_reasons[].{p}")),
    );
    fields.insert("anomaly_warmup".to_owned());
    fields
}

#[test]
fn every_sample_sets_every_field_its_type_declares() {
    for entry in samples(TIMES[0]) {
        let expected = match &entry {
            Entry::Record(r) => record_declared(r),
            Entry::Gap(_) => declared::<GapNotice>().unwrap(),
            Entry::Invalid(_) => {
                let mut fields = declared::<InvalidNotice>().unwrap();
                // Built from what the sender sent, which has none of these.
                for field in ["sender", "anomaly_score", "anomaly_reasons[]"] {
                    assert!(fields.remove(&format!("invalid.record.{field}")), "{field}");
                }
                fields
            }
            Entry::Anomaly(_) => declared::<AnomalyNotice>().unwrap(),
            Entry::Health(_) => declared::<ServiceHealthNotice>().unwrap(),
            Entry::Checkpoint(_) => declared::<CheckpointNotice>().unwrap(),
        };
        assert_same(kind(&entry), &paths_of(&entry), &expected);
    }
}

#[test]
fn the_declared_paths_name_nested_objects_arrays_and_maps() {
    let anomaly = declared::<AnomalyNotice>().unwrap();
    assert!(anomaly.contains("anomaly.reasons[].feature"), "{anomaly:?}");
    assert!(anomaly.contains("anomaly.correlation_ids[]"), "{anomaly:?}");
    let record = declared::<CanonicalRecord>().unwrap();
    assert!(
        record.contains("headers.*") && record.contains("redactions.*"),
        "{record:?}"
    );
    assert!(
        record.contains("anomaly_score") && record.contains("ts"),
        "{record:?}"
    );
    assert!(covers("redactions.*", "redactions.EMAIL"));
    assert!(!covers("redactions.*", "redactions.EMAIL.x"));
    assert!(!covers("redactions.*", "headers.x"));
}

#[test]
fn every_kind_of_stored_line_is_listed() {
    let contract = contract().unwrap();
    let kinds: Vec<_> = contract.lines.keys().copied().collect();
    assert_eq!(
        kinds,
        [
            "anomaly",
            "audit_gap",
            "checkpoint",
            "invalid",
            "record",
            "service_health"
        ]
    );
    assert_eq!(contract.metadata.keys().copied().collect::<Vec<_>>(), kinds);
}

#[test]
fn lines_are_listed_as_stored_chained_where_the_wal_chains_them() {
    let lines = contract().unwrap().lines;
    for kind in ["record", "audit_gap", "invalid"] {
        assert!(
            lines[kind].contains("seq") && lines[kind].contains("chain"),
            "{kind}: {:?}",
            lines[kind]
        );
    }
    for kind in ["anomaly", "service_health", "checkpoint"] {
        assert!(!lines[kind].contains("chain"), "{kind}: {:?}", lines[kind]);
    }
    let record = &lines["record"];
    for ty in PiiType::BUILTIN {
        assert!(
            record.contains(&format!("redactions.{ty}")),
            "{ty}: {record:?}"
        );
    }
    assert!(record.contains("anomaly_reasons[].window") && record.contains("headers.*"));
    // The chain's own lines, as `verify` reads them.
    assert_same(
        CHECKPOINT,
        &lines[CHECKPOINT],
        &declared::<CheckpointNotice>().unwrap(),
    );
}

#[test]
fn metadata_and_labels_are_what_the_loki_sink_attaches() {
    let contract = contract().unwrap();
    let metadata = |kind: &str| contract.metadata[kind].iter().copied().collect::<Vec<_>>();
    assert_eq!(
        metadata("record"),
        ["correlation_id", "proxy_id", "source_principal", "trace_id"]
    );
    assert_eq!(metadata("anomaly"), ["source_principal"]);
    assert_eq!(metadata("service_health"), ["destination_workload"]);
    for kind in ["audit_gap", "invalid", "checkpoint"] {
        assert_eq!(metadata(kind), ["proxy_id"], "{kind}");
    }
    assert_eq!(
        contract.split_metadata.into_iter().collect::<Vec<_>>(),
        ["chunk", "chunks"]
    );
    let labels = serde_json::to_value(&contract.labels).unwrap();
    assert_eq!(
        labels,
        serde_json::json!({
            "job": ["observatory"],
            "kind": ["anomaly", "service_health"],
            // The configuration's, and the window of a late line.
            "cluster": null,
            "late": null,
        })
    );
}
