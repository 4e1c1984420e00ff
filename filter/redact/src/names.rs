//! Person names: whether a value looks like one (for `name`-like keys,
//! whose values are just as often products, services or files).

/// Lower-case particles inside names (`Ludwig van Beethoven`).
const PARTICLES: &[&str] = &[
    "von", "van", "de", "der", "den", "del", "della", "di", "da", "dos", "das", "du", "la", "le",
    "bin", "binti", "al", "el", "y", "e", "zu", "ter", "ten", "af", "av",
];

/// Whether `value` reads as a person's name: one to five words, each
/// capitalised (or a particle such as `van`), of letters with `'`, `’`, `-`
/// and `.` (`Jean-Luc`, `O'Brien`, `J.`), or a run of caseless letters (a
/// name in CJK script). `orders-api`, `Ultra Widget 2`, `report.pdf` and
/// `jdoe` are not; `Ultra Widget` is, and its object must tell.
pub(super) fn looks_like_name(value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    if text.is_empty() || text.len() > 64 {
        return false;
    }
    let mut words = 0;
    let mut capitalised = false;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        words += 1;
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return false;
        };
        let rest_ok = word
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, '\'' | '’' | '-' | '.'));
        if !rest_ok || word.ends_with('-') {
            return false;
        }
        if word.contains('.') && !(word.ends_with('.') && word.chars().count() <= 4) {
            return false; // `report.pdf`, not `J.` or `Dr.`
        }
        if first.is_uppercase() {
            capitalised = true;
        } else if first.is_lowercase() {
            if !PARTICLES.contains(&word) {
                return false;
            }
        } else if first.is_alphabetic() {
            // Caseless scripts: a CJK name is one or two short words.
            capitalised = word.chars().count() <= 6;
        } else {
            return false;
        }
    }
    (1..=5).contains(&words) && capitalised
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn name_shapes() {
        for yes in [
            "Jane",
            "Jane Doe",
            "Jean-Luc Picard",
            "Siobhán O'Brien",
            "Ludwig van Beethoven",
            "J. R. Tolkien",
            "Dr. Jane Doe",
            "ZOË MÜLLER",
            "山田 太郎",
            "Ultra Widget",
        ] {
            assert!(looks_like_name(yes.as_bytes()), "{yes}");
        }
        for no in [
            "orders-api",
            "jdoe",
            "Ultra Widget 2",
            "report.pdf",
            "billing_v2",
            "acme/api",
            "",
            "Jane@example.com",
            "main",
            "-",
        ] {
            assert!(!looks_like_name(no.as_bytes()), "{no}");
        }
    }
}
