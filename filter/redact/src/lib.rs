//! PII redaction: one engine for the filter (request/response bodies and
//! headers) and the collector (re-redaction, the `redact` CLI).
//!
//! ```
//! use std::collections::BTreeMap;
//! use observatory_redact::{Content, RedactionConfig, Redactor};
//!
//! // Configure time: the plugin's `redaction` object, compiled once.
//! let cfg: RedactionConfig =
//!     serde_json::from_str(r#"{"types": {"CREDIT_CARD": {"mode": "partial"}}}"#).unwrap();
//! let redactor = Redactor::new(&cfg).unwrap();
//!
//! // Per body or header value.
//! let body = r#"{"email": "jane@example.com", "card": "4242424242424242"}"#;
//! let out = redactor.redact(body, Content::Json);
//! assert_eq!(out.text, r#"{"email": "[REDACTED:EMAIL]", "card": "************4242"}"#);
//! let first = &out.findings[0]; // byte offsets into `body`
//! assert_eq!((first.start, first.end, first.kind.as_str()), (11, 27, "EMAIL"));
//! let mut counts = BTreeMap::new(); // the audit record's `redactions`
//! out.count_into(&mut counts);
//! assert_eq!(counts["CREDIT_CARD"], 1);
//! ```
//!
//! - **Detectors** (`EMAIL`, `CREDIT_CARD`, `US_SSN`, `PHONE`, `IPV4`, `IPV6`,
//!   `IBAN`, `JWT`, `API_KEY`, operator patterns) run in one pass over the
//!   input — a multi-pattern automaton plus anchored scanners — each
//!   candidate checked by a cheap validator (Luhn, mod-97, …): `detect.rs`,
//!   `validate.rs`.
//! - **Key rules** (`PASSWORD`, `PERSON`, `DATE_OF_BIRTH`, and `API_KEY`,
//!   `PHONE`, `US_SSN` by key) redact the value of a JSON key, form/query
//!   parameter, cookie, header or `key=value` / `key: value` in text;
//!   `version`- and id-like keys suppress number-shaped detectors: `keys.rs`.
//! - **Structure**: `json.rs` (escapes mapped back to the input; malformed or
//!   truncated JSON falls back to text), `form.rs` (forms, queries,
//!   cookies), `text.rs` (key-value pairs in free text), `scan.rs` (one call);
//!   `decode.rs` holds decoded copies with their input offsets.
//! - **Replacement** per type: `mask`, `partial`, `hash`: `replace.rs`;
//!   configuration: `settings.rs`, its errors: [`error`].
//! - **Probes**: [`Probe`] searches for some types alone and clears an
//!   input only when the whole scan would find none of them (a DLP rule's
//!   `denyOnPii`): `probe.rs`.
//! - **Record fields**: [`fields`] redacts a value for an audit record
//!   (counted, cut where the scan stopped), for the filter and the
//!   collector alike.
//!
//! Findings are byte offsets into the original input, on character
//! boundaries, so `{"start":s,"end":e,"type":"EMAIL"}` can be printed for
//! any input. Only the first `maxScanBytes` bytes are inspected;
//! [`Redacted::truncated`] says the rest was passed through unscanned.
//! Nothing is allocated unless a detector or key rule matches, or a JSON
//! string has escapes, or a form field is percent-encoded.

mod auth;
pub mod charset;
mod decode;
mod detect;
pub mod error;
pub mod fields;
mod form;
mod json;
mod keys;
mod names;
mod probe;
mod replace;
mod scan;
mod settings;
mod sql;
mod text;
mod validate;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use keys::{Ctx, KeyRules};
use replace::{Mode, Pseudonyms, Repl};
use scan::{Enc, Part, Scan};

pub use error::ConfigError;
pub use probe::Probe;
pub use settings::RedactionConfig;

/// A PII type: a built-in one, or one named by a `redaction.custom` rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiType {
    Email,
    CreditCard,
    UsSsn,
    Phone,
    Ipv4,
    Ipv6,
    Iban,
    Jwt,
    ApiKey,
    Password,
    Person,
    DateOfBirth,
    Custom(Arc<str>),
}

impl PiiType {
    /// The built-in types: with custom ones, the keys a record's
    /// `redactions` can have. A type's position is its index among a
    /// redactor's types.
    pub const BUILTIN: [PiiType; 12] = [
        PiiType::Email,
        PiiType::CreditCard,
        PiiType::UsSsn,
        PiiType::Phone,
        PiiType::Ipv4,
        PiiType::Ipv6,
        PiiType::Iban,
        PiiType::Jwt,
        PiiType::ApiKey,
        PiiType::Password,
        PiiType::Person,
        PiiType::DateOfBirth,
    ];

    /// The name used in configuration, findings and audit records.
    pub fn as_str(&self) -> &str {
        match self {
            PiiType::Email => "EMAIL",
            PiiType::CreditCard => "CREDIT_CARD",
            PiiType::UsSsn => "US_SSN",
            PiiType::Phone => "PHONE",
            PiiType::Ipv4 => "IPV4",
            PiiType::Ipv6 => "IPV6",
            PiiType::Iban => "IBAN",
            PiiType::Jwt => "JWT",
            PiiType::ApiKey => "API_KEY",
            PiiType::Password => "PASSWORD",
            PiiType::Person => "PERSON",
            PiiType::DateOfBirth => "DATE_OF_BIRTH",
            PiiType::Custom(name) => name,
        }
    }
}

impl fmt::Display for PiiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Index of a type in [`Redactor::types`]: built-ins first, in
/// [`PiiType::BUILTIN`] order, then custom types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TypeIdx(u8);

impl TypeIdx {
    /// Not a type: what a probe's first pass reports for a key name of
    /// its types ([`detect::Detectors::narrowed`]).
    const KEY_NAME: TypeIdx = TypeIdx(u8::MAX);

    fn builtin(ty: &PiiType) -> Option<TypeIdx> {
        PiiType::BUILTIN
            .iter()
            .position(|b| b == ty)
            .and_then(|i| u8::try_from(i).ok())
            .map(TypeIdx)
    }

    /// This type's bit in a suppression mask (built-in types only).
    fn bit(self) -> u16 {
        1u16.checked_shl(u32::from(self.0)).unwrap_or(0)
    }

    /// This type's bit in a set of any types (a probe's).
    fn bit128(self) -> u128 {
        1u128.checked_shl(u32::from(self.0)).unwrap_or(0)
    }
}

/// What the input is; decides how it is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content<'a> {
    /// A JSON document (or JSON lines).
    Json,
    /// An `application/x-www-form-urlencoded` body.
    Form,
    /// A query string, with or without the path and `?` before it.
    Query,
    /// The value of the header with this name: `Authorization` (only the
    /// credentials), `Cookie`/`Set-Cookie` (per cookie), a key-like name
    /// (`X-Api-Key`), or any other header (scanned as text).
    Header(&'a str),
    /// Plain text or log lines.
    Text,
    /// A body with this `Content-Type`; JSON is also recognised by its
    /// first byte, anything unknown is text.
    Auto(&'a str),
}

/// One finding: `input[start..end]` (bytes, on character boundaries) is of
/// type `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    pub kind: PiiType,
}

/// The result of [`Redactor::redact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted<'a> {
    /// The input with every finding replaced (borrowed when nothing was).
    pub text: Cow<'a, str>,
    /// In input order, non-overlapping.
    pub findings: Vec<Finding>,
    /// The scan did not cover all of the input: it was longer than
    /// `maxScanBytes` (the rest was not scanned and is passed through as
    /// it is), or from [`Redacted::scanned`] on the search passed over
    /// candidates it had no budget left to search again (very dense or
    /// hostile input), so a value there may have been missed.
    pub truncated: bool,
    /// Where the complete scan ended (the input's length when it is not
    /// `truncated`).
    scanned: usize,
    /// Where each finding's replacement ends in `text`, so that an input
    /// position maps to the output ([`fields`] cuts there).
    ends: Vec<usize>,
}

impl Redacted<'_> {
    /// Where the complete scan ended: the input's length unless
    /// [`Redacted::truncated`].
    pub fn scanned(&self) -> usize {
        self.scanned
    }

    /// The position in `text` of input position `at`, which is outside
    /// every finding.
    fn output_position(&self, at: usize) -> usize {
        let before = self.findings.partition_point(|f| f.end <= at);
        match before.checked_sub(1) {
            Some(last) => {
                let (end, out) = (
                    self.findings.get(last).map_or(0, |f| f.end),
                    self.ends.get(last).copied().unwrap_or(0),
                );
                out + (at - end)
            }
            None => at,
        }
    }

    /// Adds the number of findings per type to `counts` (the audit
    /// record's `redactions`), so several inputs of one request add up.
    pub fn count_into(&self, counts: &mut BTreeMap<String, u32>) {
        count_findings(&self.findings, counts);
    }
}

/// Adds the number of findings per type to `counts` (the audit record's
/// `redactions`).
pub fn count_findings(findings: &[Finding], counts: &mut BTreeMap<String, u32>) {
    for finding in findings {
        let count = counts.entry(finding.kind.as_str().to_owned()).or_default();
        *count = count.saturating_add(1);
    }
}

/// A compiled redaction configuration: built once at configure time,
/// shared by every request (`Send + Sync`).
pub struct Redactor {
    types: Vec<TypeEntry>,
    detectors: detect::Detectors,
    /// Shared with this redactor's probes.
    keys: Arc<KeyRules>,
    allow_values: BTreeSet<Box<[u8]>>,
    pseudonyms: Option<Pseudonyms>,
    max_scan_bytes: usize,
}

/// A type's name, replacement mode and precomputed mask.
#[derive(Clone)]
struct TypeEntry {
    kind: PiiType,
    mode: Mode,
    enabled: bool,
    mask: Box<str>,
}

impl TypeEntry {
    fn new(kind: PiiType) -> Self {
        let mask = format!("[REDACTED:{kind}]").into_boxed_str();
        TypeEntry {
            kind,
            mode: Mode::Mask,
            enabled: true,
            mask,
        }
    }
}

impl fmt::Debug for Redactor {
    /// Types and modes only: never the HMAC key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let types: Vec<_> = self
            .types
            .iter()
            .filter(|t| t.enabled)
            .map(|t| (t.kind.as_str(), t.mode))
            .collect();
        f.debug_struct("Redactor")
            .field("types", &types)
            .field("pseudonyms", &self.pseudonyms)
            .field("max_scan_bytes", &self.max_scan_bytes)
            .finish_non_exhaustive()
    }
}

/// Whether `hay` contains `needle` (lowercase), ignoring ASCII case.
fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// How the scanned part of an input is walked.
enum Walk {
    Json,
    /// Fields separated by this byte, values encoded so.
    Fields(u8, Enc),
    Value(Ctx),
}

impl Redactor {
    /// Validates and compiles `cfg`. Errors name the field
    /// (`redaction.custom[0].pattern: invalid regex: …`).
    pub fn new(cfg: &RedactionConfig) -> Result<Redactor, ConfigError> {
        settings::compile(cfg)
    }

    /// The enabled type of this name (built-in or custom).
    pub fn enabled_type(&self, name: &str) -> Option<PiiType> {
        self.types
            .iter()
            .find(|t| t.enabled && t.kind.as_str() == name)
            .map(|t| t.kind.clone())
    }

    /// Bytes of an input that are scanned (`maxScanBytes`).
    pub fn max_scan_bytes(&self) -> usize {
        self.max_scan_bytes
    }

    /// Where scanning of `input` stops: `maxScanBytes`, on a character
    /// boundary (the input's length when it is shorter).
    pub fn scan_end(&self, input: &str) -> usize {
        let mut cut = input.len().min(self.max_scan_bytes);
        while !input.is_char_boundary(cut) {
            cut -= 1;
        }
        cut
    }

    /// Finds and replaces the PII in `input`.
    pub fn redact<'a>(&self, input: &'a str, content: Content<'_>) -> Redacted<'a> {
        let (hits, cut) = self.hits(input, content);
        let truncated = cut < input.len();
        if hits.is_empty() {
            return Redacted {
                text: Cow::Borrowed(input),
                findings: Vec::new(),
                truncated,
                scanned: cut,
                ends: Vec::new(),
            };
        }
        let findings = self.findings_of(&hits);
        let mut ends = Vec::with_capacity(hits.len());
        Redacted {
            text: Cow::Owned(self.render(input, &hits, &mut ends)),
            findings,
            truncated,
            scanned: cut,
            ends,
        }
    }

    /// The PII in `input`, as [`Redactor::redact`] finds it, without
    /// writing the redacted text (a DLP check of a body nobody records).
    pub fn findings(&self, input: &str, content: Content<'_>) -> Vec<Finding> {
        self.findings_of(&self.hits(input, content).0)
    }

    /// [`Redactor::findings`], and where the complete scan ended (see
    /// [`Redacted::truncated`]): the input's length when it covered all
    /// of it.
    pub fn findings_scanned(&self, input: &str, content: Content<'_>) -> (Vec<Finding>, usize) {
        let (hits, scanned) = self.hits(input, content);
        (self.findings_of(&hits), scanned)
    }

    fn findings_of(&self, hits: &[scan::Hit]) -> Vec<Finding> {
        hits.iter()
            .filter_map(|h| {
                Some(Finding {
                    start: h.start,
                    end: h.end,
                    kind: self.types.get(usize::from(h.ty.0))?.kind.clone(),
                })
            })
            .collect()
    }

    /// The findings to replace, and where the complete scan ended.
    fn hits(&self, input: &str, content: Content<'_>) -> (Vec<scan::Hit>, usize) {
        let cut = self.scan_end(input);
        let scanned = input.as_bytes().get(..cut).unwrap_or_default();
        let mut scan = Scan::new(self, scanned);
        self.walk(&mut scan, scanned, content);
        let mut complete = scan.complete_to().map_or(cut, |at| at.min(cut));
        while !input.is_char_boundary(complete) {
            complete -= 1;
        }
        (scan.finish(input), complete)
    }

    /// How `scanned` is walked, over which range of it.
    pub(crate) fn plan(&self, scanned: &[u8], content: Content<'_>) -> (Walk, Range<usize>) {
        let mut range = 0..scanned.len();
        let walk = match content {
            Content::Json => Walk::Json,
            Content::Form => Walk::Fields(b'&', Enc::Form),
            Content::Query => {
                if let Some(q) = memchr::memchr(b'?', scanned) {
                    range.start = q + 1;
                }
                if let Some(hash) =
                    memchr::memchr(b'#', scanned.get(range.clone()).unwrap_or_default())
                {
                    range.end = range.start + hash;
                }
                Walk::Fields(b'&', Enc::Form)
            }
            Content::Header(name)
                if name.eq_ignore_ascii_case("cookie")
                    || name.eq_ignore_ascii_case("set-cookie") =>
            {
                Walk::Fields(b';', Enc::Percent)
            }
            Content::Header(name) => {
                Walk::Value(self.keys.classify(name.as_bytes()).unwrap_or(Ctx::SCAN))
            }
            Content::Text => Walk::Value(Ctx::SCAN),
            Content::Auto(content_type) => {
                let ct = content_type.as_bytes();
                let first = scanned.iter().find(|b| !b.is_ascii_whitespace());
                if contains_ignore_case(ct, b"json") || matches!(first, Some(b'{' | b'[')) {
                    Walk::Json
                } else if contains_ignore_case(ct, b"x-www-form-urlencoded") {
                    Walk::Fields(b'&', Enc::Form)
                } else {
                    Walk::Value(Ctx::SCAN)
                }
            }
        };
        (walk, range)
    }

    /// The scanned part of an input, walked by its structure into `scan`.
    fn walk(&self, scan: &mut Scan<'_, '_>, scanned: &[u8], content: Content<'_>) {
        let cut = scanned.len();
        let (walk, range) = self.plan(scanned, content);
        match walk {
            Walk::Json => {
                let json = |escaped| if escaped { Enc::Json } else { Enc::Plain };
                // Inlined into the walk, which calls it for every token: as a
                // call, each key's rule went through memory in pieces and was
                // read back whole, a store-forwarding stall per member.
                let walked = json::walk(
                    scanned,
                    &self.keys,
                    #[inline(always)]
                    |token, ctx| match token {
                        json::Token::Str(r, escaped) => {
                            scan.value(r, json(escaped), ctx, Part::Text)
                        }
                        json::Token::Key(r, escaped) => {
                            scan.value(r, json(escaped), ctx, Part::Key)
                        }
                        json::Token::Num(r) => scan.value(r, Enc::Plain, ctx, Part::Number),
                        json::Token::Close(start, keep) => scan.close(start, keep),
                    },
                );
                if let Err(resume) = walked {
                    scan.value(resume.at..cut, Enc::Plain, resume.ctx, Part::Text);
                }
            }
            Walk::Fields(sep, enc) => {
                for (name, value) in form::fields(scanned, range, sep) {
                    let name = scanned.get(name).unwrap_or_default();
                    let ctx = self.keys.classify(name).unwrap_or(Ctx::SCAN);
                    scan.value(value, enc, ctx, Part::Text);
                }
            }
            Walk::Value(ctx) => scan.value(range, Enc::Plain, ctx, Part::Text),
        }
    }

    fn render(&self, input: &str, hits: &[scan::Hit], ends: &mut Vec<usize>) -> String {
        let mut out = String::with_capacity(input.len() + 16 * hits.len());
        let mut at = 0;
        for hit in hits {
            out.push_str(input.get(at..hit.start).unwrap_or_default());
            if hit.quote {
                out.push('"');
            }
            match &hit.repl {
                Repl::Mask => {
                    let mask = self.types.get(usize::from(hit.ty.0)).map(|t| &*t.mask);
                    out.push_str(mask.unwrap_or("[REDACTED]"));
                }
                Repl::Partial { stars, tail } => {
                    out.extend(std::iter::repeat_n('*', *stars));
                    out.push_str(input.get(*tail..hit.end).unwrap_or_default());
                }
                Repl::Text(text) => out.push_str(text),
            }
            if hit.quote {
                out.push('"');
            }
            ends.push(out.len());
            at = hit.end;
        }
        out.push_str(input.get(at..).unwrap_or_default());
        out
    }
}
