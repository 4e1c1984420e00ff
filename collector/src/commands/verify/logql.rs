//! LogQL as `verify` writes it: the queries it reads Loki with, and the
//! ones its report gives to look at a finding.

/// A Go string literal (what LogQL reads): JSON's escapes are Go's.
pub fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// A raw (backquoted) string when `text` has no backquote.
pub fn raw(text: &str) -> String {
    match text.contains('`') {
        true => quote(text),
        false => format!("`{text}`"),
    }
}

/// What every line of a chain's seq `seq` contains (a record, gap or
/// invalid line, and the checkpoint of that seq): `"seq":N,"chain":"`.
pub fn seq_text(seq: u64) -> String {
    format!("\"seq\":{seq},\"chain\":\"")
}

/// Queries under one stream selector (`{job="observatory"}`).
#[derive(Debug, Clone)]
pub struct LogQl {
    pub selector: String,
}

impl LogQl {
    /// The lines of one proxy (`proxy_id` is structured metadata).
    pub fn proxy(&self, proxy: &str) -> String {
        format!("{} | proxy_id={}", self.selector, quote(proxy))
    }

    /// The lines of `proxy` with seq `seq`.
    pub fn seq(&self, proxy: &str, seq: u64) -> String {
        format!("{} |= {}", self.proxy(proxy), raw(&seq_text(seq)))
    }

    /// The checkpoint of `proxy` at `seq`.
    pub fn checkpoint(&self, proxy: &str, seq: u64) -> String {
        let text = format!("\"checkpoint\":{{\"seq\":{seq},");
        format!("{} |= {}", self.proxy(proxy), raw(&text))
    }

    /// Lines that start like `line` (its first 80 characters, before any
    /// backquote).
    pub fn starting_like(&self, line: &str) -> String {
        let head: String = line.chars().take_while(|c| *c != '`').take(80).collect();
        format!("{} |= {}", self.selector, raw(&head))
    }
}
