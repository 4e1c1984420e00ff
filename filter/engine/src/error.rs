//! Configuration errors and the checks every section shares. Their own
//! module, because each section (`policy`, `capture`, `dlp`, and the
//! redaction engine's `redaction`) reports through them and `config`
//! compiles those sections. The error type is the redaction engine's, so
//! there is one for the whole plugin configuration.

pub(crate) use observatory_redact::error::in_range;
pub use observatory_redact::error::ConfigError;

/// RFC 9110 `tchar`: the characters of a header field name.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
