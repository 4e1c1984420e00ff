//! Person names: whether a value looks like one (for `name`-like keys,
//! whose values are just as often products, services or files), and names
//! in free text after a cue — a greeting (`Dear Maria Schneider,`), a title
//! (`Frau Dr. Weber`), an introduction (`my name is …`) or a signature
//! (`Best regards,\nMaria`) — where a weak cue also needs a known given
//! name (`given_names.txt`, from public census data).

use std::ops::Range;

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

/// Words after a greeting that are no names (`Dear Customer`, `Hi all`).
const NOT_NAMES: &[&str] = &[
    "team",
    "all",
    "there",
    "everyone",
    "everybody",
    "customer",
    "customers",
    "sir",
    "madam",
    "support",
    "world",
    "folks",
    "guys",
    "friends",
    "colleagues",
    "user",
    "users",
    "admin",
    "valued",
    "again",
    "kunde",
    "kundin",
    "kunden",
    "zusammen",
    "tous",
    "todos",
    "equipo",
    "tutti",
    "allemaal",
    "leute",
    "partner",
    "member",
    "members",
    "client",
    "clients",
    "sales",
    "it",
    "hr",
    "the",
    "and",
    "from",
    "this",
    "thanks",
    "thank",
    "please",
    "welcome",
    "good",
    "new",
    "our",
    "your",
    "my",
    "dear",
    "hello",
    "hi",
    "test",
    "mister",
    "miss",
    "sirs",
    "ladies",
    "gentlemen",
    "monsieur",
    "madame",
    "señor",
    "señora",
    "herr",
    "frau",
    "damen",
    "herren",
    "ops",
    "dev",
];

/// Titles before a name (`Dear Mr. Smith`, `Frau Dr. Weber`).
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "herr", "frau", "mme", "mlle", "m", "sr", "sra",
    "srta", "sig", "sig.ra", "signora", "signor", "dott", "dott.ssa", "dhr", "mevr", "pan", "pani",
];

fn given_names() -> &'static [&'static str] {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names: Vec<&str> = include_str!("given_names.txt")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        names.sort_unstable();
        names
    })
}

/// Whether `word` is a known given name (any case).
fn is_given_name(word: &str) -> bool {
    let lower = word.to_lowercase();
    given_names().binary_search(&lower.as_str()).is_ok()
}

/// What the cue before a name is (each has its own detector pattern).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cue {
    /// `Dear`, `Hallo`, `Dzień dobry`.
    Greeting,
    /// `Mr.`, `Frau`, `Sra.`.
    Title,
    /// `my name is`, `je m'appelle`: a strong one.
    Introduction,
    /// `I am`, `I'm`, `ich bin`, `sono`: only with a known given name.
    Weak,
    /// A closing line, then the name on its own line.
    Signature,
}

/// A word of a script without case (CJK): of up to six letters, so a
/// name (`松本`, `くみ子`) and not a sentence glued together.
fn caseless_word(word: &str) -> bool {
    let mut n = 0;
    for c in word.chars() {
        if !c.is_alphabetic() || c.is_uppercase() || c.is_lowercase() {
            return false;
        }
        n += 1;
    }
    (1..=6).contains(&n)
}

/// A name word: capitalised letters with `'`, `’`, `-`, or an initial
/// (`J.`); particles (`van`) only inside a name; a caseless word (CJK)
/// where the cue is a strong one.
fn name_word(word: &str, first: bool, caseless: bool) -> bool {
    if caseless && caseless_word(word) {
        return true;
    }
    let mut chars = word.chars();
    let Some(head) = chars.next() else {
        return false;
    };
    let initial = head.is_uppercase() && word.chars().count() == 2 && word.ends_with('.');
    let letters = word
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, '\'' | '’' | '-'));
    initial || (letters && (head.is_uppercase() || (!first && PARTICLES.contains(&word))))
}

/// The name after the cue the detector matched at `span`: up to four name
/// words on the cue's line, checked against what the cue needs.
pub(super) fn after_cue(hay: &[u8], span: &Range<usize>, kind: Cue) -> Option<Range<usize>> {
    // In scripts without case only a strong cue can tell a name.
    let caseless = matches!(kind, Cue::Greeting | Cue::Title | Cue::Introduction);
    let rest = hay.get(span.end..(span.end + 96).min(hay.len()))?;
    let rest = match std::str::from_utf8(rest) {
        Ok(text) => text,
        Err(e) => std::str::from_utf8(rest.get(..e.valid_up_to())?).ok()?,
    };
    let mut words: Vec<(usize, &str)> = Vec::with_capacity(4);
    let mut at = 0;
    for word in rest.split(' ') {
        // Punctuation after a word ends the name (`Dear Maria Schneider,`).
        let end = word
            .find([
                ',', ';', ':', '!', '?', '\n', '\r', ')', '"', '、', '。', '，', '！', '？',
            ])
            .unwrap_or(word.len());
        let bare = word.get(..end).unwrap_or_default();
        // A full stop after a word (not an initial) ends the sentence.
        let stop = bare.strip_suffix('.').filter(|b| b.chars().count() > 1);
        let bare = stop.unwrap_or(bare);
        let title = TITLES.contains(&bare.to_lowercase().trim_end_matches('.'));
        if words.is_empty() && title && kind != Cue::Signature {
            at += word.len() + 1; // `Dear Mr. Smith`: the title stays
            continue;
        }
        if bare.is_empty() || !name_word(bare, words.is_empty(), caseless) || words.len() == 4 {
            break;
        }
        words.push((at, bare));
        at += word.len() + 1;
        if end < word.len() || (stop.is_some() && !title) {
            break;
        }
    }
    while words.last().is_some_and(|(_, w)| PARTICLES.contains(w)) {
        words.pop();
    }
    let (first_at, first) = *words.first()?;
    let (last_at, last) = *words.last()?;
    let plain = first.to_lowercase();
    let ok = match kind {
        Cue::Greeting => !NOT_NAMES.contains(&plain.as_str()),
        Cue::Title | Cue::Introduction => !NOT_NAMES.contains(&plain.as_str()),
        Cue::Weak => is_given_name(first),
        Cue::Signature => {
            // The name is the line: nothing else follows on it.
            let line_end = rest.get(last_at + last.len()..).unwrap_or_default();
            let alone = line_end.trim_start_matches([' ', '\t']).is_empty()
                || line_end.starts_with(['\n', '\r']);
            alone
                && (is_given_name(first)
                    || (words.len() >= 2 && !NOT_NAMES.contains(&plain.as_str())))
        }
    };
    ok.then(|| span.end + first_at..span.end + last_at + last.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn detect(text: &str, cue: &str, kind: Cue) -> Option<String> {
        let start = text.find(cue).unwrap();
        after_cue(text.as_bytes(), &(start..start + cue.len()), kind).map(|r| text[r].to_owned())
    }

    #[test]
    fn names_after_cues() {
        use Cue::*;
        for (text, cue, kind, name) in [
            (
                "Dear Maria Schneider, thanks",
                "Dear ",
                Greeting,
                Some("Maria Schneider"),
            ),
            ("Dear Mr. Smith,", "Dear ", Greeting, Some("Smith")),
            ("Hallo Jürgen!", "Hallo ", Greeting, Some("Jürgen")),
            ("Dear Customer,", "Dear ", Greeting, None),
            ("Hi all, the build is green", "Hi ", Greeting, None),
            (
                "my name is Anna van Dijk and",
                "my name is ",
                Introduction,
                Some("Anna van Dijk"),
            ),
            ("I am Linda.", "I am ", Weak, Some("Linda")),
            ("I am Happy to help", "I am ", Weak, None),
            ("Frau Dr. Weber kommt", "Frau ", Title, Some("Weber")),
            (
                "Best regards,\nMaria Schneider\nACME",
                "Best regards,\n",
                Signature,
                Some("Maria Schneider"),
            ),
            (
                "Best regards,\nThe Support Team",
                "Best regards,\n",
                Signature,
                None,
            ),
            ("Thanks,\nLinda", "Thanks,\n", Signature, Some("Linda")),
            ("Thanks,\nsee you", "Thanks,\n", Signature, None),
            (
                "my name is 稔 山口 and",
                "my name is ",
                Introduction,
                Some("稔 山口"),
            ),
            ("I am 山口", "I am ", Weak, None),
        ] {
            assert_eq!(detect(text, cue, kind).as_deref(), name, "{text:?}");
        }
        assert!(is_given_name("MARIA") && !is_given_name("grace"));
    }

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
