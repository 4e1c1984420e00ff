//! SQL in text (logged statements, database errors): the values of
//! `INSERT INTO t (c1, c2) VALUES ('v1', 'v2')` under the names of their
//! columns, so key rules apply to them (`name`, `phone`, `password`).

use std::ops::Range;

/// `(column, value)` ranges of the `INSERT … (columns) VALUES (values)`
/// statements in `text[range]`; values without quotes (numbers) too.
pub(super) fn inserts(text: &[u8], range: Range<usize>) -> Vec<(Range<usize>, Range<usize>)> {
    let mut out = Vec::new();
    let hay = text.get(range.clone()).unwrap_or_default();
    let mut from = 0;
    while let Some(at) = find_values(hay.get(from..).unwrap_or_default()) {
        let values_at = from + at;
        from = values_at + 6;
        // The column list: the last `( … )` before `VALUES`.
        let before = hay.get(..values_at).unwrap_or_default();
        let Some(close) = before.iter().rposition(|&b| b == b')') else {
            continue;
        };
        let Some(open) = before
            .get(..close)
            .and_then(|b| b.iter().rposition(|&b| b == b'('))
        else {
            continue;
        };
        let columns = split(hay, open + 1..close, false);
        let after = from
            + hay
                .get(from..)
                .unwrap_or_default()
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        if hay.get(after) != Some(&b'(') {
            continue;
        }
        let values = split(hay, after + 1..hay.len(), true);
        for (c, v) in columns.into_iter().zip(values) {
            out.push((
                range.start + c.start..range.start + c.end,
                range.start + v.start..range.start + v.end,
            ));
        }
    }
    out
}

/// Whether `hay` holds `VALUES` (any case).
pub(super) fn has_values(hay: &[u8]) -> bool {
    find_values(hay).is_some()
}

fn find_values(hay: &[u8]) -> Option<usize> {
    hay.windows(6)
        .position(|w| w.eq_ignore_ascii_case(b"values"))
}

/// The comma-separated items of a list at `range` (up to its closing `)`):
/// names without quotes or backticks, values inside their quotes (`''`
/// escapes a quote).
fn split(hay: &[u8], range: Range<usize>, values: bool) -> Vec<Range<usize>> {
    let mut items = Vec::new();
    let mut i = range.start;
    while i < range.end {
        while hay.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        let Some(&b) = hay.get(i) else { break };
        if values && b == b'\'' {
            let start = i + 1;
            let mut j = start;
            while let Some(&c) = hay.get(j) {
                if c == b'\'' {
                    if hay.get(j + 1) == Some(&b'\'') {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            items.push(start..j);
            i = j + 1;
        } else {
            let start = i;
            while hay.get(i).is_some_and(|&c| c != b',' && c != b')') {
                i += 1;
            }
            let item = start..i;
            let trimmed = trim(hay, item, b"`\"[] \t\r\n");
            items.push(trimmed);
        }
        while hay.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
            i += 1;
        }
        match hay.get(i) {
            Some(b',') => i += 1,
            _ => break,
        }
    }
    items
}

fn trim(hay: &[u8], mut r: Range<usize>, chars: &[u8]) -> Range<usize> {
    while r.start < r.end && hay.get(r.start).is_some_and(|b| chars.contains(b)) {
        r.start += 1;
    }
    while r.end > r.start && hay.get(r.end - 1).is_some_and(|b| chars.contains(b)) {
        r.end -= 1;
    }
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn columns_and_values() {
        let sql =
            "x INSERT INTO users (`name`, email, age) VALUES ('O''Neil, Jo', 'a@b.example', 42); y";
        let found: Vec<(&str, &str)> = inserts(sql.as_bytes(), 0..sql.len())
            .into_iter()
            .map(|(c, v)| (&sql[c], &sql[v]))
            .collect();
        assert_eq!(
            found,
            [
                ("name", "O''Neil, Jo"),
                ("email", "a@b.example"),
                ("age", "42")
            ]
        );
        assert!(inserts(b"no values here", 0..14).is_empty());
    }
}
