use super::*;

const T0: f64 = 1_795_731_300.0;

/// The last score of a loop; a loop that scored nothing counts as quiet.
fn or_quiet(last: Option<Scored>) -> Scored {
    last.unwrap_or(Scored {
        score: 0.0,
        warmup: true,
        reasons: vec![],
    })
}

fn obs(key: &str, dest: &str, path: &str, status: u32) -> Observation {
    Observation {
        source_principal: key.to_owned(),
        source_ip: "10.0.0.1".to_owned(),
        mtls: true,
        destination_workload: dest.to_owned(),
        method: "GET".to_owned(),
        path: path.to_owned(),
        status,
        duration_ms: 10.0,
        response_bytes: 2_000,
        decision: "allow".to_owned(),
        ..Default::default()
    }
}

fn config() -> ScoreConfig {
    ScoreConfig {
        warmup_secs: 600.0,
        ..Default::default()
    }
}

/// One request every `every` seconds from `from` to `to` (relative to T0).
fn steady(s: &mut Scorer, key: &str, from: f64, to: f64, every: f64) -> f64 {
    let (mut t, mut max, mut item) = (from, 0.0f64, false);
    while t < to {
        item = !item;
        let path = if item { "/api/orders/1" } else { "/api/orders" };
        max = max.max(s.score(T0 + t, &obs(key, "orders", path, 200)).score);
        t += every;
    }
    max
}

fn has(scored: &Scored, f: Feature) -> bool {
    scored.reasons.iter().any(|r| r.feature == f)
}

#[test]
fn warmup_is_flagged_by_record_time() {
    let mut s = Scorer::new(config());
    assert!(s.score(T0, &obs("a", "orders", "/", 200)).warmup);
    assert!(s.score(T0 + 599.0, &obs("a", "orders", "/", 200)).warmup);
    assert!(!s.score(T0 + 601.0, &obs("a", "orders", "/", 200)).warmup);
    // Time never runs backwards.
    assert!(!s.score(T0, &obs("a", "orders", "/", 200)).warmup);
}

#[test]
fn steady_traffic_is_quiet() {
    let mut s = Scorer::new(config());
    steady(&mut s, "a", 0.0, 1800.0, 2.0);
    assert!(steady(&mut s, "a", 1800.0, 3600.0, 2.0) < 0.3);
}

/// An attack on a scorer that saw half an hour of steady traffic from
/// "a" (a request every `baseline_every` seconds): `count` records made
/// by `record`, one every `every` seconds, with the steady traffic going
/// on in between when `baseline_goes_on`.
struct Attack {
    baseline_every: f64,
    baseline_goes_on: bool,
    count: u32,
    every: f64,
    record: fn(u32) -> Observation,
}

impl Attack {
    /// The score of the last attack record.
    fn last_score(&self) -> Scored {
        let mut s = Scorer::new(config());
        steady(&mut s, "a", 0.0, 1800.0, self.baseline_every);
        let mut last = None;
        for i in 0..self.count {
            let mut t = 1800.0 + f64::from(i) * self.every;
            if self.baseline_goes_on {
                steady(&mut s, "a", t, t + self.every, self.baseline_every);
                t += self.every - 0.1;
            }
            last = Some(s.score(T0 + t, &(self.record)(i)));
        }
        or_quiet(last)
    }
}

#[test]
fn credential_stuffing_pages_with_its_reason() {
    let last = Attack {
        baseline_every: 2.0,
        baseline_goes_on: false,
        count: 600,
        every: 0.5,
        record: |_| obs("a", "auth", "/api/login", 401),
    }
    .last_score();
    assert!(last.score >= 0.85, "{last:?}");
    let top = &last.reasons[0];
    assert!(
        matches!(
            top.feature,
            Feature::Status401Ratio | Feature::Status4xxRatio
        ),
        "{top:?}"
    );
    assert!(top.observed > 0.8 && top.expected < 0.05, "{top:?}");
    // Five minutes of attack are still anomalous: it was not learnt.
}

#[test]
fn attacks_page_with_their_reason() {
    let one_a_second = |count: u32, record: fn(u32) -> Observation| Attack {
        baseline_every: 2.0,
        baseline_goes_on: false,
        count,
        every: 1.0,
        record,
    };
    let attacks: [(&str, Attack, &[Feature]); 3] = [
        (
            "enumeration counts distinct templates",
            one_a_second(120, |i| obs("a", "orders", &format!("/scan{i}/x.php"), 404)),
            &[Feature::DistinctTemplates, Feature::NovelPathTemplate],
        ),
        (
            // One large response every 30 s among two ordinary ones a second.
            "a trickle of large responses in a busy pair",
            Attack {
                baseline_every: 0.5,
                baseline_goes_on: true,
                count: 10,
                every: 30.0,
                record: |_| Observation {
                    response_bytes: 400_000,
                    ..obs("a", "orders", "/api/orders/1/statements", 200)
                },
            },
            &[Feature::LargeResponses],
        ),
        (
            "latency per destination",
            Attack {
                baseline_every: 1.0,
                ..one_a_second(900, |_| Observation {
                    duration_ms: 2_000.0,
                    ..obs("a", "orders", "/api/orders/1", 200)
                })
            },
            &[Feature::LatencyP95Ms, Feature::LatencyP50Ms],
        ),
    ];
    for (name, attack, reasons) in attacks {
        let last = attack.last_score();
        assert!(last.score >= 0.85, "{name}: {last:?}");
        assert!(reasons.iter().any(|f| has(&last, *f)), "{name}: {last:?}");
    }
}

#[test]
fn a_new_principal_is_novel() {
    let mut s = Scorer::new(config());
    steady(&mut s, "a", 0.0, 1800.0, 2.0);
    let first = s.score(
        T0 + 1800.0,
        &obs("stranger", "orders", "/api/orders/1", 200),
    );
    assert!(first.score >= 0.85, "{first:?}");
    assert!(has(&first, Feature::NewPrincipal), "{first:?}");
}

#[test]
fn principals_seen_during_warmup_are_not_new() {
    let mut s = Scorer::new(ScoreConfig {
        warmup_secs: 60.0,
        ..config()
    });
    steady(&mut s, "a", 0.0, 50.0, 2.0);
    let later = s.score(T0 + 70.0, &obs("a", "orders", "/api/orders/1", 200));
    assert!(
        !later.warmup && !has(&later, Feature::NewPrincipal),
        "{later:?}"
    );
    let stranger = s.score(T0 + 71.0, &obs("b", "orders", "/api/orders/1", 200));
    assert!(has(&stranger, Feature::NewPrincipal), "{stranger:?}");
}

#[test]
fn plaintext_is_keyed_by_source_ip_and_shows() {
    let mut s = Scorer::new(config());
    steady(&mut s, "a", 0.0, 1800.0, 2.0);
    let mut o = obs("", "payments", "/api/pay", 200);
    (o.mtls, o.source_ip) = (false, "10.9.9.9".to_owned());
    let scored = s.score(T0 + 1800.0, &o);
    assert_eq!(o.key(), "10.9.9.9");
    assert!(has(&scored, Feature::PlaintextShare), "{scored:?}");
}

#[test]
fn bytes_and_redactions_per_principal() {
    let mut s = Scorer::new(config());
    steady(&mut s, "a", 0.0, 1800.0, 2.0);
    let mut big = obs("a", "orders", "/api/orders/1", 200);
    big.response_bytes = 50_000_000;
    big.redactions.insert("email".to_owned(), 30);
    big.redactions.insert("phone".to_owned(), 10);
    assert_eq!(big.redaction_count(), 40);
    let scored = s.score(T0 + 1800.0, &big);
    assert!(scored.score >= 0.85, "{scored:?}");
    assert!(
        has(&scored, Feature::BytesPerRequest) || has(&scored, Feature::BytesTotal),
        "{scored:?}"
    );
    assert!(has(&scored, Feature::RedactionsPerRequest), "{scored:?}");
}

#[test]
fn time_of_day_needs_a_day_and_flags_rare_hours() {
    let mut s = Scorer::new(config());
    // Active only in the first 8 hours of each day (from T0), for two days.
    for day in 0..2 {
        steady(
            &mut s,
            "a",
            f64::from(day) * DAY_SECS,
            f64::from(day) * DAY_SECS + 8.0 * 3600.0,
            30.0,
        );
    }
    let scored = s.score(
        T0 + 2.0 * DAY_SECS - 6.0 * 3600.0,
        &obs("a", "orders", "/api/orders", 200),
    );
    let tod = scored
        .reasons
        .iter()
        .find(|r| r.feature == Feature::TimeOfDay);
    assert!(tod.is_some_and(|r| r.observed == 0.0), "{scored:?}");
}

#[test]
fn anomalies_are_not_learnt() {
    let mut s = Scorer::new(config());
    steady(&mut s, "a", 0.0, 1800.0, 2.0);
    let mut scores = Vec::new();
    for i in 0..1200 {
        scores.push(
            s.score(
                T0 + 1800.0 + f64::from(i),
                &obs("a", "orders", "/api/orders", 403),
            )
            .score,
        );
    }
    // Twenty minutes in, a 100 % 403 rate is still as anomalous.
    assert!(
        scores.iter().skip(60).all(|x| *x >= 0.85),
        "{:?}",
        &scores[1100..]
    );
}

#[test]
fn state_is_bounded_and_evictions_counted() {
    let cfg = ScoreConfig {
        max_principals: 2,
        max_templates: 2,
        max_pairs: 1,
        max_destinations: 1,
        ..config()
    };
    let mut s = Scorer::new(cfg);
    for (i, key) in ["a", "b", "c", "a"].iter().enumerate() {
        s.score(T0 + i as f64, &obs(key, "orders", "/x", 200));
    }
    assert_eq!(s.tracked(), (2, 1));
    assert_eq!(s.evictions().principals, 2, "c evicted a, a evicted b");
    for (i, path) in ["/p", "/q", "/r", "/r"].iter().enumerate() {
        s.score(T0 + 10.0 + i as f64, &obs("a", "orders", path, 200));
    }
    s.score(T0 + 20.0, &obs("a", "cart", "/r", 200));
    let e = s.evictions();
    assert_eq!((e.templates, e.pairs, e.destinations), (2, 1, 1), "{e:?}");
}
