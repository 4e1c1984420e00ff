//! Loki labels: configured record fields and the static cluster become
//! labels; past `max_label_sets` new label sets collapse to `_overflow`
//! (counted), so a cardinality explosion cannot reach Loki and nothing is
//! lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::loki::FakeLoki;
use common::record;
use observatory_collector::sink::loki::config::{LabelField, LokiConfig};

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn configured_fields_and_cluster_become_labels() {
    let loki = FakeLoki::start().await;
    let config = LokiConfig {
        cluster: Some("prod-eu1".into()),
        labels: [
            ("ns".to_owned(), LabelField::DestinationNamespace),
            ("method".to_owned(), LabelField::Method),
            ("status".to_owned(), LabelField::Status),
            // Empty in these records: left out, as Loki drops empty labels.
            ("rule".to_owned(), LabelField::AuditPolicy),
        ]
        .into(),
        ..loki.config()
    };
    let collector = common::start_with(|c| c.loki = Some(config)).await;
    let mut r = record(1);
    r.audit_policy.clear();
    collector.deliver(vec![r]).await;
    collector.settled().await;

    let labels: Vec<_> = loki.stored().into_keys().collect();
    assert_eq!(
        labels,
        [map(&[
            ("cluster", "prod-eu1"),
            ("job", "observatory"),
            ("method", "POST"),
            ("ns", "shop"),
            ("status", "201"),
        ])]
    );
}

#[tokio::test]
async fn label_sets_beyond_the_limit_collapse_to_overflow() {
    let loki = FakeLoki::start().await;
    let config = LokiConfig {
        max_label_sets: 2.try_into().unwrap(),
        ..loki.config()
    };
    let collector = common::start_with(|c| c.loki = Some(config)).await;
    let records: Vec<_> = ["a", "b", "c", "d", "a"]
        .iter()
        .zip(1..)
        .map(|(ns, n)| {
            let mut r = record(n);
            r.destination_namespace = (*ns).into();
            r
        })
        .collect();
    collector.deliver(records).await;
    collector.settled().await;

    let stored = loki.stored();
    let per_namespace: BTreeMap<&str, usize> = stored
        .iter()
        .map(|(labels, entries)| (labels["namespace"].as_str(), entries.len()))
        .collect();
    assert_eq!(
        per_namespace,
        [("_overflow", 2), ("a", 2), ("b", 1)].into_iter().collect()
    );
    let overflow = stored
        .keys()
        .find(|l| l["namespace"] == "_overflow")
        .unwrap();
    assert_eq!(overflow["workload"], "_overflow");
    assert_eq!(overflow["decision"], "_overflow");
    assert_eq!(overflow["job"], "observatory");
    // The lines themselves are untouched: the namespace is still in them.
    let lines = loki.stored_lines();
    assert!(lines
        .iter()
        .any(|l| l.contains(r#""destination_namespace":"d""#)));
    assert_eq!(collector.stats.snapshot().loki_label_overflows, 2);
}
