//! The engine on any input, as every kind of content: no panic, no hang,
//! well-formed findings (see `common::check`).
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use observatory_redact::fields::redact_body;
use observatory_redact::Content;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let input = String::from_utf8_lossy(rest);
    let content = match selector % 9 {
        0 => Content::Json,
        1 => Content::Form,
        2 => Content::Query,
        3 => Content::Header("authorization"),
        4 => Content::Header("cookie"),
        5 => Content::Header("x-api-key"),
        6 => Content::Auto("application/json; charset=utf-8"),
        7 => Content::Auto(""),
        _ => Content::Text,
    };
    let redactors = common::redactors();
    if let Some(r) = redactors.get(usize::from(selector / 9) % redactors.len().max(1)) {
        let out = r.redact(&input, content);
        common::check(&input, &out);
        // What a record keeps of a body: redacted, then cut on a boundary.
        let mut counts = BTreeMap::new();
        let excerpt = redact_body(r, rest.to_vec(), "", usize::from(selector) * 4, &mut counts);
        assert!(excerpt.len() <= usize::from(selector) * 4);
    }
});
