//! `name` is a person's only in a person's object: sibling keys (`sku`,
//! `price`, `replicas` against `email`, `phone`, `dob`) and the key the
//! object is under (`product`, `service` against `user`, `customer`)
//! decide, and a value that is not shaped like a name never is one.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn things_keep_their_names() {
    for json in [
        r#"{"product": {"name": "Ultra Widget", "sku": "UW-1", "price": 19.99}}"#,
        r#"{"service": {"name": "orders-api", "replicas": 3}}"#,
        r#"{"plan": {"name": "Pro Plan", "interval": "month"}}"#,
        r#"{"repository": {"name": "Payments Gateway", "stars": 12}}"#,
        r#"{"files": [{"name": "Quarterly Report", "size": 2048}]}"#,
        r#"{"team": {"name": "Platform Team"}}"#,
        r#"{"name": "nightly-export", "kind": "CronJob"}"#,
    ] {
        assert_eq!(found(json, Content::Json), [], "{json}");
    }
}

#[test]
fn keys_that_disagree_leave_it_to_the_key_above() {
    // `full_name` says person, `stargazers_count` says thing: the
    // `repository` above decides.
    let json = r#"{"repository": {"name": "Orders Service", "full_name": "acme/orders-service",
                   "stargazers_count": 12}, "sender": {"name": "Maria Schneider",
                   "full_name": "Maria Schneider", "language": "de"}}"#;
    assert_eq!(
        found(json, Content::Json),
        pairs(&[("Maria Schneider", "PERSON"), ("Maria Schneider", "PERSON")])
    );
}

#[test]
fn people_lose_theirs() {
    assert_eq!(
        found(
            r#"{"user": {"name": "Maria Schneider", "role": "admin"},
                "contact": {"name": "Ultra Widget", "email": "x"},
                "items": [{"name": "Blue Mug", "sku": "M-2"}],
                "name": "Jan de Vries", "owner": "Jane Roe", "author": "ci-bot"}"#,
            Content::Json
        ),
        pairs(&[
            ("Maria Schneider", "PERSON"),
            ("Ultra Widget", "PERSON"),
            ("Jan de Vries", "PERSON"),
            ("Jane Roe", "PERSON"),
        ])
    );
    assert_eq!(
        found("name=Maria+Schneider&name=orders-api", Content::Form),
        pairs(&[("Maria+Schneider", "PERSON")])
    );
}
