//! Validators: turn a pattern candidate into a finding, or reject it.
//!
//! The patterns in [`super::detect`] are deliberately loose so that one
//! small automaton covers every detector; precision comes from here —
//! checksums (Luhn, mod-97), number ranges, issuer and country tables, JSON
//! in a JWT header, and the bytes around a candidate (a card number glued to
//! more digits is an order number, not a card). Each validator takes the
//! haystack and the candidate span and returns the span of the finding,
//! which may be shorter than the candidate (a phone number followed by an
//! unrelated number).

use std::ops::Range;

type Span = Range<usize>;

/// Bytes that continue a number: a candidate glued to `.5`, `-12` or `/3`
/// is part of a longer token (a version, a date, a fraction).
const NUMBER_GLUE: &[u8] = b".-/";

fn at(hay: &[u8], i: usize) -> Option<u8> {
    hay.get(i).copied()
}

fn before(hay: &[u8], i: usize, back: usize) -> Option<u8> {
    i.checked_sub(back).and_then(|j| at(hay, j))
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_digit(b: Option<u8>) -> bool {
    b.is_some_and(|b| b.is_ascii_digit())
}

/// True when `span` is a token of its own: no word byte touches it and no
/// `glue` byte joins it to a digit on either side. `bad_before` rejects
/// extra leading bytes (`#` makes a number an order number).
///
/// A `]` or `*` just before or a `[` just after also joins: that is where a
/// replacement (`[REDACTED:IPV6]`, the stars of a `partial` one) stands in
/// for a value that was glued to this one, so a second pass over redacted
/// text (the collector's) must not find a token the first pass rightly left
/// alone.
fn standalone(hay: &[u8], span: &Span, glue: &[u8], bad_before: &[u8]) -> bool {
    let prev = before(hay, span.start, 1);
    let next = at(hay, span.end);
    let glued = |b: Option<u8>, beyond: Option<u8>, bracket: u8| {
        b.is_some_and(|b| is_word(b) || b == bracket || (glue.contains(&b) && is_digit(beyond)))
    };
    !glued(prev, before(hay, span.start, 2), b']')
        && prev != Some(b'*')
        && !prev.is_some_and(|b| bad_before.contains(&b))
        && !glued(next, at(hay, span.end + 1), b'[')
}

/// Maximal runs of ASCII digits inside a candidate, as absolute spans.
/// Bounded so that hostile input cannot make a validator allocate.
struct Groups {
    spans: [(usize, usize); Groups::MAX],
    len: usize,
}

impl Groups {
    const MAX: usize = 8;

    fn of(hay: &[u8], span: &Span) -> Option<Self> {
        let mut groups = Groups {
            spans: [(0, 0); Self::MAX],
            len: 0,
        };
        let mut i = span.start;
        while i < span.end {
            if !is_digit(at(hay, i)) {
                i += 1;
                continue;
            }
            let start = i;
            while i < span.end && is_digit(at(hay, i)) {
                i += 1;
            }
            *groups.spans.get_mut(groups.len)? = (start, i);
            groups.len += 1;
        }
        Some(groups)
    }

    /// Candidate prefixes that end after a whole digit group, longest first.
    fn prefixes(&self) -> impl Iterator<Item = &[(usize, usize)]> {
        (1..=self.len).rev().filter_map(|n| self.spans.get(..n))
    }
}

/// Digit values of the ASCII digits in `bytes` (separators skipped), or
/// `None` past 19 digits, the longest card number.
fn card_digits(bytes: &[u8]) -> Option<([u8; 19], usize)> {
    let mut digits = [0u8; 19];
    let mut n = 0;
    for &b in bytes.iter().filter(|b| b.is_ascii_digit()) {
        *digits.get_mut(n)? = b - b'0';
        n += 1;
    }
    Some((digits, n))
}

pub(super) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Card issuers: a range of leading digits and the lengths they issue.
struct Issuer {
    /// Number of leading digits compared.
    digits: usize,
    low: u32,
    high: u32,
    /// Bit `n` set when `n`-digit numbers are issued.
    lengths: u32,
}

const fn lengths(min: u32, max: u32) -> u32 {
    (u32::MAX >> (31 - max)) & !((1u32 << min) - 1)
}

const fn issuer(digits: usize, low: u32, high: u32, lengths: u32) -> Issuer {
    Issuer {
        digits,
        low,
        high,
        lengths,
    }
}

const ISSUERS: &[Issuer] = &[
    // Visa
    issuer(1, 4, 4, 1 << 13 | 1 << 16 | 1 << 19),
    // Mastercard
    issuer(2, 51, 55, 1 << 16),
    issuer(4, 2221, 2720, 1 << 16),
    // American Express
    issuer(2, 34, 34, 1 << 15),
    issuer(2, 37, 37, 1 << 15),
    // Discover
    issuer(4, 6011, 6011, lengths(16, 19)),
    issuer(3, 644, 649, lengths(16, 19)),
    issuer(2, 65, 65, lengths(16, 19)),
    // Diners Club
    issuer(3, 300, 305, lengths(14, 19)),
    issuer(4, 3095, 3095, lengths(14, 19)),
    issuer(2, 36, 36, lengths(14, 19)),
    issuer(2, 38, 39, lengths(14, 19)),
    // JCB
    issuer(4, 3528, 3589, lengths(16, 19)),
    // UnionPay
    issuer(2, 62, 62, lengths(16, 19)),
    // Maestro
    issuer(4, 5018, 5018, lengths(13, 19)),
    issuer(4, 5020, 5020, lengths(13, 19)),
    issuer(4, 5038, 5038, lengths(13, 19)),
    issuer(4, 5893, 5893, lengths(13, 19)),
    issuer(4, 6304, 6304, lengths(13, 19)),
    issuer(4, 6759, 6759, lengths(13, 19)),
    issuer(4, 6761, 6763, lengths(13, 19)),
    // Mir
    issuer(4, 2200, 2204, lengths(16, 19)),
];

fn known_issuer(digits: &[u8]) -> bool {
    ISSUERS.iter().any(|issuer| {
        let Some(prefix) = digits.get(..issuer.digits) else {
            return false;
        };
        let value = prefix.iter().fold(0u32, |v, &d| v * 10 + u32::from(d));
        (issuer.low..=issuer.high).contains(&value)
            && u32::try_from(digits.len())
                .ok()
                .and_then(|len| 1u32.checked_shl(len))
                .is_some_and(|bit| issuer.lengths & bit != 0)
    })
}

/// Card numbers are printed ungrouped, in fours (the last group may be
/// shorter), or 4-6-5 / 4-6-4 (Amex, Diners) with one kind of separator.
fn card_grouping(hay: &[u8], groups: &[(usize, usize)]) -> bool {
    let mut separator = None;
    for pair in groups.windows(2) {
        let [(_, end), (next, _)] = pair else {
            return false;
        };
        let sep = hay.get(*end..*next).unwrap_or_default();
        if separator.is_some_and(|s| s != sep) {
            return false;
        }
        separator = Some(sep);
    }
    let len = |(s, e): &(usize, usize)| e - s;
    match groups {
        [_] => true,
        [a, b, c] if len(a) == 4 && len(b) == 6 && (4..=5).contains(&len(c)) => true,
        [init @ .., last] if groups.len() >= 3 => {
            init.iter().all(|g| len(g) == 4) && (1..=4).contains(&len(last))
        }
        _ => false,
    }
}

/// Whether the value at `span` is glued to letters on one side or both
/// and still reads as a value of its own: the word around it (`card4111…`,
/// `…1111ok`, `refDE89…`) is not a hex string (a digest holding a digit
/// run) nor a `v` version; the other side ends it as [`standalone`] would.
/// Only self-delimiting values (a Luhn-valid card, a mod-97 IBAN) are
/// looked for so.
fn glued_to_word(hay: &[u8], span: &Span) -> bool {
    let prev = before(hay, span.start, 1);
    let next = at(hay, span.end);
    let letter = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphabetic());
    if !letter(prev) && !letter(next) {
        return false;
    }
    let prev_ok = letter(prev)
        || !prev.is_some_and(|b| {
            is_word(b)
                || b == b']'
                || b == b'#'
                || (NUMBER_GLUE.contains(&b) && is_digit(before(hay, span.start, 2)))
        });
    let next_ok = letter(next)
        || !next.is_some_and(|b| {
            is_word(b) || b == b'[' || (NUMBER_GLUE.contains(&b) && is_digit(at(hay, span.end + 1)))
        });
    let from = span.start.saturating_sub(64);
    let lead = hay.get(from..span.start).unwrap_or_default();
    let lead_len = lead
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let lead = lead.get(lead.len() - lead_len..).unwrap_or_default();
    let to = (span.end + 64).min(hay.len());
    let tail = hay.get(span.end..to).unwrap_or_default();
    let tail_len = tail
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    let tail = tail.get(..tail_len).unwrap_or_default();
    let non_hex = |b: &u8| b.is_ascii_alphabetic() && !b.is_ascii_hexdigit();
    prev_ok
        && next_ok
        && !lead.eq_ignore_ascii_case(b"v")
        && (lead.iter().any(non_hex) || tail.iter().any(non_hex))
}

pub(super) fn credit_card(hay: &[u8], span: &Span) -> Option<Span> {
    // The pattern may start at a letter glued to the number.
    let mut span = span.clone();
    if at(hay, span.start).is_some_and(|b| b.is_ascii_alphabetic()) {
        span.start += 1;
    }
    let span = &span;
    let groups = Groups::of(hay, span)?;
    let found = groups.prefixes().find_map(|prefix| {
        let (first, last) = (prefix.first()?, prefix.last()?);
        let candidate = first.0..last.1;
        let (digits, n) = card_digits(hay.get(candidate.clone())?)?;
        let digits = digits.get(..n)?;
        ((13..=19).contains(&n)
            && card_grouping(hay, prefix)
            && luhn(digits)
            && known_issuer(digits)
            && (standalone(hay, &candidate, NUMBER_GLUE, b"#")
                || (prefix.len() == 1 && glued_to_word(hay, &candidate))))
        .then_some(candidate)
    });
    found
}

fn number(digits: &[u8]) -> u32 {
    digits
        .iter()
        .fold(0, |v, &b| v * 10 + u32::from(b.saturating_sub(b'0')))
}

/// `AAA-GG-SSSS` (or with spaces): area 000, 666 and 900–999, group 00 and
/// serial 0000 are never issued.
pub(super) fn us_ssn(hay: &[u8], span: &Span) -> Option<Span> {
    let text = hay.get(span.clone())?;
    let [a0, a1, a2, s1, g0, g1, s2, n0, n1, n2, n3] = *text else {
        return None;
    };
    let (area, group, serial) = (
        number(&[a0, a1, a2]),
        number(&[g0, g1]),
        number(&[n0, n1, n2, n3]),
    );
    (s1 == s2
        && area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && standalone(hay, span, NUMBER_GLUE, b"#"))
    .then(|| span.clone())
}

/// Where the extension at the end of a phone candidate starts (`x909`,
/// ` ext. 12`, `x00099`): 1–6 digits after `x`, `ext`, `ext.` or `extn`,
/// right after the number or after one space. The extension is part of
/// the value: it identifies the person's line as much as the number does.
fn extension_start(hay: &[u8], span: &Span) -> Option<usize> {
    let text = hay.get(span.clone())?;
    let digits = text.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let mut rest = text.get(..text.len() - digits)?;
    if !(1..=6).contains(&digits) {
        return None;
    }
    rest = rest.strip_suffix(b" ").unwrap_or(rest);
    let marker = [&b"extn."[..], b"extn", b"ext.", b"ext", b"x"]
        .into_iter()
        .find(|m| {
            rest.len() > m.len()
                && rest
                    .get(rest.len() - m.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(m))
        })?;
    rest = rest.get(..rest.len() - marker.len())?;
    rest = rest.strip_suffix(b" ").unwrap_or(rest);
    rest.last()
        .is_some_and(u8::is_ascii_digit)
        .then_some(span.start + rest.len())
}

/// E.164 (`+` or `00`, then 8–15 digits) or a national format with
/// separators: North American `(415) 555-2671` / `415.555.2671` /
/// `1-800-555-0199` / `555-0123`, or a trunk-prefixed `0…` number in groups
/// (`020 7946 0958`, `01 23 45 67 89`), each with an extension if it has
/// one. Bare digit runs without `+` are not phone numbers (ids, epochs,
/// amounts) unless a label says so ([`labelled_phone`]).
pub(super) fn phone(hay: &[u8], span: &Span) -> Option<Span> {
    let ext = extension_start(hay, span);
    let core = span.start..ext.unwrap_or(span.end);
    let intl = international_prefix(hay, span.start);
    let groups = Groups::of(hay, &core)?;
    let found = groups.prefixes().find_map(|prefix| {
        let last = prefix.last()?;
        let mut end = last.1;
        if at(hay, end) == Some(b')') && end < core.end {
            end += 1; // `(0) 20 …` style closing parenthesis
        }
        // With an extension, only the whole number takes it.
        let candidate = match ext {
            Some(ext) if end == ext => span.clone(),
            _ => span.start..end,
        };
        // A bare `NXX-XXXX` glued to a code (`ORD-555-0123`) is the code.
        let local = prefix.len() == 2 && intl.is_none();
        let coded = local && before(hay, span.start, 1).is_some_and(|b| b"-/.#".contains(&b));
        let continues = continues_groups(hay, span.start, prefix);
        (!coded
            && !continues
            && phone_shape(hay, span.start, prefix, intl)
            && standalone(hay, &candidate, NUMBER_GLUE, b"#"))
        .then_some(candidate)
    });
    found
}

/// How an international number at `start` begins: `+` (no digits to
/// drop) or `00` (two), or `None` for a national one.
fn international_prefix(hay: &[u8], start: usize) -> Option<usize> {
    match (at(hay, start), at(hay, start + 1), at(hay, start + 2)) {
        (Some(b'+'), ..) => Some(0),
        (Some(b'0'), Some(b'0'), Some(b'1'..=b'9')) => Some(2),
        _ => None,
    }
}

/// A phone number after a label that says it is one (`tel. 6877117580`,
/// `Telefon 030 1234567`, `phone no. 0612345678 x12`): the label's pattern
/// matched `span`, the number starts at its first `+`, `(` or digit. With
/// the label, bare runs and any grouping of 7–15 digits are taken; dates
/// and dotted quads are not.
pub(super) fn labelled_phone(hay: &[u8], span: &Span) -> Option<Span> {
    let text = hay.get(span.clone())?;
    let start = span.start
        + text
            .iter()
            .position(|b| b.is_ascii_digit() || b"+(".contains(b))?;
    let span = start..span.end;
    let ext = extension_start(hay, &span);
    let core = start..ext.unwrap_or(span.end);
    let groups = Groups::of(hay, &core)?;
    let len = |(a, b): &(usize, usize)| b - a;
    let found = groups.prefixes().find_map(|prefix| {
        let last = prefix.last()?;
        let seps = || {
            prefix.windows(2).map(|pair| match pair {
                [(_, a), (b, _)] => hay.get(*a..*b).unwrap_or_default(),
                _ => &[],
            })
        };
        // One separator between groups, two around a parenthesis (`) `).
        let seps_ok = seps().all(|sep| {
            let paren = sep.contains(&b'(') || sep.contains(&b')');
            (sep.len() == 1 || (sep.len() == 2 && paren))
                && sep.iter().all(|c| b" .-()/".contains(c))
        });
        let lens = |want: &[usize]| prefix.iter().map(len).eq(want.iter().copied());
        let date = (lens(&[4, 2, 2]) || lens(&[2, 2, 4]))
            && seps().all(|sep| sep.len() == 1 && sep.iter().all(|c| b"-./".contains(c)));
        let quad = prefix.len() == 4
            && prefix.iter().all(|g| len(g) <= 3)
            && seps().all(|sep| sep == b".");
        let digits: usize = prefix.iter().map(len).sum();
        let candidate = match ext {
            Some(ext) if last.1 == ext => span.clone(),
            _ => start..last.1,
        };
        ((7..=15).contains(&digits)
            && seps_ok
            && !date
            && !quad
            && standalone(hay, &candidate, NUMBER_GLUE, b""))
        .then_some(candidate)
    });
    found
}

/// A US social security number after a label (`SSN 675489003`, `social
/// security number: 078 05 1120`): nine digits, bare or in 3-2-4 groups,
/// with the ranges [`us_ssn`] checks.
pub(super) fn labelled_ssn(hay: &[u8], span: &Span) -> Option<Span> {
    let text = hay.get(span.clone())?;
    let start = span.start + text.iter().position(u8::is_ascii_digit)?;
    let number = start..span.end;
    let (digits, n) = card_digits(hay.get(number.clone())?)?;
    let digits = digits.get(..n)?;
    let [a0, a1, a2, g0, g1, n0, n1, n2, n3] = *digits else {
        return None;
    };
    let (area, group, serial) = (
        u32::from(a0) * 100 + u32::from(a1) * 10 + u32::from(a2),
        u32::from(g0) * 10 + u32::from(g1),
        u32::from(n0) * 1000 + u32::from(n1) * 100 + u32::from(n2) * 10 + u32::from(n3),
    );
    (area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && standalone(hay, &number, NUMBER_GLUE, b"#"))
    .then_some(number)
}

/// `4000 0566 5566 5557`: a candidate whose first group follows a group of
/// the same length and separator is the rest of a longer number (a card
/// that failed Luhn), not a phone number.
fn continues_groups(hay: &[u8], start: usize, groups: &[(usize, usize)]) -> bool {
    let Some(sep) = before(hay, start, 1).filter(|b| b" .-".contains(b)) else {
        return false;
    };
    let mut i = start - 1;
    while is_digit(before(hay, i, 1)) {
        i -= 1;
    }
    let prev_len = start - 1 - i;
    match groups {
        [(a, b), (c, _), ..] => prev_len == b - a && hay.get(*b..*c) == Some(&[sep][..]),
        _ => false,
    }
}

fn phone_shape(hay: &[u8], start: usize, groups: &[(usize, usize)], intl: Option<usize>) -> bool {
    let plus = intl.is_some();
    let Some(&(first_start, _)) = groups.first() else {
        return false;
    };
    let Some(&(_, end)) = groups.last() else {
        return false;
    };
    // Separators: between groups, and before the first (`+`, `(`, `+1 (`).
    let lead = hay.get(start..first_start).unwrap_or_default();
    // `(+57)3038483719`: the parenthesis opens before the `+`.
    let mut open = lead.contains(&b'(') || (plus && before(hay, start, 1) == Some(b'('));
    if lead.iter().any(|&b| b != b'+' && b != b'(') {
        return false;
    }
    let mut plain: Option<&[u8]> = None;
    for (i, pair) in groups.windows(2).enumerate() {
        let [(_, a), (b, _)] = pair else {
            return false;
        };
        let sep = hay.get(*a..*b).unwrap_or_default();
        let (opens, closes) = (sep.contains(&b'('), sep.contains(&b')'));
        if sep.len() > 2 || sep.is_empty() || (opens && (open || closes)) {
            return false;
        }
        if closes {
            if !open {
                return false;
            }
            open = false;
            continue;
        }
        if opens {
            open = true;
            continue;
        }
        // The separator after a `+` country code may differ from the rest.
        if plus && i == 0 {
            continue;
        }
        if plain.is_some_and(|p| p != sep) || sep.len() != 1 {
            return false;
        }
        plain = Some(sep);
    }
    let closed_after = at(hay, end) == Some(b')');
    if open && !closed_after {
        return false;
    }
    let Some((digits, n)) = card_digits(hay.get(first_start..end).unwrap_or_default()) else {
        return false;
    };
    let digits = digits.get(..n).unwrap_or_default();
    if let Some(drop) = intl {
        // `00` numbers are written in groups; a bare `00…` run is an id.
        let digits = digits.get(drop..).unwrap_or_default();
        return (8..=15).contains(&digits.len())
            && digits.first().is_some_and(|&d| d != 0)
            && (drop == 0 || groups.len() >= 2);
    }
    let len = |g: &(usize, usize)| g.1 - g.0;
    let north_american = match (groups, digits) {
        // Area and exchange codes start with 2–9.
        ([a, b, c], [area, ..]) if [len(a), len(b), len(c)] == [3, 3, 4] => *area >= 2,
        ([one, a, b, c], [1, area, ..]) if [len(one), len(a), len(b), len(c)] == [1, 3, 3, 4] => {
            *area >= 2
        }
        // Local number, dashed only: 555-0123.
        ([a, b], [first, ..]) if [len(a), len(b)] == [3, 4] => {
            *first >= 2 && hay.get(a.1..b.0) == Some(b"-")
        }
        _ => false,
    };
    // Trunk prefix `0` then a non-zero digit, in groups of 2–8
    // (`030 1234 5678`, `010 123 4567`).
    let trunk = groups.len() >= 2
        && matches!(digits, [0, second, ..] if *second != 0)
        && (10..=12).contains(&n)
        && groups.iter().all(|g| (2..=8).contains(&len(g)));
    north_american || trunk
}

/// Four decimal octets without leading zeros, not part of a longer dotted
/// run (`1.2.3.4.5` is an OID or a version).
pub(super) fn ipv4(hay: &[u8], span: &Span) -> Option<Span> {
    let text = hay.get(span.clone())?;
    let mut parts = 0;
    for part in text.split(|&b| b == b'.') {
        parts += 1;
        let leading_zero = part.len() > 1 && part.first() == Some(&b'0');
        if part.is_empty() || part.len() > 3 || leading_zero || number(part) > 255 {
            return None;
        }
    }
    let prev = before(hay, span.start, 1);
    // `Chrome/126.0.0.0`, `rv:1.9.2.20`: a product's version, not an address.
    let product = (prev == Some(b'/') && before(hay, span.start, 2).is_some_and(is_word))
        || (prev == Some(b':')
            && span.start >= 3
            && hay.get(span.start - 3..span.start - 1) == Some(b"rv"));
    (parts == 4 && prev != Some(b'.') && !product && standalone(hay, span, b".", b""))
        .then(|| span.clone())
}

/// Anything `std` parses as an IPv6 address, in every compressed form,
/// except strings that are more likely code: `::`, `a::b` (C++ paths) or
/// a word glued to the colons.
pub(super) fn ipv6(hay: &[u8], span: &Span) -> Option<Span> {
    let text = std::str::from_utf8(hay.get(span.clone())?).ok()?;
    text.parse::<std::net::Ipv6Addr>().ok()?;
    let hex = text.bytes().filter(u8::is_ascii_hexdigit).count();
    let full = !text.contains("::");
    let prev = before(hay, span.start, 1);
    let (next, beyond) = (at(hay, span.end), at(hay, span.end + 1));
    // A trailing `:` is punctuation (`host 2001:db8::1: up`) unless more
    // hex follows (then this is a piece of something longer).
    let glued_after = next.is_some_and(is_word)
        || (next == Some(b':') && beyond.is_some_and(|b| b.is_ascii_hexdigit() || b == b':'))
        || (next == Some(b'.') && is_digit(beyond));
    ((full || hex >= 4 || text == "::1" || text.contains('.'))
        && !prev.is_some_and(|b| is_word(b) || b == b':' || b == b'*' || b == b']')
        && !glued_after)
        .then(|| span.clone())
}

/// IBAN length per country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BI", 27),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DJ", 27),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FK", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MN", 20),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NI", 28),
    (b"NL", 18),
    (b"NO", 15),
    (b"OM", 23),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"RU", 33),
    (b"SA", 24),
    (b"SC", 31),
    (b"SD", 18),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"SO", 23),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
    (b"YE", 30),
];

/// Country code, check digits and BBAN: exactly the country's length
/// (compact or in space-separated groups of four) and mod-97 = 1. The
/// candidate may run into the following word; the finding stops at the
/// country's length.
pub(super) fn iban(hay: &[u8], span: &Span) -> Option<Span> {
    let country = hay.get(span.start..span.start + 2)?;
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(country))
        .and_then(|&(_, len)| iban_of_len(hay, span, len))
        // A country outside the registry, or a length the registry does not
        // give (account numbers in IBAN form: `AR…`, a 21-character `GB…`):
        // only a whole, compact, upper-case token of IBAN length.
        .or_else(|| iban_of_len(hay, span, unregistered_len(hay, span)?))
}

fn iban_of_len(hay: &[u8], span: &Span, len: usize) -> Option<Span> {
    let text = hay.get(span.clone())?;
    let country = text.get(..2)?;
    let spaced = text.get(4) == Some(&b' ');
    let mut chars = 0;
    let mut end = span.start;
    let mut remainder = 0u32;
    // mod-97 over BBAN + country + check digits: process chars 4.. first,
    // then the first four.
    let mut digest = |b: u8| {
        remainder = if b.is_ascii_digit() {
            (remainder * 10 + u32::from(b - b'0')) % 97
        } else {
            (remainder * 100 + u32::from(b.to_ascii_uppercase().saturating_sub(b'A')) + 10) % 97
        };
    };
    for (i, &b) in text.iter().enumerate() {
        if chars == len {
            break;
        }
        if b == b' ' {
            if !spaced || !chars.is_multiple_of(4) {
                return None;
            }
            continue;
        }
        if spaced
            && chars > 0
            && chars.is_multiple_of(4)
            && text.get(i.checked_sub(1)?) != Some(&b' ')
        {
            return None;
        }
        if chars >= 4 {
            digest(b);
        }
        chars += 1;
        end = span.start + i + 1;
    }
    for &b in text.get(..4)? {
        digest(b);
    }
    let candidate = span.start..end;
    let alone = !before(hay, span.start, 1).is_some_and(|b| b.is_ascii_alphanumeric())
        && !at(hay, end).is_some_and(is_word);
    // Glued to a word, only the compact upper-case form is taken.
    let glued =
        || !spaced && country.iter().all(u8::is_ascii_uppercase) && glued_to_word(hay, &candidate);
    (chars == len && remainder == 1 && (alone || glued())).then_some(candidate)
}

/// Length of a compact upper-case IBAN-shaped token, when the token stands
/// alone (mod-97 still decides).
fn unregistered_len(hay: &[u8], span: &Span) -> Option<usize> {
    let end = run_end(hay, span.start, |b| {
        b.is_ascii_digit() || b.is_ascii_uppercase()
    });
    let token = hay.get(span.start..end)?;
    // The upper-case run is the token, also glued to lower-case words
    // (`refAR21…x`).
    let upper_or_digit = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let alone = !before(hay, span.start, 1).is_some_and(upper_or_digit)
        && !at(hay, end).is_some_and(|b| upper_or_digit(b) || b == b'_');
    let shaped = token.get(..2)?.iter().all(u8::is_ascii_uppercase)
        && token.get(2..4)?.iter().all(u8::is_ascii_digit);
    (alone && shaped && (15..=34).contains(&token.len())).then_some(token.len())
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// End of the run of bytes matching `class` from `i`.
fn run_end(hay: &[u8], mut i: usize, class: impl Fn(u8) -> bool) -> usize {
    while at(hay, i).is_some_and(&class) {
        i += 1;
    }
    i
}

/// A JWT starting at the `eyJ` (`{"` in base64url) at `start`, also when
/// it is glued to the word before it (`cacheyJhbGciOi…`): its structure
/// (three parts, a JSON header with `alg`) delimits it.
pub(super) fn jwt_at(hay: &[u8], start: usize) -> Result<Span, usize> {
    let header = run_end(hay, start, is_base64url);
    // Any later `eyJ` in this run has the same parts after it.
    let skip = header.max(start + 1);
    let payload = run_end(hay, header + 1, is_base64url);
    let signature = run_end(hay, payload + 1, is_base64url);
    if header - start < 5
        || at(hay, header) != Some(b'.')
        || payload - header <= 2
        || at(hay, payload) != Some(b'.')
    {
        return Err(skip);
    }
    jwt(hay, &(start..signature)).ok_or(skip)
}

/// Three base64url parts whose header decodes to a JSON object with `alg`.
fn jwt(hay: &[u8], span: &Span) -> Option<Span> {
    let text = hay.get(span.clone())?;
    let mut parts = text.split(|&b| b == b'.');
    let header = base64url(parts.next()?)?;
    base64url(parts.next()?)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).ok()?;
    (header.contains_key("alg") && at(hay, span.end) != Some(b'=')).then(|| span.clone())
}

/// Base64 (either alphabet) of printable text of 12 or more characters, the
/// shape of `user:password` credentials: random names almost never decode so.
pub(super) fn base64_of_text(text: &[u8]) -> bool {
    let url: Vec<u8> = text
        .iter()
        .map(|&b| match b {
            b'+' => b'-',
            b'/' => b'_',
            b => b,
        })
        .collect();
    base64url(&url).is_some_and(|d| d.len() >= 12 && d.iter().all(|b| (0x20..0x7f).contains(b)))
}

fn base64url(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in text {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

/// Local-part bytes: ASCII letters, digits, `._%+-` (internationalised
/// letters are taken by [`letter_len`]).
fn is_local_part(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._%+-".contains(&b)
}

fn is_label(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// The character at `i` (`before`: the one ending at `i`), if it is not
/// ASCII.
fn char_at(hay: &[u8], i: usize, before: bool) -> Option<(char, usize)> {
    let window = if before {
        hay.get(i.saturating_sub(4)..i)?
    } else {
        hay.get(i..(i + 4).min(hay.len()))?
    };
    (1..=window.len()).find_map(|n| {
        let bytes = if before {
            window.get(window.len() - n..)?
        } else {
            window.get(..n)?
        };
        let mut chars = std::str::from_utf8(bytes).ok()?.chars();
        let c = chars.next()?;
        (chars.next().is_none() && !c.is_ascii()).then_some((c, n))
    })
}

/// Length of the non-ASCII letter (or combining mark) at `i` that may be
/// part of an internationalised address (`jörg.müller@example.de`): Latin,
/// Greek, Cyrillic and other alphabets, not the ideographs, kana and
/// hangul that CJK text glues to an address without a space
/// (`連絡先はtaro@example.jpです`), and not punctuation (`“`, `—`).
fn letter_len(hay: &[u8], i: usize, before: bool) -> Option<usize> {
    let (c, n) = char_at(hay, i, before)?;
    let cjk = matches!(u32::from(c), 0x2E80..=0xA4CF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..);
    let mark = matches!(u32::from(c), 0x0300..=0x036F);
    ((c.is_alphanumeric() && !cjk) || mark).then_some(n)
}

/// An address written in CJK script alone (`佐藤@example.jp`): the run of
/// non-ASCII letters before the `@`.
fn cjk_local_start(hay: &[u8], at_sign: usize) -> usize {
    let mut start = at_sign;
    while at_sign - start < 64 {
        match char_at(hay, start, true) {
            Some((c, n)) if c.is_alphanumeric() => start -= n,
            _ => break,
        }
    }
    start
}

/// File extensions that follow an `@` in asset names (`logo@2x.png`) and
/// are no top-level domain.
const FILE_EXTENSIONS: &[&[u8]] = &[
    b"png", b"jpg", b"jpeg", b"gif", b"svg", b"webp", b"ico", b"css", b"js", b"map", b"json",
    b"html", b"htm", b"txt", b"pdf", b"woff", b"woff2",
];

/// Whether `pos` is inside the user info of a URL (`scheme://user:pw@`):
/// a `://` before it with no `/` or space in between.
fn in_url_userinfo(hay: &[u8], pos: usize) -> bool {
    let from = pos.saturating_sub(256);
    let before = hay.get(from..pos).unwrap_or_default();
    before
        .iter()
        .rposition(|&b| b == b'/' || b.is_ascii_whitespace() || b == b'"')
        .is_some_and(|i| before.get(i.saturating_sub(2)..=i) == Some(b"://"))
}

/// The password of `scheme://user:password@host` at the `://` at `at`.
pub(super) fn url_password(hay: &[u8], at: usize) -> Result<Span, usize> {
    url_password_span(hay, at).ok_or(at + 1)
}

fn url_password_span(hay: &[u8], at: usize) -> Option<Span> {
    let start = at + 3;
    let authority = hay.get(start..)?;
    let len = authority
        .iter()
        .take(256)
        .position(|&b| b"/?#\"'<> \t\r\n".contains(&b))
        .unwrap_or(authority.len().min(256));
    let userinfo = authority.get(..len)?;
    let userinfo = userinfo.get(..userinfo.iter().rposition(|&b| b == b'@')?)?;
    let colon = userinfo.iter().position(|&b| b == b':')?;
    let span = start + colon + 1..start + userinfo.len();
    (!span.is_empty()).then_some(span)
}

/// An email address around the `@` at `at_sign`: the local part is the run
/// of local-part bytes before it (leading dots are punctuation), the domain
/// the longest run of labels after it that ends in an alphabetic TLD.
pub(super) fn email_at(hay: &[u8], at_sign: usize) -> Result<Span, usize> {
    email_span(hay, at_sign).ok_or(at_sign + 1)
}

fn email_span(hay: &[u8], at_sign: usize) -> Option<Span> {
    let mut start = at_sign;
    while start > 0 && at_sign - start <= 64 {
        if before(hay, start, 1).is_some_and(is_local_part) {
            start -= 1;
        } else if let Some(n) = letter_len(hay, start, true) {
            start -= n;
        } else {
            break;
        }
    }
    if before(hay, start, 1).is_some_and(is_local_part) || at_sign - start > 64 {
        return None; // longer than 64 bytes
    }
    if start == at_sign {
        start = cjk_local_start(hay, at_sign);
    }
    while start < at_sign && at(hay, start) == Some(b'.') {
        start += 1;
    }
    if in_url_userinfo(hay, start) {
        return None; // a URL's user (and password), not an address
    }
    let mut end = None;
    let mut i = at_sign + 1;
    for label in 1.. {
        let mut label_end = i;
        loop {
            label_end = run_end(hay, label_end, is_label);
            match letter_len(hay, label_end, false) {
                Some(n) if label_end - i < 64 => label_end += n,
                _ => break,
            }
        }
        let tld = hay.get(i..label_end).unwrap_or_default();
        if label_end == i || label_end - at_sign > 254 {
            break;
        }
        if label >= 2
            && (2..=24).contains(&tld.len())
            && tld.iter().all(u8::is_ascii_alphabetic)
            && !FILE_EXTENSIONS
                .iter()
                .any(|ext| tld.eq_ignore_ascii_case(ext))
            && !at(hay, label_end).is_some_and(is_word)
        {
            end = Some(label_end);
        }
        if at(hay, label_end) != Some(b'.') {
            break;
        }
        i = label_end + 1;
    }
    email(hay, &(start..end?))
}

/// RFC 5321 limits: local part ≤ 64 bytes without leading, trailing or
/// doubled dots; domain labels 1–63 bytes not starting or ending with `-`.
fn email(hay: &[u8], span: &Span) -> Option<Span> {
    let text = hay.get(span.clone())?;
    let at_sign = text.iter().position(|&b| b == b'@')?;
    let (local, domain) = (text.get(..at_sign)?, text.get(at_sign + 1..)?);
    let dotted_ok = |part: &[u8]| {
        !part.starts_with(b".") && !part.ends_with(b".") && !part.windows(2).any(|w| w == b"..")
    };
    let labels_ok = domain.split(|&b| b == b'.').all(|label| {
        (1..=63).contains(&label.len()) && !label.starts_with(b"-") && !label.ends_with(b"-")
    });
    ((1..=64).contains(&local.len()) && domain.len() <= 253 && dotted_ok(local) && labels_ok)
        .then(|| span.clone())
}

/// A well-known key prefix: the token must not run on into more token
/// characters (then the prefix was a coincidence inside a longer word).
pub(super) fn token(hay: &[u8], span: &Span) -> Option<Span> {
    let next = at(hay, span.end);
    (!next.is_some_and(|b| is_word(b) || b == b'-')).then(|| span.clone())
}

/// A generic prefix (`sk-…`) that also starts ordinary words and slugs:
/// random keys mix letters and digits, `sk-the-best-of-the-rest` does not.
pub(super) fn mixed_token(hay: &[u8], span: &Span) -> Option<Span> {
    let body = hay.get(span.start + 3..span.end)?;
    (body.iter().any(u8::is_ascii_digit) && body.iter().any(u8::is_ascii_alphabetic))
        .then(|| token(hay, span))?
}

#[cfg(test)]
mod tests;
