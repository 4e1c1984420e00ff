//! Input dense with rejected candidates (card-shaped numbers that fail
//! Luhn, one after another) can use up the search's budget for searching
//! again after each; past that point a value overlapping a rejected
//! candidate may be missed. The scan then says where it stopped being
//! complete, and a recorded value is cut there: a card right after such a
//! list is found, or not kept.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;

use observatory_redact::fields::{redact_body, redact_field, TRUNCATED};
use observatory_redact::Content;

const CARD: &str = "4242 4242 4242 4242";

/// `n` card-shaped numbers that fail Luhn, space-separated, then a card.
fn list_then_card(n: usize) -> String {
    let mut text = String::from("refs");
    for i in 0..n {
        let mut number = format!("4111 1111 1111 {:04}", 1112 + i % 8);
        if luhn_ok(&number) {
            number.replace_range(18..19, "3");
        }
        text.push(' ');
        text.push_str(&number);
    }
    text.push(' ');
    text.push_str(CARD);
    text
}

/// `body` as a record keeps it (up to 64 KiB).
fn recorded_body(body: &str, content_type: &str) -> String {
    let mut counts = BTreeMap::new();
    let redactor = support::redactor();
    redact_body(
        &redactor,
        body.as_bytes().to_vec(),
        content_type,
        1 << 16,
        &mut counts,
    )
}

fn luhn_ok(number: &str) -> bool {
    let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                (d * 2) % 9 + u32::from(d == 9) * 9
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[test]
fn a_card_after_a_dense_list_is_found_or_the_record_is_cut_before_it() {
    let redactor = support::redactor();
    let mut cut = 0;
    for n in 0..120 {
        let text = list_then_card(n);
        let json = serde_json::json!({ "note": text }).to_string();
        for (input, content) in [(&text, Content::Text), (&json, Content::Json)] {
            let out = redactor.redact(input, content);
            let found = out.findings.iter().any(|f| &input[f.start..f.end] == CARD);
            assert!(
                found || out.truncated,
                "n = {n}: the card is missed and the scan says it is complete"
            );
            if !found {
                assert!(out.scanned() <= input.find(CARD).unwrap(), "n = {n}");
                cut += 1;
            }
            let mut counts = BTreeMap::new();
            let field = redact_field(&redactor, input, content, &mut counts);
            assert!(!field.contains(CARD), "n = {n}: {field}");
            assert_eq!(field.ends_with(TRUNCATED), out.truncated, "n = {n}");
            let body = recorded_body(input, "");
            assert!(!body.contains(CARD), "n = {n}: {body}");
        }
    }
    // The lists do use the budget up for some lengths (else this test
    // would check nothing).
    assert!(cut > 0);
}

#[test]
fn a_card_in_a_decoded_value_after_a_dense_list_is_not_kept_either() {
    let redactor = support::redactor();
    for n in 0..120 {
        // An escape makes the walker decode the value and search the copy
        // on its own budget; the padding gives the pass over the whole
        // input budget to spare, so only the copy's search runs out.
        let json = serde_json::json!({
            "note": format!("\u{e9} {}", list_then_card(n)),
            "pad": "x".repeat(8192),
        })
        .to_string()
        .replace('\u{e9}', "\\u00e9");
        let mut counts = BTreeMap::new();
        let field = redact_field(&redactor, &json, Content::Json, &mut counts);
        assert!(!field.contains(CARD), "n = {n}: {field}");
        // A `+`-encoded pair in a log line is decoded and searched alike.
        let line = format!("GET /pay?refs={}", list_then_card(n).replace(' ', "+"));
        let field = redact_field(&redactor, &line, Content::Text, &mut counts);
        assert!(!field.contains(&CARD.replace(' ', "+")), "n = {n}: {field}");
    }
}

#[test]
fn a_long_list_of_separate_values_stays_completely_searched() {
    // One number per JSON string: where the pass over the whole body runs
    // out of budget, each value it passed over is searched again on its
    // own, so the record is not cut and the card among them is found.
    let redactor = support::redactor();
    let mut refs: Vec<String> = (0..300)
        .map(|i| format!("4111 1111 1111 {}", 1112 + i % 7))
        .collect();
    refs.push(CARD.to_owned());
    refs.extend((0..50).map(|i| format!("4111 1111 1111 {}", 1112 + i % 7)));
    let body = serde_json::json!({ "refs": refs }).to_string();
    let out = redactor.redact(&body, Content::Json);
    assert!(!out.truncated);
    assert_eq!(out.scanned(), body.len());
    let found: Vec<&str> = out.findings.iter().map(|f| &body[f.start..f.end]).collect();
    assert_eq!(found, [CARD]);
    let recorded = recorded_body(&body, "application/json");
    assert!(!recorded.contains(CARD) && !recorded.ends_with(TRUNCATED));
}
