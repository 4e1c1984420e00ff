//! Names in scripts without case (CJK) after a strong cue (an
//! introduction, greeting or title): one or two short words, up to the
//! next punctuation or Latin word. After a weak cue (`I am`) case is what
//! tells a name, so a caseless word there is left alone.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn caseless_names_after_strong_cues() {
    assert_eq!(
        found(
            "my name is くみ子 松本 and my email is esato@example.net",
            Content::Text
        ),
        pairs(&[("くみ子 松本", "PERSON"), ("esato@example.net", "EMAIL")])
    );
    assert_eq!(
        found("Dear 山田 太郎、ご連絡ありがとうございます", Content::Text),
        pairs(&[("山田 太郎", "PERSON")])
    );
}

#[test]
fn not_after_weak_cues_nor_as_a_sentence() {
    for text in ["I am 学生 here", "my name is ありがとうございました"] {
        assert_eq!(found(text, Content::Text), [], "{text}");
    }
}
