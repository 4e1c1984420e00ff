//! Configuration errors and the checks every section shares. Their own
//! module, because each section (`policy`, `redact`, `capture`, `dlp`)
//! reports through them and `config` compiles those sections.

use std::fmt::Display;

/// A configuration problem: `field` is the JSON path
/// (`policies[0].rules[1].to[0].operation.paths[2]`, `collector.cluster`),
/// or `configuration` for the document as a whole.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

pub(crate) fn in_range<T: PartialOrd + Display>(
    field: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::new(
            field,
            format!("must be between {min} and {max}, got {value}"),
        ));
    }
    Ok(value)
}

/// RFC 9110 `tchar`: the characters of a header field name.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
