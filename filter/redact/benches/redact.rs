//! Redaction throughput on typical inputs (default configuration: every
//! built-in type, mask):
//! - `json_4k_pii`: a 4 KiB JSON API response with 3 PII values,
//! - `json_4k_clean`: the same shape without PII (ids, UUIDs, digests,
//!   timestamps, prices, versions — the hard negatives),
//! - `log_64k`: 64 KiB of access/application log lines, a few with PII,
//! - `hostile/<unit>`: 64 KiB of one unit repeated that is a candidate
//!   everywhere (`eyJ`, `a@`, `1.2.3.4-`, …): its time must stay near a
//!   clean pass's (the test `hostile_input_is_bounded` counts the work).
//!
//! `cargo bench -p observatory-redact --bench redact` (MB/s = 10^6 bytes/s).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use observatory_redact::{Content, RedactionConfig, Redactor};

const KIB: usize = 1024;

/// A deterministic pseudo-random sequence (no RNG dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b"0123456789abcdef"[(self.next() % 16) as usize]))
            .collect()
    }

    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-4{}-a{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(3),
            self.hex(3),
            self.hex(12)
        )
    }
}

/// One order object of an API response; `pii` puts an email, a phone and a
/// card number into the first order.
fn order(rng: &mut Lcg, i: usize, pii: bool) -> String {
    let (email, phone, card) = if pii {
        (
            "jane.doe@example.com",
            "+1 415 555 2671",
            "4242 4242 4242 4242",
        )
    } else {
        ("", "", "")
    };
    format!(
        r#"{{"id":"{}","number":"ORD-2024-{:06}","status":"shipped","created_at":"2024-01-{:02}T10:{:02}:00.123Z",
"customer":{{"id":{},"tier":"gold","contact":"{email}","phone":"{phone}"}},
"items":[{{"sku":"SKU-{:05}","qty":{},"price":"19.99","currency":"EUR"}},{{"sku":"SKU-{:05}","qty":1,"price":"1299.00","currency":"EUR"}}],
"payment":{{"method":"card","last_digits":"{card}","auth_code":"{}"}},
"shipping":{{"carrier":"UPS","tracking":"1Z999AA1{:010}","zip":"94105"}},
"meta":{{"etag":"{}","version":"2.14.{}","trace_id":"{}","updated":{}}}}}"#,
        rng.uuid(),
        i,
        1 + i % 28,
        i % 60,
        100_000 + rng.next() % 900_000,
        rng.next() % 100_000,
        1 + rng.next() % 5,
        rng.next() % 100_000,
        rng.hex(6),
        rng.next() % 10_000_000_000,
        rng.hex(40),
        i % 10,
        rng.hex(32),
        1_700_000_000 + rng.next() % 10_000_000,
    )
}

fn json_body(pii: bool) -> String {
    let mut rng = Lcg(7);
    let mut orders = Vec::new();
    let mut len = 0;
    while len < 4 * KIB - 700 {
        let o = order(&mut rng, orders.len(), pii && orders.is_empty());
        len += o.len() + 1;
        orders.push(o);
    }
    let body = format!(
        r#"{{"data":[{}],"page":{{"next":"{}","size":{}}}}}"#,
        orders.join(","),
        rng.hex(24),
        orders.len()
    );
    assert!((3 * KIB..5 * KIB).contains(&body.len()), "{}", body.len());
    body
}

fn log_text() -> String {
    let mut rng = Lcg(11);
    let mut out = String::new();
    let mut line = 0;
    while out.len() < 64 * KIB {
        line += 1;
        let ts = format!(
            "2024-01-15T10:{:02}:{:02}.{:03}Z",
            line / 60 % 60,
            line % 60,
            rng.next() % 1000
        );
        match line % 4 {
            0 => writeln!(
                out,
                "{ts} INFO  http request_id={} method=GET path=/api/v2/orders/{} status=200 duration_ms={}.{} bytes={}",
                rng.uuid(), rng.next() % 100_000, rng.next() % 500, rng.next() % 10, rng.next() % 100_000
            ),
            1 => writeln!(
                out,
                "{ts} DEBUG cache key=orders:{} hit=true ttl=300 version=1.2.{} sha={}",
                rng.next() % 10_000, rng.next() % 20, rng.hex(40)
            ),
            2 => writeln!(
                out,
                "{ts} WARN  upstream retry attempt={} of 3 backend=orders-v2 trace={} latency={}ms",
                1 + rng.next() % 3, rng.hex(32), rng.next() % 3000
            ),
            _ if line % 40 == 3 => writeln!(
                out,
                "{ts} ERROR login failed for user=jane.doe@example.com from 203.0.113.{} password=hunter{}",
                rng.next() % 250, rng.next() % 100
            ),
            _ => writeln!(
                out,
                "{ts} INFO  job=nightly-export rows={} file=export-{}.csv.gz elapsed={}s",
                rng.next() % 1_000_000, rng.next() % 1000, rng.next() % 600
            ),
        }
        .unwrap();
    }
    out
}

fn bench(c: &mut Criterion) {
    let redactor = Redactor::new(&RedactionConfig::default()).unwrap();
    let inputs = [
        ("json_4k_pii", json_body(true), Content::Json),
        ("json_4k_clean", json_body(false), Content::Json),
        ("log_64k", log_text(), Content::Text),
    ];
    let mut group = c.benchmark_group("redact");
    for (name, input, content) in &inputs {
        let findings = redactor.redact(input, *content).findings.len();
        eprintln!("{name}: {} bytes, {findings} findings", input.len());
        group.throughput(Throughput::BytesDecimal(input.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| redactor.redact(black_box(input), *content))
        });
    }
    group.finish();
    let mut hostile = c.benchmark_group("hostile");
    for unit in [
        "1.", "a@", "1.2.3.4-", "eyJ", "eyJx-", "4111 ", "::", "DE89 ", "+1 ", "Dear ",
    ] {
        let input = unit.repeat(64 * KIB / unit.len());
        hostile.throughput(Throughput::BytesDecimal(input.len() as u64));
        hostile.bench_function(unit.trim(), |b| {
            b.iter(|| redactor.redact(black_box(&input), Content::Text))
        });
    }
    hostile.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
