//! Configuration errors. The filter's own configuration reports through the
//! same type, so a `redaction` error and a `policies` error read alike.

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
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

pub fn in_range<T: PartialOrd + Display>(
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
