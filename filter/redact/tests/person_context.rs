//! Person names in free text, found by their context: greetings, titles,
//! introductions, signatures and labels; where the cue is weak (`I am`,
//! a one-word signature) only with a known given name.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn names_after_cues() {
    let mail = "Dear Maria Schneider,\n\nmy name is Jan de Vries and I am Linda. \
                Please call Frau Dr. Weber.\n\nBest regards,\nThomas Becker\nACME GmbH";
    assert_eq!(
        found(mail, Content::Text),
        pairs(&[
            ("Maria Schneider", "PERSON"),
            ("Jan de Vries", "PERSON"),
            ("Linda", "PERSON"),
            ("Weber", "PERSON"),
            ("Thomas Becker", "PERSON"),
        ])
    );
    assert_eq!(
        found("Name: Siobhán O'Brien\nPlan: Pro", Content::Text),
        pairs(&[("Siobhán O'Brien", "PERSON")])
    );
    assert_eq!(
        found(r#"{"body": "Hallo Jürgen, danke!"}"#, Content::Json),
        pairs(&[("Jürgen", "PERSON")])
    );
}

#[test]
fn cues_without_a_name() {
    for text in [
        "Dear Customer, your order shipped.",
        "Hi all, the build is green. Hello World!",
        "I am Happy to help. I'm Back.",
        "Thanks,\nThe Support Team",
        "Best,\nsee you tomorrow",
        "Name: orders-api",
    ] {
        assert_eq!(found(text, Content::Text), [], "{text:?}");
    }
}

#[test]
fn sql_values_take_the_rule_of_their_column() {
    let sql = "DETAIL: INSERT INTO users (name, email, phone) VALUES ('Bianca Mcneil', \
               'lisa@example.org', '4554373163');";
    assert_eq!(
        found(sql, Content::Text),
        pairs(&[
            ("Bianca Mcneil", "PERSON"),
            ("lisa@example.org", "EMAIL"),
            ("4554373163", "PHONE"),
        ])
    );
}
