//! Stream labels as Loki reads and prints them: a push's `labels` in the
//! Prometheus metric syntax (`{a="b", c="d"}`, values Go string literals)
//! and Prometheus' `labels.String()`.

use super::push::{Labels, Pairs};

/// A reader of the Prometheus syntax, shared with the query parser.
pub(crate) struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, at: 0 }
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// Consumes `token` (after white space) if it is next.
    pub(crate) fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        let found = self.rest().starts_with(token);
        if found {
            self.at += token.len();
        }
        found
    }

    /// A parse error at the current position, worded as Prometheus does.
    pub(crate) fn error(&self, expected: &str) -> String {
        let found = match self.peek() {
            None => "end of input".to_owned(),
            Some(c) => format!("character {c:?}"),
        };
        format!(
            "1:{}: parse error: unexpected {found}, expected {expected}",
            self.at + 1
        )
    }

    /// An identifier: `[a-zA-Z_][a-zA-Z0-9_]*`, and `:` too in a metric
    /// name.
    pub(crate) fn name(&mut self, metric: bool) -> Option<&'a str> {
        self.skip_space();
        let rest = self.rest();
        let first = rest.chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '_' || (metric && first == ':')) {
            return None;
        }
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || (metric && c == ':')))
            .unwrap_or(rest.len());
        self.at += len;
        Some(&rest[..len])
    }

    /// A string in double or single quotes (Go escapes) or backquotes (raw).
    pub(crate) fn string(&mut self) -> Result<String, String> {
        self.skip_space();
        let Some(quote @ ('"' | '\'' | '`')) = self.peek() else {
            return Err(self.error("string"));
        };
        self.at += 1;
        let start = self.at;
        if quote == '`' {
            let Some(len) = self.rest().find('`') else {
                return Err(self.error("closing backquote"));
            };
            self.at += len + 1;
            return Ok(self.text[start..start + len].to_owned());
        }
        let mut bytes = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(format!(
                    "1:{start}: parse error: unterminated quoted string"
                ));
            };
            self.at += c.len_utf8();
            match c {
                '\n' => {
                    return Err(format!(
                        "1:{start}: parse error: unterminated quoted string"
                    ))
                }
                c if c == quote => break,
                '\\' => self.escape(quote, &mut bytes)?,
                c => bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        String::from_utf8(bytes)
            .map_err(|_| format!("1:{start}: parse error: invalid UTF-8 in quoted string"))
    }

    /// One escape after `\` (Go's `strconv.Unquote`, where `\'` belongs
    /// to single quotes and `\"` to double ones).
    fn escape(&mut self, quote: char, bytes: &mut Vec<u8>) -> Result<(), String> {
        let bad = |at: usize| format!("1:{at}: parse error: unknown escape sequence");
        let Some(c) = self.peek() else {
            return Err(bad(self.at));
        };
        self.at += c.len_utf8();
        let simple = match c {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            c if c == quote => Some(c as u8),
            _ => None,
        };
        if let Some(b) = simple {
            bytes.push(b);
            return Ok(());
        }
        let (digits, radix) = match c {
            '0'..='7' => (2, 8),
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            _ => return Err(bad(self.at)),
        };
        let start = if radix == 8 { self.at - 1 } else { self.at };
        let end = self.at + digits;
        let number = self
            .text
            .get(start..end)
            .and_then(|d| u32::from_str_radix(d, radix).ok())
            .ok_or_else(|| bad(self.at))?;
        self.at = end;
        match c {
            '0'..='7' | 'x' => bytes.push(u8::try_from(number).map_err(|_| bad(self.at))?),
            _ => {
                let c = char::from_u32(number).ok_or_else(|| bad(self.at))?;
                bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            }
        }
        Ok(())
    }
}

/// Reads `text` as Prometheus' `ParseMetric` does: an optional metric
/// name (becoming `__name__`), then `{name="value", …}` with an optional
/// trailing comma. The pairs as written (empty values and repeated names
/// included); the error as Loki words it.
pub(crate) fn parse(text: &str) -> Result<Pairs, String> {
    let mut cursor = Cursor::new(text);
    let mut pairs = Pairs::new();
    if let Some(metric) = cursor.name(true) {
        pairs.push(("__name__".into(), metric.into()));
    }
    let refused = |e: String| format!("couldn't parse labels: {e}");
    if cursor.eat("{") {
        loop {
            if cursor.eat("}") {
                break;
            }
            let Some(name) = cursor.name(false) else {
                return Err(refused(cursor.error("label name or \"}\"")));
            };
            if !cursor.eat("=") || cursor.eat("~") {
                return Err(refused(cursor.error("\"=\"")));
            }
            let value = cursor.string().map_err(refused)?;
            pairs.push((name.into(), value));
            if cursor.eat("}") {
                break;
            }
            if !cursor.eat(",") {
                return Err(refused(cursor.error("\",\" or \"}\"")));
            }
        }
    } else if pairs.is_empty() {
        return Err(refused(cursor.error("\"{\"")));
    }
    cursor.skip_space();
    if cursor.peek().is_some() {
        return Err(refused(cursor.error("end of input")));
    }
    Ok(pairs)
}

/// The label set Loki keeps: by name, without empty values (which mean
/// "absent" to it).
pub(crate) fn kept(pairs: &Pairs) -> Labels {
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .cloned()
        .collect()
}

/// Prometheus' `labels.String()`: sorted, `name="value"` joined by ", ".
pub(crate) fn render<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    let mut pairs: Vec<_> = pairs.into_iter().collect();
    pairs.sort();
    let pairs: Vec<String> = pairs
        .into_iter()
        .map(|(name, value)| format!("{name}={}", go_quote(value)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Go's `strconv.Quote`, for the characters a label value holds.
pub(crate) fn go_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_go_string_literals_in_every_quote() {
        let text = r#"{a="x\"y\\z\n", b='it\'s', c=`raw\n`, d="\x41\u00e9\101",}"#;
        assert_eq!(
            parse(text).unwrap(),
            pairs(&[
                ("a", "x\"y\\z\n"),
                ("b", "it's"),
                ("c", "raw\\n"),
                ("d", "AéA")
            ])
        );
    }

    #[test]
    fn a_metric_name_is_a_label_and_empty_sets_are_empty() {
        assert_eq!(
            parse("up{job=\"x\"}").unwrap(),
            pairs(&[("__name__", "up"), ("job", "x")])
        );
        assert_eq!(parse(" { } ").unwrap(), Pairs::new());
    }

    #[test]
    fn refuses_what_prometheus_refuses() {
        for text in [
            "",
            "{a=b}",
            "{a-b=\"c\"}",
            "{a=\"b\"",
            "{a=~\"b\"}",
            "{a!=\"b\"}",
            "{a=\"b\" c=\"d\"}",
            "{a=\"\\q\"}",
            "{a=\"b\"} x",
        ] {
            let error = parse(text).unwrap_err();
            assert!(
                error.starts_with("couldn't parse labels: 1:"),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn renders_as_prometheus_does() {
        let labels = kept(&pairs(&[("z", "1"), ("a", "q\"\u{1}\t"), ("e", "")]));
        assert_eq!(render(&labels), r#"{a="q\"\x01\t", z="1"}"#);
    }
}
