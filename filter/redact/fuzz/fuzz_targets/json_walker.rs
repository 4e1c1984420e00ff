//! The JSON walker: any bytes as `Content::Json` (malformed and truncated
//! JSON falls back to text), and for input that is valid JSON the output
//! must be valid JSON too, whatever was replaced.
#![no_main]

use libfuzzer_sys::fuzz_target;
use observatory_redact::Content;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let valid = serde_json::from_str::<serde_json::Value>(input).is_ok();
    for r in common::redactors() {
        let out = r.redact(input, Content::Json);
        common::check(input, &out);
        if valid && !out.truncated {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&out.text) {
                panic!("valid JSON became invalid ({e}): {input:?} -> {:?}", out.text);
            }
        }
    }
});
