//! One redaction call: the single detector pass over the input, the values
//! the structure walkers hand over, and the findings they produce.
//!
//! The detectors run once over the whole (capped) input, whatever its
//! structure; a walker then reports each value (a JSON string, a form
//! field, a header) with the rule of its key, and takes the matches that
//! fall inside it. Only values whose encoding changes the text — JSON
//! escapes, percent-encoding — are decoded and searched again on their own.

use std::cmp::Reverse;
use std::ops::Range;

use super::decode::Decoded;
use super::detect::{Match, Matches};
use super::form::percent_decode;
use super::keys::{Ctx, How};
use super::replace::{self, Mode, Repl};
use super::text::Pairs;
use super::validate;
use super::{Redactor, TypeIdx};

/// A value as the detectors see it: a range of the input itself, or a
/// decoded copy.
struct Seg<'s> {
    text: &'s [u8],
    range: Range<usize>,
    decoded: Option<&'s Decoded>,
}

impl Seg<'_> {
    fn origin(&self, i: usize) -> usize {
        self.decoded.map_or(i, |d| d.origin(i))
    }
}

/// How a value is encoded in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Enc {
    Plain,
    /// A JSON string with escapes (the walker knows which have none).
    Json,
    /// Percent-encoding with `+` for space (forms, queries).
    Form,
    /// Percent-encoding only (cookies).
    Percent,
}

/// What a value is in its structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// Text that may hold `key=value` pairs.
    Text,
    /// A JSON object key: detectors only.
    Key,
    /// A JSON number: detectors only, replaced whole.
    Number,
}

/// One finding before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hit {
    pub start: usize,
    pub end: usize,
    pub ty: TypeIdx,
    /// From a key rule (whole value) rather than a detector; on equal
    /// spans the detector's more specific type wins.
    pub by_key: bool,
    /// A JSON number: the replacement is written as a string.
    pub quote: bool,
    /// A PERSON under a `name` key, until its object says whether it is
    /// a person's ([`Scan::close`]).
    pub tentative: bool,
    pub repl: Repl,
}

/// The findings of one call, and what they are computed with.
struct Out<'r> {
    redactor: &'r Redactor,
    hits: Vec<Hit>,
    /// A probe's types ([`Scan::probing`]), a bit per [`TypeIdx`]. In a
    /// probe every match counts, whatever its key says, so that a finding
    /// the whole scan makes cannot hide behind one the probe's narrower
    /// set made and then dropped; and a value that another type's key
    /// rule claims is scanned.
    probe: Option<u128>,
    /// A probe met a match, or passed over a rejected candidate.
    found: bool,
    /// Where, in the input, the scan stopped being complete: the search
    /// of a decoded value passed over a candidate (see
    /// [`Matches::skipped`]), or the single pass did in a value that is
    /// not searched again ([`Scan::recheck`]).
    passed_over: Option<usize>,
}

pub(super) struct Scan<'r, 'h> {
    input: &'h [u8],
    matches: Matches<'r, 'h>,
    out: Out<'r>,
    buf: Decoded,
}

impl<'r, 'h> Scan<'r, 'h> {
    pub fn new(redactor: &'r Redactor, input: &'h [u8]) -> Self {
        Self::with(redactor, input, input, None)
    }

    /// A probe's walk for the types in `kept`, after its single pass over
    /// `input` found nothing: what is left to search is the values that
    /// are decoded first, and the key rules of those types.
    pub fn probing(redactor: &'r Redactor, input: &'h [u8], kept: u128) -> Self {
        Self::with(redactor, input, &[], Some(kept))
    }

    fn with(
        redactor: &'r Redactor,
        input: &'h [u8],
        searched: &'h [u8],
        probe: Option<u128>,
    ) -> Self {
        Scan {
            input,
            matches: redactor.detectors.find_iter(searched),
            out: Out {
                redactor,
                hits: Vec::new(),
                probe,
                found: false,
                passed_over: None,
            },
            buf: Decoded::default(),
        }
    }

    /// A probe's answer: whether it met anything of its types.
    pub fn found_any(&self) -> bool {
        self.out.found || !self.out.hits.is_empty()
    }

    /// The value at `span` of the input, encoded as `enc`, under rule
    /// `ctx`.
    pub fn value(&mut self, span: Range<usize>, enc: Enc, ctx: Ctx, part: Part) {
        let ctx = self.out.narrow(ctx);
        let raw = self.input.get(span.clone()).unwrap_or_default();
        let decode = match enc {
            Enc::Plain => false,
            Enc::Json => true,
            Enc::Form => raw.iter().any(|&b| b == b'%' || b == b'+'),
            Enc::Percent => raw.contains(&b'%'),
        };
        let pending = self.matches.peek().is_some_and(|m| m.start < span.end);
        let whole_value = matches!(ctx, Ctx::Redact { .. });
        if !decode && !pending && !whole_value && part != Part::Text {
            // The common case for JSON keys and numbers.
            self.recheck(span, ctx, part, self.out.hits.len());
            return;
        }
        // Matches of the single pass inside the value (others — across
        // value boundaries, in JSON punctuation — are dropped). Without a
        // pending match there are none, and the peeked match is not taken
        // out and put back (a copy through memory on every value).
        let matches = &mut self.matches;
        let inside = std::iter::from_fn(|| loop {
            if !pending {
                return None;
            }
            let m = matches.next_if(|m| m.start < span.end)?;
            if m.start >= span.start && m.end <= span.end {
                return Some(m);
            }
        });
        if !decode {
            let seg = Seg {
                text: self.input,
                range: span.clone(),
                decoded: None,
            };
            let number = (part == Part::Number).then_some(&span);
            let first = self.out.hits.len();
            self.out.value(&seg, inside, ctx, part, number);
            self.recheck(span, ctx, part, first);
            return;
        }
        inside.for_each(drop);
        match enc {
            Enc::Json => super::json::unescape(self.input, span, &mut self.buf),
            _ => percent_decode(self.input, span, enc == Enc::Form, |i| i, &mut self.buf),
        }
        let seg = Seg {
            text: &self.buf.text,
            range: 0..self.buf.text.len(),
            decoded: Some(&self.buf),
        };
        let mut matches = self.out.redactor.detectors.find_iter(&self.buf.text);
        self.out.value(&seg, matches.by_ref(), ctx, part, None);
        self.out
            .passed_over(matches.skipped().map(|at| seg.origin(at)));
    }

    /// A value (of the input itself) in which the single pass passed over
    /// a rejected candidate, its budget spent on the input before it, is
    /// searched again on a budget of its own: its findings so far
    /// (`hits[first..]`) are replaced. A list of card-shaped numbers, one
    /// per JSON string, so stays completely searched. A value of half the
    /// input or more would only run out of its own budget again, at twice
    /// the cost, so there the scan stays incomplete.
    fn recheck(&mut self, span: Range<usize>, ctx: Ctx, part: Part, first: usize) {
        let Some(at) = self.matches.passed_over_in(&span) else {
            return;
        };
        if span.len().saturating_mul(2) >= self.input.len() {
            self.out.passed_over(Some(at));
            return;
        }
        self.out.hits.truncate(first);
        let mut own = self
            .out
            .redactor
            .detectors
            .find_iter_in(self.input, span.clone());
        let seg = Seg {
            text: self.input,
            range: span.clone(),
            decoded: None,
        };
        let number = (part == Part::Number).then_some(&span);
        let matches = own
            .by_ref()
            .filter(|m| m.start >= span.start && m.end <= span.end);
        self.out.value(&seg, matches, ctx, part, number);
        self.out.passed_over(own.skipped());
    }

    /// Where the search stopped being complete, if it did: a rejected
    /// candidate from there on was not searched again, so a value that
    /// overlaps it may have been missed (hostile or very dense input).
    pub fn complete_to(&self) -> Option<usize> {
        self.out.passed_over
    }

    /// The end of the JSON object from `start` that had a `name` key:
    /// `keep` says whether it is a person's, so whether the tentative
    /// findings in it stay. (Those of objects inside it were settled when
    /// they ended.)
    pub fn close(&mut self, start: usize, keep: bool) {
        let hits = &mut self.out.hits;
        let inside = |h: &Hit| h.tentative && h.start >= start;
        if keep {
            for hit in hits.iter_mut().filter(|h| inside(h)) {
                hit.tentative = false;
            }
        } else {
            hits.retain(|h| !inside(h));
        }
    }

    /// The findings, sorted, non-overlapping and on character boundaries
    /// of `input`.
    pub fn finish(self, input: &str) -> Vec<Hit> {
        let mut hits = self.out.hits;
        if hits.is_empty() {
            return hits;
        }
        for hit in &mut hits {
            while hit.start > 0 && !input.is_char_boundary(hit.start) {
                hit.start -= 1;
            }
            while hit.end < input.len() && !input.is_char_boundary(hit.end) {
                hit.end += 1;
            }
        }
        hits.sort_unstable_by_key(|h| (h.start, Reverse(h.end), h.by_key));
        let mut merged: Vec<Hit> = Vec::with_capacity(hits.len());
        for hit in hits {
            match merged.last_mut() {
                Some(last) if hit.start < last.end => {
                    if hit.end > last.end {
                        // Partial overlap: one finding over both, masked.
                        last.end = hit.end;
                        last.repl = Repl::Mask;
                    }
                }
                _ => merged.push(hit),
            }
        }
        merged
    }
}

impl Out<'_> {
    /// Notes where the scan stopped being complete; for a probe, that
    /// counts as meeting one of its types.
    fn passed_over(&mut self, at: Option<usize>) {
        if let Some(at) = at {
            self.found |= self.probe.is_some();
            self.passed_over = Some(self.passed_over.map_or(at, |p| p.min(at)));
        }
    }

    /// A key rule as the scan applies it: in a probe, a rule that claims
    /// a value for a type the probe does not search has the value scanned
    /// instead (an SSN-shaped `phone`). The walk still meets the rule
    /// itself, so everything else it decides stays as in the whole scan.
    fn narrow(&self, ctx: Ctx) -> Ctx {
        match (self.probe, ctx) {
            (Some(kept), Ctx::Redact { ty, .. }) if kept & ty.bit128() == 0 => Ctx::SCAN,
            _ => ctx,
        }
    }

    fn value(
        &mut self,
        seg: &Seg<'_>,
        matches: impl Iterator<Item = Match>,
        ctx: Ctx,
        part: Part,
        number: Option<&Range<usize>>,
    ) {
        let first = self.hits.len();
        let keys = &self.redactor.keys;
        for m in matches {
            if self.probe.is_some() {
                self.found = true;
                break;
            }
            // `order number 4854…`: a label in prose suppresses as its key
            // would.
            let labelled = || {
                part == Part::Text
                    && super::text::label_before(seg.text, m.start, seg.range.start, keys)
                        .is_some_and(|label| label.suppresses(m.ty))
            };
            if !ctx.suppresses(m.ty) && !labelled() {
                self.push(seg, m.start..m.end, m.ty, false, number);
            }
        }
        match ctx {
            Ctx::Allow => {}
            Ctx::Redact { ty, how } => self.redact(seg, seg.range.clone(), ty, how, number),
            Ctx::Scan { .. } if part == Part::Text => self.pairs(seg, ctx, first),
            Ctx::Scan { .. } => {}
        }
    }

    /// The value of a key rule at `range` of `seg.text`, redacted as `how`
    /// says.
    fn redact(
        &mut self,
        seg: &Seg<'_>,
        range: Range<usize>,
        ty: TypeIdx,
        how: How,
        number: Option<&Range<usize>>,
    ) {
        if how == How::Scheme {
            super::auth::credentials(seg.text, range, |r| self.push(seg, r, ty, true, number));
            return;
        }
        let value = trim(seg.text, range);
        let text = seg.text.get(value.clone()).unwrap_or_default();
        let take = match how {
            How::Name | How::Person => super::names::looks_like_name(text),
            How::Secret => looks_like_secret(text),
            How::Whole | How::Words | How::Scheme => true,
        };
        if take {
            self.push(seg, value, ty, true, number);
            if how == How::Name {
                if let Some(hit) = self.hits.last_mut() {
                    hit.tentative = true;
                }
            }
        }
    }

    /// `key=value` / `key: value` pairs inside a scanned value. Detector
    /// hits of this value are `hits[first..detected]`, sorted by start.
    fn pairs(&mut self, seg: &Seg<'_>, ctx: Ctx, first: usize) {
        let redactor = self.redactor;
        // SQL only where a value list can be: long values with a `(`.
        let value = seg.text.get(seg.range.clone()).unwrap_or_default();
        if value.len() >= 24
            && memchr::memchr(b'(', value).is_some()
            && super::sql::has_values(value)
        {
            for (column, value) in super::sql::inserts(seg.text, seg.range.clone()) {
                let name = seg.text.get(column).unwrap_or_default();
                let ctx = redactor.keys.classify(name).map(|c| self.narrow(c));
                if let Some(Ctx::Redact { ty, how }) = ctx {
                    self.redact(seg, value, ty, how, None);
                }
            }
        }
        let mut detected = self.hits.len();
        for pair in Pairs::new(seg.text, seg.range.clone(), &redactor.keys) {
            match self.narrow(pair.ctx) {
                Ctx::Redact { ty, how } => self.redact(seg, pair.value.clone(), ty, how, None),
                Ctx::Scan { .. } | Ctx::Allow => {
                    // Drop detector hits this key suppresses.
                    let (start, end) = (seg.origin(pair.value.start), seg.origin(pair.value.end));
                    let mut i = first
                        + self
                            .hits
                            .get(first..detected)
                            .unwrap_or_default()
                            .partition_point(|h| h.start < start);
                    while i < detected {
                        let Some(hit) = self.hits.get(i) else { break };
                        if hit.start >= end {
                            break;
                        }
                        if hit.end <= end && pair.ctx.suppresses(hit.ty) {
                            self.hits.remove(i);
                            detected -= 1;
                        } else {
                            i += 1;
                        }
                    }
                }
            }
            if pair.encoded {
                let mut decoded = Decoded::default();
                percent_decode(seg.text, pair.value, true, |i| seg.origin(i), &mut decoded);
                let inner = Seg {
                    text: &decoded.text,
                    range: 0..decoded.text.len(),
                    decoded: Some(&decoded),
                };
                let mut matches = redactor.detectors.find_iter(&decoded.text);
                for m in matches.by_ref() {
                    if self.probe.is_some() {
                        self.found = true;
                        break;
                    }
                    if !ctx.suppresses(m.ty) {
                        self.push(&inner, m.start..m.end, m.ty, false, None);
                    }
                }
                self.passed_over(matches.skipped().map(|at| inner.origin(at)));
            }
        }
    }

    /// Records a finding over `local` (positions in `seg.text`), unless its
    /// value is allow-listed. `number`: the JSON number it lies in.
    fn push(
        &mut self,
        seg: &Seg<'_>,
        local: Range<usize>,
        ty: TypeIdx,
        by_key: bool,
        number: Option<&Range<usize>>,
    ) {
        let Some(value) = seg.text.get(local.clone()).filter(|v| !v.is_empty()) else {
            return;
        };
        let r = self.redactor;
        if r.allow_values.contains(value) || (by_key && replace::is_replacement(value)) {
            return;
        }
        let Some(entry) = r.types.get(usize::from(ty.0)) else {
            return;
        };
        let (start, end) = match number {
            Some(number) => (number.start, number.end),
            None => (seg.origin(local.start), seg.origin(local.end)),
        };
        let repl = match entry.mode {
            Mode::Mask => Repl::Mask,
            Mode::Partial { keep } => {
                let (stars, offset) = replace::partial(value, keep);
                Repl::Partial {
                    stars,
                    tail: seg.origin(local.start + offset),
                }
            }
            Mode::Hash => match &r.pseudonyms {
                Some(p) => Repl::Text(p.pseudonym(entry.kind.as_str(), value)),
                None => Repl::Mask,
            },
        };
        self.hits.push(Hit {
            start,
            end,
            ty,
            by_key,
            quote: number.is_some(),
            tentative: false,
            repl,
        });
    }
}

/// `range` without the whitespace around it.
fn trim(text: &[u8], range: Range<usize>) -> Range<usize> {
    let value = text.get(range.clone()).unwrap_or_default();
    let lead = value.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let trail = value
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_whitespace())
        .count();
    let start = range.start + lead;
    start..range.end.saturating_sub(trail).max(start)
}

/// A value under a generic key (`key`, `auth`, `sig`) that looks like a
/// secret: 16–512 characters of hex, base64 or base64url, with letters and
/// either digits or base64 padding, and either hex or of mixed case
/// (`my-cache-key-2024` is a name, `5f4dcc3b5aa765d61d8327deb882cf99`,
/// `dXNlcjpwYXNz` and the digit-less `ZHdhdGFuYWJlOjkmOWFZeTIpNnI=` are
/// not).
fn looks_like_secret(value: &[u8]) -> bool {
    let body = value
        .strip_suffix(b"==")
        .or(value.strip_suffix(b"="))
        .unwrap_or(value);
    let charset = body
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"+/_-.~".contains(&b));
    // A third of base64 values are padded; an unpadded one without a
    // digit is rare (under 1 % at 28 characters), a camel-case name is not.
    let padded = body.len() < value.len() && value.len().is_multiple_of(4);
    let digits = body.iter().any(u8::is_ascii_digit) || padded || validate::base64_of_text(body);
    let hex = body.iter().all(u8::is_ascii_hexdigit);
    let mixed_case =
        body.iter().any(u8::is_ascii_lowercase) && body.iter().any(u8::is_ascii_uppercase);
    (16..=512).contains(&value.len()) && charset && digits && (hex || mixed_case)
}
