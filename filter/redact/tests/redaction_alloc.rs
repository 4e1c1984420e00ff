//! "No allocation when nothing is found": redacting input in which no
//! detector or key rule matches (JSON, form, text, headers) allocates
//! nothing once the engine is warm. (A match that a key then suppresses,
//! such as a dotted quad under `version`, costs one allocation.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use observatory_redact::{Content, RedactionConfig, Redactor};

/// Counts this thread's allocations.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn clean_input_allocates_nothing() {
    let r = Redactor::new(&RedactionConfig::default()).unwrap();
    let inputs = [
        (
            r#"{"id": "550e8400-e29b-41d4-a716-446655440000", "ts": 1700000000123,
               "sha": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "version": "10.2.0.1",
               "items": [{"sku": "SKU-1", "qty": 2, "price": "19.99"}], "ok": true, "n": null}"#,
            Content::Json,
        ),
        (
            "q=shoes&page=2&sort=price&order_id=4242424242424242",
            Content::Form,
        ),
        ("/search?q=shoes&page=2", Content::Query),
        (
            "2024-01-15T10:30:00Z INFO request_id=550e8400-e29b-41d4-a716-446655440000 \
             path=/api/v2/orders status=200 took=12ms version=1.2.3",
            Content::Text,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64)",
            Content::Header("user-agent"),
        ),
        ("theme=dark; lang=en", Content::Header("cookie")),
    ];
    for (input, content) in inputs {
        let out = r.redact(input, content); // warms the regex cache
        assert!(out.findings.is_empty(), "{input}: {:?}", out.findings);
        drop(out);
        assert_eq!(allocations(|| drop(r.redact(input, content))), 0, "{input}");
    }
}

#[test]
fn redactor_is_shareable() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Redactor>();
}
