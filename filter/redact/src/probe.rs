//! A search for some types only ([`Probe`]), which tells cheaply that an
//! input holds none of them: a DLP rule that denies request bodies with a
//! listed type need not scan a clean body for every type.
//!
//! The probe is exact in one direction: when it says an input holds none
//! of its types, the whole redactor finds none in it either. Its detectors
//! are the redactor's own for those types, in the same priority order, so
//! at any position each matches as it does among all of them; its single
//! pass searches again after every rejected candidate, so it meets every
//! position where one of them could match. Anything it meets counts (a
//! match that a key would suppress, or one across a value's end), and so
//! does a pass that ran out of budget for searching again. It walks the
//! input with the redactor's own key rules, so it meets the values, rules
//! and decoded copies the whole scan meets; only a value that a rule
//! claims for another type is searched instead, as any value is. The
//! probe can say "maybe" where the whole redactor finds nothing (a number
//! shape under `order_id`): the caller then scans whole.
//!
//! Where the whole scan searches a value again on its own (after its
//! single pass ran out of budget), it finds there what the probe's single
//! pass found: no validated built-in pattern can run over a value's
//! delimiter (`"`, `&`, `;`; `detect`'s test
//! `no_builtin_pattern_crosses_a_value_delimiter`), so a match bounded by
//! the value is the one the unbounded pass met; an operator's pattern may
//! run over one, but it is never rejected, so the probe counts it.

use std::fmt;
use std::sync::Arc;

use crate::error::ConfigError;
use crate::scan::Scan;
use crate::{Content, PiiType, Redactor, TypeIdx};

/// A redactor's search for some of its types; see the module.
pub struct Probe {
    redactor: Redactor,
    /// The probe's types, a bit per [`TypeIdx`].
    kept: u128,
}

impl Redactor {
    /// A probe for `types`, each an enabled type of this redactor.
    pub fn probe(&self, types: &[PiiType]) -> Result<Probe, ConfigError> {
        let mut kept = 0u128;
        for ty in types {
            let idx = self
                .types
                .iter()
                .position(|t| t.enabled && t.kind == *ty)
                .and_then(|i| u8::try_from(i).ok())
                .ok_or_else(|| ConfigError::new("redaction", format!("`{ty}` is not enabled")))?;
            kept |= TypeIdx(idx).bit128();
        }
        let detectors = self
            .detectors
            .narrowed(|ty| kept & ty.bit128() != 0)
            .map_err(|p| ConfigError::new("redaction", format!("patterns of {types:?}: {p}")))?;
        Ok(Probe {
            redactor: Redactor {
                types: self.types.clone(),
                detectors,
                keys: Arc::clone(&self.keys),
                allow_values: self.allow_values.clone(),
                pseudonyms: None,
                max_scan_bytes: self.max_scan_bytes,
            },
            kept,
        })
    }
}

impl fmt::Debug for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Probe").field(&self.redactor).finish()
    }
}

impl Probe {
    /// Whether `input` may hold one of the probe's types. `false` means
    /// the redactor it came from finds none of them in `input`.
    pub fn may_hold(&self, input: &str, content: Content<'_>) -> bool {
        let r = &self.redactor;
        let scanned = input
            .as_bytes()
            .get(..r.scan_end(input))
            .unwrap_or_default();
        let mut single = r.detectors.find_iter(scanned);
        if single.next().is_some() || single.skipped().is_some() {
            return true;
        }
        let mut scan = Scan::probing(r, scanned, self.kept);
        r.walk(&mut scan, scanned, content);
        scan.found_any()
    }
}
