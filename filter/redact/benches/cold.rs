//! What a scan costs when the CPU's caches hold other work, as in a proxy
//! between two requests, against the same scan warm: `cold/…` runs each
//! `Redactor::findings` after writing 8 MiB elsewhere (not timed), `warm/…`
//! back to back. Per body (the load benchmark's 4 KiB JSON bodies) and per
//! set of enabled types, so that what a type's patterns add to the
//! automaton's cold cost shows:
//! - `all`: every built-in type,
//! - `no_digit_led`: without `CREDIT_CARD`, `US_SSN`, `IPV4`, `IPV6`, `PHONE`,
//! - `no_person`: without `PERSON` (its cue words),
//! - `ssn_only`: `US_SSN` alone, a DLP probe's size.
//!
//! `cargo bench -p observatory-redact --bench cold`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use observatory_redact::{Content, PiiType, RedactionConfig, Redactor};

const BODIES: [(&str, &str); 2] = [
    ("body_4k", include_str!("../../../tests/bench/body-4k.json")),
    (
        "webhooks_4k",
        include_str!("../../../tests/bench/body-webhooks-4k.json"),
    ),
];

const DIGIT_LED: [&str; 5] = ["CREDIT_CARD", "US_SSN", "IPV4", "IPV6", "PHONE"];

/// The redaction section with `disabled` types off.
fn redactor(disabled: &[&str]) -> Redactor {
    let types: serde_json::Map<String, serde_json::Value> = disabled
        .iter()
        .map(|ty| (ty.to_string(), serde_json::json!({"enabled": false})))
        .collect();
    let config: RedactionConfig =
        serde_json::from_value(serde_json::json!({ "types": types })).expect("a redaction section");
    Redactor::new(&config).expect("a redactor")
}

fn sets() -> Vec<(&'static str, Redactor)> {
    let others: Vec<&str> = PiiType::BUILTIN
        .iter()
        .filter(|ty| **ty != PiiType::UsSsn)
        .map(PiiType::as_str)
        .collect();
    vec![
        ("all", redactor(&[])),
        ("no_digit_led", redactor(&DIGIT_LED)),
        ("no_person", redactor(&["PERSON"])),
        ("ssn_only", redactor(&others)),
    ]
}

fn bench(c: &mut Criterion) {
    // Larger than this machine's L2 by far: what a scan reads comes from
    // the last-level cache or memory, as after a proxy's other work.
    let mut other = vec![0u8; 8 << 20];
    let mut evict = move || {
        for i in (0..other.len()).step_by(64) {
            other[i] = other[i].wrapping_add(1);
        }
    };
    for (name, redactor) in sets() {
        let mut group = c.benchmark_group(name);
        for (body_name, body) in BODIES {
            group.bench_function(format!("warm/{body_name}"), |b| {
                b.iter(|| redactor.findings(black_box(body), Content::Json))
            });
            group.bench_function(format!("cold/{body_name}"), |b| {
                b.iter_batched(
                    &mut evict,
                    |()| redactor.findings(black_box(body), Content::Json),
                    BatchSize::PerIteration,
                )
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
