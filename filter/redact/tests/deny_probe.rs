//! A probe for some types ([`Redactor::probe`]) clears an input only when
//! the whole redactor finds none of them in it: checked over every sample
//! of both labelled corpora, for each built-in type alone and for sets of
//! them, and on the inputs where its narrower search could differ (values
//! other key rules claim, suppressed number shapes, decoded values, keys
//! spelled in other cases and with separators, a pass out of budget).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use observatory_redact::{Content, PiiType, RedactionConfig, Redactor};
use serde::Deserialize;

#[derive(Deserialize)]
struct Sample {
    kind: String,
    header: Option<String>,
    text: String,
}

fn content(s: &Sample) -> Content<'_> {
    match s.kind.as_str() {
        "json" => Content::Json,
        "form" => Content::Form,
        "query" => Content::Query,
        "header" => Content::Header(s.header.as_deref().unwrap()),
        _ => Content::Text,
    }
}

fn samples() -> Vec<Sample> {
    [
        include_str!("corpus/redaction.jsonl"),
        include_str!("corpus2/corpus.jsonl"),
    ]
    .iter()
    .flat_map(|corpus| corpus.lines())
    .map(|line| serde_json::from_str(line).unwrap())
    .collect()
}

#[test]
fn a_probe_never_clears_what_the_whole_scan_finds() {
    let redactor = support::redactor();
    let samples = samples();
    let mut sets: Vec<Vec<PiiType>> = PiiType::BUILTIN.iter().map(|t| vec![t.clone()]).collect();
    sets.push(vec![PiiType::CreditCard, PiiType::UsSsn]);
    sets.push(vec![PiiType::Email, PiiType::Phone, PiiType::Person]);
    sets.push(vec![
        PiiType::Iban,
        PiiType::ApiKey,
        PiiType::Jwt,
        PiiType::Password,
    ]);
    for set in &sets {
        let probe = redactor.probe(set).unwrap();
        let (mut without, mut cleared) = (0, 0);
        for s in &samples {
            let found = redactor
                .findings(&s.text, content(s))
                .iter()
                .any(|f| set.contains(&f.kind));
            let maybe = probe.may_hold(&s.text, content(s));
            assert!(
                maybe || !found,
                "{set:?}: the probe cleared a {} sample the whole scan finds them in: {:?}",
                s.kind,
                s.text
            );
            if !found {
                without += 1;
                cleared += usize::from(!maybe);
            }
        }
        println!("{set:?}: cleared {cleared} of {without} samples without them");
        // A probe that says "maybe" to everything would pass the check above.
        assert!(
            cleared * 10 >= without * 6,
            "{set:?}: cleared only {cleared} of {without}"
        );
    }
}

fn maybe(types: &[PiiType], input: &str, content: Content<'_>) -> bool {
    support::redactor()
        .probe(types)
        .unwrap()
        .may_hold(input, content)
}

#[test]
fn values_other_rules_claim_or_suppress_are_still_searched() {
    let ssn = [PiiType::UsSsn];
    // The whole scan calls these a phone number and an identifier; the
    // probe cannot tell without the other types, so it says "maybe" and
    // the caller scans whole.
    assert!(maybe(&ssn, r#"{"phone": "078-05-1120"}"#, Content::Json));
    assert!(maybe(&ssn, r#"{"order_id": "078-05-1120"}"#, Content::Json));
    assert!(maybe(&ssn, "order number 078-05-1120", Content::Text));
    // The walk is the whole scan's: under `"ssn": {…}` an object that a
    // person's key holds still inherits the SSN rule.
    let nested = r#"{"ssn": {"customer": {"x": "abc"}}}"#;
    assert!(support::found(nested, Content::Json).contains(&("abc".into(), "US_SSN".into())));
    assert!(maybe(&ssn, nested, Content::Json));
    // Its own type's key rule and its own type's values count.
    assert!(maybe(&ssn, r#"{"ssn": "078051120"}"#, Content::Json));
    assert!(maybe(&ssn, r#"{"note": "ssn 078-05-1120"}"#, Content::Json));
    // Found only after decoding: JSON escapes, a form's `+`.
    assert!(maybe(
        &ssn,
        r#"{"n": "\u0030\u0037\u0038-05-1120"}"#,
        Content::Json
    ));
    assert!(maybe(
        &[PiiType::CreditCard],
        "card=4111+1111+1111+1111",
        Content::Form
    ));
    // … and a `key=value` pair's `+` or `%XX` inside a JSON string.
    let pair = r#"{"note": "x=4111+1111+1111+1111"}"#;
    assert!(support::found(pair, Content::Json)
        .iter()
        .any(|(_, ty)| ty == "CREDIT_CARD"));
    assert!(maybe(&[PiiType::CreditCard], pair, Content::Json));
    let pair = r#"{"note": "n=078%2D05%2D1120"}"#;
    assert!(support::found(pair, Content::Json)
        .iter()
        .any(|(_, ty)| ty == "US_SSN"));
    assert!(maybe(&ssn, pair, Content::Json));
    // A key can start anywhere: JSON that did not parse is searched from
    // where it stopped, here after the number `078-05-1120`, so `tel:`
    // is a phone key there.
    let glued = "078-05-1120tel: Dear ";
    assert!(support::found(glued, Content::Json).contains(&("Dear".into(), "PHONE".into())));
    assert!(maybe(&[PiiType::Phone], glued, Content::Json));
    // Clean of it: cleared, though other PII is there.
    assert!(!maybe(
        &ssn,
        r#"{"name": "Jane Doe", "email": "jane@example.com", "total": 12.5, "id": 12345}"#,
        Content::Json
    ));
    assert!(!maybe(
        &[PiiType::Email],
        "card 4111 1111 1111 1111",
        Content::Text
    ));
}

#[test]
fn a_pass_out_of_budget_for_searching_again_says_maybe() {
    // Rejected SSN candidates (area 000) until the pass may no longer
    // search again after each: a valid one behind them could have been
    // passed over, so the probe does not clear the input.
    let input = "000-12-3456 ".repeat(200);
    let redactor = support::redactor();
    assert!(redactor.findings(&input, Content::Text).is_empty());
    assert!(maybe(&[PiiType::UsSsn], &input, Content::Text));
    // A few of them fit the budget and are cleared.
    assert!(!maybe(
        &[PiiType::UsSsn],
        &"000-12-3456 ".repeat(3),
        Content::Text
    ));
}

#[test]
fn custom_types_are_probed_and_disabled_ones_refused() {
    let cfg: RedactionConfig = serde_json::from_str(
        r#"{"custom": [{"type": "EMPLOYEE_ID", "pattern": "EMP-[0-9]{6}"}],
            "types": {"IPV4": {"enabled": false}}}"#,
    )
    .unwrap();
    let redactor = Redactor::new(&cfg).unwrap();
    let employee = redactor.enabled_type("EMPLOYEE_ID").unwrap();
    let probe = redactor.probe(&[employee]).unwrap();
    assert!(probe.may_hold("by EMP-123456 today", Content::Text));
    assert!(!probe.may_hold("by jane@example.com today", Content::Text));
    let err = redactor.probe(&[PiiType::Ipv4]).unwrap_err();
    assert_eq!(err.field, "redaction");
    assert!(err.problem.contains("IPV4"), "{}", err.problem);
}

mod generated {
    use std::sync::OnceLock;

    use super::*;
    use proptest::prelude::*;
    use support::contents;

    /// Inputs built of what the walk and the detectors react to: keys of
    /// several rules (the probe's types and others), values of several
    /// types, rejected shapes, escapes and encodings, JSON punctuation.
    fn input() -> impl Strategy<Value = String> {
        proptest::string::string_regex(concat!(
            r#"(\{|\}|\[|\]|"|:|,|=|&|;| |\n|"ssn"|"phone"|"order_id"|"customer"|"name"|"#,
            r#""password"|"value"|"card"|"email"|"version"|ssn=|tel: |Dear |SSN |"#,
            r#""S_s-N"|"Social Security\.number"|"PHONE-Number"|Pass_Word=|"e\.mail"|"#,
            r#"my ssn: |"customer_ssn"|\tssn\t:|"name_of_product"|hotel: |true|0778|"#,
            r#"078-05-1120|078 05 1120|078051120|000-12-3456|4111 1111 1111 1111|"#,
            r#"4111\+1111\+1111\+1111|4111111111111112|%2D|\\u0030|\\u002d|jane@example\.com|"#,
            r#"Jane Doe|\+1 415 555 2671|030 1234 5678|DE89370400440532013000|10\.0\.0\.1|"#,
            r#"Chrome/126\.0\.0\.0|eyJhbGciOiJub25lIn0\.eyJzdWIiOiIxIn0\.|AKIAIOSFODNN7EXAMPLE){0,40}"#,
        ))
        .unwrap()
    }

    fn sets() -> impl Strategy<Value = Vec<PiiType>> {
        proptest::sample::subsequence(PiiType::BUILTIN.to_vec(), 1..=3)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn a_probe_never_clears_a_generated_input_the_whole_scan_finds_them_in(
            text in input(), set in sets(), content in contents()
        ) {
            static REDACTOR: OnceLock<Redactor> = OnceLock::new();
            let redactor = REDACTOR.get_or_init(support::redactor);
            let found = redactor
                .findings(&text, content)
                .iter()
                .any(|f| set.contains(&f.kind));
            if found {
                prop_assert!(redactor.probe(&set).unwrap().may_hold(&text, content));
            }
        }
    }
}
