//! Loki's distributor checks, with its messages and default limits: what
//! fails them is named in a 400 and the rest of the push IS stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{entry, now, push_protobuf, Entry, HOUR, SECOND};
use observatory_testkit::loki::FakeLoki;

/// `t` as Go's `time.RFC3339` prints it.
fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.div_euclid(SECOND))
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn entries_out_of_bounds_are_named_and_the_rest_stored() {
    let loki = FakeLoki::start().await;
    let t = now();
    let stream = r#"{job="orders", env="prod"}"#;
    let named = r#"{env="prod", job="orders", service_name="orders"}"#;
    let long = "x".repeat(256 * 1024 + 1);
    let entries = vec![
        entry(t, "fine"),
        entry(t - 8 * 24 * HOUR, "a week and a day old"),
        entry(t - 8 * 24 * HOUR, "as old, same second"),
        entry(t + HOUR, "an hour ahead"),
        entry(t + 1, &long),
        entry(t + 2, "fine too"),
    ];
    let (status, body) = push_protobuf(&loki, &[(stream, entries)]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(loki.stored_lines(), ["fine", "fine too"]);
    let messages: Vec<&str> = body.trim_end().split("; ").collect();
    assert_eq!(messages.len(), 3, "{body}");
    assert!(messages[0].starts_with(&format!(
        "2 errors like: entry for stream '{named}' has timestamp too old: {}, oldest acceptable timestamp is: ",
        rfc3339(t - 8 * 24 * HOUR)
    )));
    assert_eq!(
        messages[1],
        format!(
            "1 errors like: entry for stream '{named}' has timestamp too new: {}",
            rfc3339(t + HOUR)
        )
    );
    assert_eq!(
        messages[2],
        format!(
            "1 errors like: Max entry size '262144' bytes exceeded for stream '{named}' while adding an entry with length '262145' bytes"
        )
    );
}

#[tokio::test]
async fn reject_older_than_moves_the_oldest_acceptable_timestamp() {
    let loki = FakeLoki::start().await;
    let t = now();
    loki.reject_older_than(t - HOUR);
    let (status, body) = push_protobuf(
        &loki,
        &[(
            "{job=\"x\"}",
            vec![entry(t - 2 * HOUR, "old"), entry(t, "new")],
        )],
    )
    .await;
    assert_eq!(status, 400);
    // A single error is not grouped.
    assert_eq!(
        body,
        format!(
            "entry for stream '{{job=\"x\", service_name=\"x\"}}' has timestamp too old: {}, oldest acceptable timestamp is: {}\n",
            rfc3339(t - 2 * HOUR),
            rfc3339(t - HOUR)
        )
    );
    assert_eq!(loki.stored_lines(), ["new"]);
}

#[tokio::test]
async fn structured_metadata_over_its_limits_is_refused() {
    let loki = FakeLoki::start().await;
    let t = now();
    let many: Entry = (
        t,
        "129 entries".into(),
        (0..129).map(|i| (format!("k{i}"), "v".into())).collect(),
    );
    let large: Entry = (
        t + 1,
        "65 KiB".into(),
        vec![("k".into(), "v".repeat(65 * 1024))],
    );
    let (status, body) = push_protobuf(
        &loki,
        &[(
            "{service_name=\"api\"}",
            vec![many, large, entry(t + 2, "fine")],
        )],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains(
        "1 errors like: stream '{service_name=\"api\"}' has too many structured metadata labels: '129', limit: '128'."
    ), "{body}");
    assert!(body.contains(
        "1 errors like: stream '{service_name=\"api\"}' has structured metadata too large: '66561' bytes, limit: '65536' bytes."
    ), "{body}");
    assert_eq!(loki.stored_lines(), ["fine"]);
}

/// `{<first>l00="v", l01="v", …}` with `n` labels after `first`.
fn labels(first: &str, n: usize) -> String {
    let rest: Vec<String> = (0..n).map(|i| format!("l{i:02}=\"v\"")).collect();
    format!("{{{first}{}}}", rest.join(", "))
}

#[tokio::test]
async fn label_problems_refuse_their_stream_only() {
    let loki = FakeLoki::start().await;
    let t = now();
    let sixteen = labels("", 16);
    let fifteen_and_a_service = labels("service=\"s\", ", 14);
    let long_value = format!("{{job=\"{}\"}}", "v".repeat(2049));
    let streams = vec![
        (sixteen.as_str(), vec![entry(t, "16 labels")]),
        (fifteen_and_a_service.as_str(), vec![entry(t, "15 labels")]),
        (long_value.as_str(), vec![entry(t, "long value")]),
        (
            "{a=\"1\", a=\"2\", service_name=\"s\"}",
            vec![entry(t, "repeated")],
        ),
        ("{job=\"ok\", empty=\"\"}", vec![entry(t, "fine")]),
    ];
    let (status, body) = push_protobuf(&loki, &streams).await;
    assert_eq!(status, 400);
    assert!(body.contains("has 16 label names; limit 15"), "{body}");
    assert!(body.contains("has label value too long: 'vvv"), "{body}");
    // Loki quotes the stream as written when it added no service_name.
    assert!(
        body.contains(
            "stream '{a=\"1\", a=\"2\", service_name=\"s\"}' has duplicate label name: 'a'"
        ),
        "{body}"
    );
    assert_eq!(body.matches("errors like").count(), 3, "{body}");
    assert_eq!(loki.stored_lines(), ["15 labels", "fine"]);
    // An empty value means "no such label".
    assert!(loki
        .stored()
        .keys()
        .any(|l| l.len() == 1 && l["job"] == "ok"));
}
