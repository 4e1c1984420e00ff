use super::*;

const T0: f64 = 1_795_731_300.0;

fn obs(key: &str, dest: &str, path: &str, status: u32) -> Observation<'static> {
    Observation {
        source_principal: key.to_owned().into(),
        source_ip: "10.0.0.1".into(),
        mtls: true,
        destination_workload: dest.to_owned().into(),
        method: "GET".into(),
        path: path.to_owned().into(),
        status,
        duration_ms: 10.0,
        response_bytes: 2_000,
        decision: if status == 403 { "deny" } else { "allow" }.into(),
        ..Default::default()
    }
}

fn config() -> ScoreConfig {
    ScoreConfig {
        warmup_secs: 600.0,
        ..Default::default()
    }
}

/// One request of each (principal, destination) every `every` seconds,
/// interleaved, from `from` to `to` (relative to T0); the highest score.
fn steady_all(s: &mut Scorer, who: &[(&str, &str)], (from, to): (f64, f64), every: f64) -> f64 {
    let (mut t, mut max, mut item) = (from, 0.0f64, false);
    while t < to {
        item = !item;
        let path = if item { "/api/orders/1" } else { "/api/orders" };
        for (k, (key, dest)) in who.iter().enumerate() {
            let at = t + every * k as f64 / who.len() as f64;
            max = max.max(s.score(T0 + at, &obs(key, dest, path, 200)).score);
        }
        t += every;
    }
    max
}

fn steady(s: &mut Scorer, key: &str, from: f64, to: f64, every: f64) -> f64 {
    steady_all(s, &[(key, "orders")], (from, to), every)
}

fn has(scored: &Scored, f: Feature) -> bool {
    scored.reasons.iter().any(|r| r.feature == f)
}

/// A scorer that saw half an hour of "a" calling orders every 2 s.
fn warmed() -> Scorer {
    let mut s = Scorer::new(config());
    steady(&mut s, "a", 0.0, 1800.0, 2.0);
    s
}

#[test]
fn warmup_is_flagged_by_record_time_and_has_no_score() {
    let mut s = Scorer::new(config());
    let first = s.score(T0, &obs("a", "orders", "/admin", 403));
    assert!(first.warmup);
    assert_eq!((first.score, first.reasons.len()), (0.0, 0), "{first:?}");
    assert!(s.score(T0 + 599.0, &obs("a", "orders", "/", 200)).warmup);
    assert!(!s.score(T0 + 601.0, &obs("a", "orders", "/", 200)).warmup);
    // Time never runs backwards.
    assert!(!s.score(T0, &obs("a", "orders", "/", 200)).warmup);
}

#[test]
fn steady_traffic_is_quiet() {
    let mut s = warmed();
    assert!(steady(&mut s, "a", 1800.0, 3600.0, 2.0) < 0.3);
}

#[test]
fn credential_stuffing_pages_with_its_reason() {
    let mut s = warmed();
    let mut last = None;
    for i in 0..600 {
        last = Some(s.score(
            T0 + 1800.0 + f64::from(i) * 0.5,
            &obs("a", "auth", "/api/login", 401),
        ));
    }
    let last = last.unwrap_or_else(|| Scored::quiet(false));
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
}

#[test]
fn enumeration_pages_with_its_reason() {
    let mut s = warmed();
    let mut last = Scored::quiet(false);
    for i in 0..120 {
        let path = format!("/scan{i}/x.php");
        last = s.score(T0 + 1800.0 + f64::from(i), &obs("a", "orders", &path, 404));
    }
    assert!(last.score >= 0.85, "{last:?}");
    assert!(
        has(&last, Feature::DistinctTemplates) || has(&last, Feature::NovelPathTemplate),
        "{last:?}"
    );
}

#[test]
fn a_trickle_of_large_responses_in_a_busy_pair_pages_each_time() {
    let mut s = Scorer::new(config());
    steady(&mut s, "a", 0.0, 1800.0, 0.5);
    for i in 0..10 {
        let t = 1800.0 + f64::from(i) * 30.0;
        steady(&mut s, "a", t, t + 30.0, 0.5);
        let mut large = obs("a", "orders", "/api/orders/1/statements", 200);
        large.response_bytes = 400_000;
        large.redactions.insert("iban".into(), 3);
        let scored = s.score(T0 + t + 29.9, &large);
        assert!(scored.score >= 0.85, "{i}: {scored:?}");
        assert!(has(&scored, Feature::ResponseBytes), "{scored:?}");
    }
    // The ordinary records between them stay ordinary.
    assert!(steady(&mut s, "a", 2100.0, 2160.0, 0.5) < 0.85);
}

#[test]
fn latency_is_the_destinations_health_not_its_callers_behaviour() {
    let mut s = Scorer::new(config());
    steady_all(
        &mut s,
        &[("a", "orders"), ("b", "orders")],
        (0.0, 1800.0),
        1.0,
    );
    let mut last = Scored::quiet(false);
    for i in 0..600 {
        let key = if i % 2 == 0 { "a" } else { "b" };
        let slow = Observation {
            duration_ms: 2_000.0,
            ..obs(key, "orders", "/api/orders/1", 200)
        };
        last = s.score(T0 + 1800.0 + f64::from(i) * 0.5, &slow);
        assert!(last.score < 0.5, "{i}: {last:?}");
    }
    assert!(last.health >= 0.85, "{last:?}");
    assert!(
        last.health_reasons
            .iter()
            .any(|r| matches!(r.feature, Feature::LatencyP95Ms | Feature::LatencyP50Ms)),
        "{last:?}"
    );
}

#[test]
fn five_xx_everyone_gets_are_the_destinations_one_caller_alone_gets_are_its_own() {
    let mut s = Scorer::new(config());
    let callers = [("a", "orders"), ("b", "orders"), ("c", "orders")];
    steady_all(&mut s, &callers, (0.0, 1800.0), 1.0);
    // A deploy: everyone gets 503s for a minute.
    let mut health = 0.0f64;
    for i in 0..180 {
        let key = ["a", "b", "c"][i % 3];
        let scored = s.score(
            T0 + 1800.0 + i as f64 / 3.0,
            &obs(key, "orders", "/api/orders/1", 503),
        );
        assert!(scored.score < 0.85, "{i}: {scored:?}");
        health = health.max(scored.health);
    }
    assert!(health >= 0.85, "{health}");
    steady_all(&mut s, &callers, (1860.0, 2700.0), 1.0);
    // Later only "a" gets them (it sends what the others do not).
    let mut last = Scored::quiet(false);
    for i in 0..180 {
        let key = ["a", "b", "c"][i % 3];
        let status = if key == "a" { 500 } else { 200 };
        let scored = s.score(
            T0 + 2700.0 + i as f64 / 3.0,
            &obs(key, "orders", "/api/orders/1", status),
        );
        if key == "a" {
            last = scored;
        }
    }
    assert!(has(&last, Feature::Status5xxRatio), "{last:?}");
    assert!(last.score >= 0.5, "{last:?}");
}

#[test]
fn scores_return_to_normal_when_behaviour_does() {
    let mut s = warmed();
    for i in 0..120 {
        let scored = s.score(
            T0 + 1800.0 + f64::from(i) * 0.5,
            &obs("a", "orders", "/admin/users", 403),
        );
        if i > 20 {
            assert!(scored.score >= 0.85, "{i}: {scored:?}");
        }
    }
    // Its ordinary requests a minute and a half later are ordinary again,
    // though its 15-minute windows still hold the burst.
    assert!(steady(&mut s, "a", 1950.0, 2700.0, 2.0) < 0.5);
}

#[test]
fn a_paged_download_does_not_page_its_principal_for_the_next_hours() {
    let mut s = warmed();
    let mut big = obs("a", "orders", "/api/orders", 200);
    big.response_bytes = 5_000_000;
    for i in 0..300 {
        s.score(T0 + 1800.0 + f64::from(i), &big);
    }
    assert!(s.score(T0 + 2100.0, &big).score >= 0.85);
    // Half an hour later, a somewhat larger response than usual: the hour
    // still holds the download, but it paged already.
    steady(&mut s, "a", 2101.0, 3600.0, 2.0);
    let mut larger = obs("a", "orders", "/api/orders/1", 200);
    larger.response_bytes = 10_000;
    let scored = s.score(T0 + 3600.0, &larger);
    let long = |r: &Reason| matches!(r.window, Some(WindowId::OneHour | WindowId::SixHours));
    assert!(
        scored.score < 0.85 && !scored.reasons.iter().any(long),
        "{scored:?}"
    );
}

#[test]
fn a_callers_ordinary_requests_are_not_paged_for_its_attack_elsewhere() {
    let mut s = Scorer::new(config());
    steady_all(
        &mut s,
        &[("a", "orders"), ("a", "cart")],
        (0.0, 1800.0),
        1.0,
    );
    let mut ordinary = 0.0f64;
    for i in 0..300 {
        let t = T0 + 1800.0 + f64::from(i);
        let attack = s.score(t, &obs("a", "auth", "/api/login", 401));
        if i > 30 {
            assert!(attack.score >= 0.85, "{i}: {attack:?}");
        }
        ordinary = ordinary.max(
            s.score(t + 0.5, &obs("a", "cart", "/api/orders/1", 200))
                .score,
        );
    }
    assert!(ordinary < 0.85, "{ordinary}");
}

#[test]
fn a_new_identity_stays_new_until_it_has_a_history() {
    let mut s = warmed();
    let mut scores = Vec::new();
    for i in 0..240 {
        let t = T0 + 1800.0 + f64::from(i) * 20.0;
        scores.push(s.score(t, &obs("stranger", "orders", "/api/orders/1", 200)));
    }
    // Elevated for its first hour (it has its 100 requests by then).
    assert!(scores[..170]
        .iter()
        .all(|s| s.score >= 0.85 && has(s, Feature::NewPrincipal)));
    assert!(scores[190..].iter().all(|s| !has(s, Feature::NewPrincipal)));
}

#[test]
fn a_known_workload_from_another_cluster_is_not_a_stranger() {
    let mut s = Scorer::new(config());
    steady(
        &mut s,
        "spiffe://east.example/ns/shop/sa/web",
        0.0,
        1800.0,
        2.0,
    );
    let west = s.score(
        T0 + 1800.0,
        &obs(
            "spiffe://west.example/ns/shop/sa/web",
            "orders",
            "/api/orders/1",
            200,
        ),
    );
    assert!(
        has(&west, Feature::NewPrincipal) && west.score < 0.85,
        "{west:?}"
    );
    let other = s.score(
        T0 + 1801.0,
        &obs(
            "spiffe://east.example/ns/dev/sa/shell",
            "orders",
            "/api/orders/1",
            200,
        ),
    );
    assert!(other.score >= 0.85, "{other:?}");
}

#[test]
fn a_new_identity_on_an_admin_route_weighs_more() {
    let mut s = warmed();
    let plain = s.score(T0 + 1800.0, &obs("x", "orders", "/api/orders/1", 200));
    let admin = s.score(T0 + 1800.0, &obs("y", "orders", "/admin/users", 200));
    assert!(admin.score > plain.score, "{admin:?} vs {plain:?}");
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

fn plaintext(ip: &str, dest: &str) -> Observation<'static> {
    let mut o = obs("", dest, "/api/pay", 200);
    (o.mtls, o.source_ip) = (false, ip.to_owned().into());
    o
}

#[test]
fn plaintext_in_a_permissive_mesh_pages_where_there_never_was_any() {
    let mut s = Scorer::new(config());
    // A legacy plaintext client of catalog, known since warm-up.
    for i in 0..900 {
        let t = T0 + f64::from(i) * 2.0;
        s.score(t, &obs("a", "orders", "/api/orders/1", 200));
        s.score(t + 1.0, &plaintext("10.9.0.1", "catalog"));
    }
    let o = plaintext("10.9.9.9", "payments");
    let scored = s.score(T0 + 1800.0, &o);
    assert_eq!(o.key(), "10.9.9.9");
    assert!(scored.score >= 0.85, "{scored:?}");
    assert!(
        has(&scored, Feature::PlaintextToNewDestination),
        "{scored:?}"
    );
    // Another pod of the legacy client: a new IP, to a destination used to it.
    let pod = s.score(T0 + 1801.0, &plaintext("10.9.0.2", "catalog"));
    assert!(pod.score < 0.85, "{pod:?}");
}

#[test]
fn plaintext_in_a_strict_mesh_pages_on_its_first_record() {
    let mut s = Scorer::new(ScoreConfig {
        mesh: MeshMode::Strict,
        ..config()
    });
    steady(&mut s, "a", 0.0, 1800.0, 2.0);
    let scored = s.score(T0 + 1800.0, &plaintext("10.9.9.9", "catalog"));
    assert!(scored.score >= 0.85, "{scored:?}");
    assert_eq!(scored.reasons[0].feature, Feature::PlaintextInStrictMesh);
}

#[test]
fn bytes_and_redactions_of_the_response() {
    let mut s = warmed();
    let mut big = obs("a", "orders", "/api/orders/1", 200);
    big.response_bytes = 50_000_000;
    big.redactions.insert("email".into(), 30);
    big.redactions.insert("phone".into(), 10);
    assert_eq!(big.redaction_count(), 40);
    let scored = s.score(T0 + 1800.0, &big);
    assert!(scored.score >= 0.85, "{scored:?}");
    assert!(has(&scored, Feature::ResponseBytes), "{scored:?}");
    let pii = |r: &&Reason| super::Group::of(r.feature) == super::Group::Pii;
    assert!(scored.reasons.iter().any(|r| pii(&r)), "{scored:?}");
}

/// A minute of 2 MB responses with 200 redactions every other second.
fn export(s: &mut Scorer, start: f64) -> f64 {
    let mut max = 0.0f64;
    for i in 0..30 {
        let mut o = obs("job", "customers", "/api/customers/export", 200);
        o.response_bytes = 2_000_000;
        o.redactions.insert("email".into(), 200);
        max = max.max(s.score(T0 + start + f64::from(i) * 2.0, &o).score);
    }
    max
}

#[test]
fn a_periodic_job_seen_in_warmup_is_expected_and_a_larger_one_is_not() {
    let mut s = Scorer::new(ScoreConfig {
        warmup_secs: 1800.0,
        ..config()
    });
    // The job's pair is otherwise quiet: a small request a minute.
    let mut t = 0.0;
    let mut export_at = 600.0;
    let mut runs = Vec::new();
    while t < 3.0 * 3600.0 {
        if t >= export_at {
            runs.push((export_at, export(&mut s, export_at)));
            export_at += 1800.0;
        }
        steady_all(
            &mut s,
            &[("job", "customers"), ("a", "orders")],
            (t, t + 60.0),
            60.0,
        );
        steady(&mut s, "a", t + 1.0, t + 60.0, 2.0);
        t += 60.0;
    }
    for (at, score) in &runs[1..] {
        assert!(*score < 0.85, "the run at {at}: {score}");
    }
    // Ten times the data, off time: judged in full.
    let mut o = obs("job", "customers", "/api/customers/export", 200);
    o.response_bytes = 200_000_000;
    o.redactions.insert("email".into(), 20_000);
    let larger = s.score(T0 + t + 900.0, &o);
    assert!(larger.score >= 0.85, "{larger:?}");
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
    let mut s = warmed();
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

#[test]
fn features_are_kept_only_when_asked() {
    let mut s = warmed();
    s.score(T0 + 1800.0, &obs("a", "orders", "/api/orders/1", 200));
    assert!(s.features().is_empty());
    let mut kept = Scorer::new(ScoreConfig {
        keep_features: true,
        ..config()
    });
    kept.score(T0, &obs("a", "orders", "/api/orders/1", 200));
    assert_eq!(kept.features().len(), N_FEATURES);
    let bytes = kept.features()[AT_RECORD];
    assert!((bytes - 2_000f64.ln_1p()).abs() < 1e-9, "{bytes}");
}
