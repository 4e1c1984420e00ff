//! The `redaction` configuration section and its compilation into a
//! [`Redactor`].
//!
//! ```json
//! "redaction": {
//!   "types": {"EMAIL": {"mode": "hash"}, "CREDIT_CARD": {"mode": "partial", "keep": 4},
//!             "IPV4": {"enabled": false}},
//!   "custom": [{"type": "EMPLOYEE_ID", "pattern": "EMP-[0-9]{6}"}],
//!   "keys": {"PASSWORD": ["pin"], "EMPLOYEE_ID": ["emp"]},
//!   "allow": {"values": ["support@example.com"], "keys": ["trace_id"]},
//!   "hmacKey": "…at least 16 bytes…", "hmacKeyId": "k2024",
//!   "maxScanBytes": 65536
//! }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use super::detect::{self, Check, Detectors, Pattern};
use super::keys::{self, KeyRules, MAX_KEY};
use super::replace::{Mode, Pseudonyms};
use super::{PiiType, Redactor, TypeEntry, TypeIdx};
use crate::error::{in_range, ConfigError};

const KIB: usize = 1024;
const DEFAULT_MAX_SCAN_BYTES: usize = 64 * KIB;
/// Custom rules and custom types: each custom type is a `u8` index next to
/// the built-ins, and each rule a pattern in the one automaton.
const MAX_CUSTOM: usize = 64;
const MIN_HMAC_KEY: usize = 16;

/// The `redaction` object of the plugin configuration (lowerCamelCase,
/// unknown fields rejected). `Default` is every built-in type in `mask`
/// mode. Build a [`Redactor`] from it with [`Redactor::new`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", expecting = "an object")]
pub struct RedactionConfig {
    #[serde(default)]
    types: BTreeMap<String, TypeSettings>,
    #[serde(default)]
    custom: Vec<CustomRule>,
    #[serde(default)]
    keys: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    allow: AllowList,
    hmac_key: Option<Secret>,
    hmac_key_env: Option<String>,
    hmac_key_id: Option<String>,
    max_scan_bytes: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct TypeSettings {
    enabled: Option<bool>,
    mode: Option<ModeName>,
    keep: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ModeName {
    Mask,
    Partial,
    Hash,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct CustomRule {
    #[serde(rename = "type")]
    kind: String,
    pattern: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
struct AllowList {
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    keys: Vec<String>,
}

/// The HMAC key: never printed.
#[derive(Deserialize)]
#[serde(transparent)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl RedactionConfig {
    /// Fills the HMAC key from the environment variable named by
    /// `hmacKeyEnv`, with `lookup` (the collector passes
    /// `|name| std::env::var(name).ok()`, the filter the VM's environment).
    pub fn resolve_hmac_key_env(
        &mut self,
        lookup: impl FnOnce(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let Some(name) = &self.hmac_key_env else {
            return Ok(());
        };
        if self.hmac_key.is_some() {
            return Err(both_keys());
        }
        match lookup(name).filter(|key| !key.is_empty()) {
            Some(key) => {
                self.hmac_key = Some(Secret(key));
                self.hmac_key_env = None;
                Ok(())
            }
            None => Err(ConfigError::new(
                "redaction.hmacKeyEnv",
                format!("environment variable `{name}` is not set"),
            )),
        }
    }
}

fn both_keys() -> ConfigError {
    ConfigError::new(
        "redaction.hmacKeyEnv",
        "set either hmacKey or hmacKeyEnv, not both",
    )
}

/// Type names: upper-case identifiers, as they appear in audit records.
fn check_type_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let valid = bytes.next().is_some_and(|b| b.is_ascii_uppercase())
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= 32;
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a type name (A–Z, 0–9 and `_`, starting with a letter, at most 32)"
        ))
    }
}

fn normalized_key(field: String, key: &str) -> Result<Box<[u8]>, ConfigError> {
    let mut buf = [0; MAX_KEY];
    keys::normalize(key.as_bytes(), &mut buf)
        .map(Box::from)
        .ok_or_else(|| {
            ConfigError::new(
                field,
                format!(
                    "`{key}` is not a key name (empty, or longer than {MAX_KEY} characters without `_-. `)"
                ),
            )
        })
}

pub(super) fn compile(cfg: &RedactionConfig) -> Result<Redactor, ConfigError> {
    let max_scan_bytes = in_range(
        "redaction.maxScanBytes",
        cfg.max_scan_bytes.unwrap_or(DEFAULT_MAX_SCAN_BYTES),
        KIB,
        16 * KIB * KIB,
    )?;
    let mut types: Vec<TypeEntry> = PiiType::BUILTIN
        .iter()
        .cloned()
        .map(TypeEntry::new)
        .collect();
    let lookup = |types: &[TypeEntry], name: &str| {
        types
            .iter()
            .position(|t| t.kind.as_str() == name)
            .and_then(|i| u8::try_from(i).ok())
            .map(TypeIdx)
    };

    if cfg.custom.len() > MAX_CUSTOM {
        return Err(ConfigError::new(
            "redaction.custom",
            format!("at most {MAX_CUSTOM} rules"),
        ));
    }
    let mut custom = Vec::with_capacity(cfg.custom.len());
    for (i, rule) in cfg.custom.iter().enumerate() {
        let at = format!("redaction.custom[{i}]");
        check_type_name(&rule.kind).map_err(|p| ConfigError::new(format!("{at}.type"), p))?;
        let ty = match lookup(&types, &rule.kind) {
            Some(ty) => ty,
            None => {
                let ty = TypeIdx(u8::try_from(types.len()).map_err(|_| {
                    ConfigError::new(format!("{at}.type"), "too many custom types")
                })?);
                types.push(TypeEntry::new(PiiType::Custom(Arc::from(
                    rule.kind.as_str(),
                ))));
                ty
            }
        };
        let invalid =
            |p: String| ConfigError::new(format!("{at}.pattern"), format!("invalid regex: {p}"));
        if rule.pattern.is_empty() {
            return Err(ConfigError::new(format!("{at}.pattern"), "empty regex"));
        }
        let pattern = Pattern::parse(ty, Check::Custom, rule.pattern.clone()).map_err(invalid)?;
        if pattern.matches_empty() {
            return Err(ConfigError::new(
                format!("{at}.pattern"),
                "can match the empty string",
            ));
        }
        // Compiled alone too, so a size-limit error names this rule.
        Detectors::new(vec![pattern.clone()], &[]).map_err(invalid)?;
        custom.push(pattern);
    }

    for (name, settings) in &cfg.types {
        let at = format!("redaction.types.{name}");
        let entry = lookup(&types, name)
            .and_then(|ty| types.get_mut(usize::from(ty.0)))
            .ok_or_else(|| {
                let builtin: Vec<&str> = PiiType::BUILTIN.iter().map(PiiType::as_str).collect();
                ConfigError::new(
                    &at,
                    format!(
                        "unknown type (built-in: {}; custom types come from redaction.custom[].type)",
                        builtin.join(", ")
                    ),
                )
            })?;
        entry.enabled = settings.enabled.unwrap_or(true);
        entry.mode = match (settings.mode, settings.keep) {
            (Some(ModeName::Partial), keep) => Mode::Partial {
                keep: in_range(&format!("{at}.keep"), keep.unwrap_or(4), 1, 64)?,
            },
            (_, Some(_)) => {
                return Err(ConfigError::new(
                    format!("{at}.keep"),
                    "only used with mode `partial`",
                ))
            }
            (Some(ModeName::Hash), None) => Mode::Hash,
            (Some(ModeName::Mask) | None, None) => Mode::Mask,
        };
    }

    let pseudonyms = pseudonyms(cfg)?;
    if pseudonyms.is_none() {
        let hashed = cfg.types.iter().find(|(name, _)| {
            lookup(&types, name)
                .and_then(|ty| types.get(usize::from(ty.0)))
                .is_some_and(|t| t.enabled && t.mode == Mode::Hash)
        });
        if let Some((name, _)) = hashed {
            let problem = match &cfg.hmac_key_env {
                Some(env) => format!(
                    "`hash` needs the key from hmacKeyEnv `{env}`, which is not resolved here"
                ),
                None => "`hash` needs hmacKey (or hmacKeyEnv) and hmacKeyId".to_owned(),
            };
            return Err(ConfigError::new(
                format!("redaction.types.{name}.mode"),
                problem,
            ));
        }
    }

    let enabled = |ty: TypeIdx| types.get(usize::from(ty.0)).is_some_and(|t| t.enabled);
    let mut extra: Vec<(TypeIdx, Box<[u8]>)> = Vec::new();
    let mut owner: BTreeMap<Box<[u8]>, &str> = BTreeMap::new();
    for (name, names) in &cfg.keys {
        let ty = lookup(&types, name).ok_or_else(|| {
            ConfigError::new(
                format!("redaction.keys.{name}"),
                "unknown type (a built-in type or a redaction.custom[].type)",
            )
        })?;
        for (j, key) in names.iter().enumerate() {
            let field = format!("redaction.keys.{name}[{j}]");
            let key = normalized_key(field.clone(), key)?;
            if let Some(other) = owner.insert(key.clone(), name) {
                return Err(ConfigError::new(
                    field,
                    format!("key already listed under redaction.keys.{other}"),
                ));
            }
            if enabled(ty) {
                extra.push((ty, key));
            }
        }
    }
    let allow_keys = cfg
        .allow
        .keys
        .iter()
        .enumerate()
        .map(|(i, key)| normalized_key(format!("redaction.allow.keys[{i}]"), key))
        .collect::<Result<Vec<_>, _>>()?;
    let mut allow_values = BTreeSet::new();
    for (i, value) in cfg.allow.values.iter().enumerate() {
        if value.is_empty() {
            return Err(ConfigError::new(
                format!("redaction.allow.values[{i}]"),
                "must not be empty",
            ));
        }
        allow_values.insert(Box::from(value.as_bytes()));
    }

    let mut patterns = Vec::new();
    for (kind, check, pattern) in detect::BUILTIN {
        let Some(ty) = TypeIdx::builtin(kind).filter(|&ty| enabled(ty)) else {
            continue;
        };
        patterns.push(
            Pattern::parse(ty, *check, *pattern)
                .map_err(|p| ConfigError::new("redaction", format!("built-in pattern: {p}")))?,
        );
    }
    patterns.extend(custom.into_iter().filter(|p| enabled(p.ty)));
    let anchored: Vec<_> = detect::ANCHORED
        .iter()
        .filter_map(|(kind, anchor, expand)| {
            let ty = TypeIdx::builtin(kind).filter(|&ty| enabled(ty))?;
            Some((ty, *anchor, *expand))
        })
        .collect();
    let detectors = Detectors::new(patterns, &anchored).map_err(|p| {
        ConfigError::new(
            "redaction.custom",
            format!("the patterns are too large together: {p}"),
        )
    })?;
    let keys = Arc::new(KeyRules::new(
        |kind| TypeIdx::builtin(kind).filter(|&ty| enabled(ty)),
        &extra,
        &allow_keys,
    ));
    Ok(Redactor {
        types,
        detectors,
        keys,
        allow_values,
        pseudonyms,
        max_scan_bytes,
    })
}

fn pseudonyms(cfg: &RedactionConfig) -> Result<Option<Pseudonyms>, ConfigError> {
    if cfg.hmac_key.is_some() && cfg.hmac_key_env.is_some() {
        return Err(both_keys());
    }
    if let Some(id) = &cfg.hmac_key_id {
        let valid = (1..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(ConfigError::new(
                "redaction.hmacKeyId",
                "1–32 characters of A–Z, a–z, 0–9, `.`, `_`, `-` (it is written into pseudonyms)",
            ));
        }
    }
    let Some(Secret(key)) = &cfg.hmac_key else {
        if cfg.hmac_key_id.is_some() && cfg.hmac_key_env.is_none() {
            return Err(ConfigError::new(
                "redaction.hmacKeyId",
                "set without hmacKey or hmacKeyEnv",
            ));
        }
        return Ok(None);
    };
    if key.len() < MIN_HMAC_KEY {
        return Err(ConfigError::new(
            "redaction.hmacKey",
            format!("must be at least {MIN_HMAC_KEY} bytes"),
        ));
    }
    let Some(id) = &cfg.hmac_key_id else {
        return Err(ConfigError::new(
            "redaction.hmacKeyId",
            "missing (required with a key: it is written into every pseudonym)",
        ));
    };
    Pseudonyms::new(key.as_bytes(), id.clone())
        .map(Some)
        .ok_or_else(|| ConfigError::new("redaction.hmacKey", "rejected by HMAC-SHA256"))
}
