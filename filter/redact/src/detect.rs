//! The single pass: the detectors' patterns in one multi-pattern automaton
//! (`regex_automata::meta`, leftmost-first, lazy DFA — linear time, no
//! backtracking), plus anchored scanners (`@` for EMAIL, `eyJ` for JWT,
//! `://` for passwords in URLs), and a cheap validator per candidate.
//!
//! Patterns are ASCII-only and loose; [`super::validate`] decides. When a
//! candidate is rejected the search resumes one byte after its start, so a
//! rejected candidate cannot hide a real finding that overlaps it. That
//! re-scanning is budgeted to the haystack's length; past the budget the
//! search resumes after the candidate and says from where it was not
//! complete ([`Matches::skipped`]), so that a record is cut there. Every
//! built-in pattern has a bounded prefix before it can match, so a search never
//! runs far past its match: hostile input costs a small constant factor
//! over a clean pass. EMAIL and JWT are found from their anchors instead,
//! because their unbounded leading parts (a local part, a base64 header)
//! would break that bound.

use std::borrow::Cow;
use std::ops::Range;

use memchr::memmem;
use regex_automata::{meta, util::syntax, Input};
use regex_syntax::hir::Hir;

use super::names::Cue;
use super::{validate, PiiType, TypeIdx};

/// How a candidate is validated.
#[derive(Clone, Copy, Debug)]
pub(super) enum Check {
    Card,
    Ssn,
    Phone,
    Ipv4,
    Ipv6,
    Iban,
    Token,
    MixedToken,
    /// A cue before a person's name (`Dear `, `my name is `).
    Person(Cue),
    /// A phone number after its label, in any grouping.
    LabelledPhone,
    /// A social security number after its label, also undashed.
    LabelledSsn,
    /// Operator patterns are taken as they match.
    Custom,
    /// A key name of a probe's types ([`Detectors::narrowed`]), taken as
    /// it matches.
    KeyName,
}

impl Check {
    fn run(self, hay: &[u8], span: &Range<usize>) -> Option<Range<usize>> {
        match self {
            Check::Card => validate::credit_card(hay, span),
            Check::Ssn => validate::us_ssn(hay, span),
            Check::Phone => validate::phone(hay, span),
            Check::Ipv4 => validate::ipv4(hay, span),
            Check::Ipv6 => validate::ipv6(hay, span),
            Check::Iban => validate::iban(hay, span),
            Check::Token => validate::token(hay, span),
            Check::MixedToken => validate::mixed_token(hay, span),
            Check::Person(cue) => super::names::after_cue(hay, span, cue),
            Check::LabelledPhone => validate::labelled_phone(hay, span),
            Check::LabelledSsn => validate::labelled_ssn(hay, span),
            Check::Custom | Check::KeyName => Some(span.clone()),
        }
    }
}

/// Built-in patterns in priority order: at one start position the earlier
/// pattern wins (the most specific shapes first).
pub(super) const BUILTIN: &[(PiiType, Check, &str)] = &[
    (
        PiiType::ApiKey,
        Check::Token,
        concat!(
            r"(?-u)\b(?:",
            r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)[A-Z0-9]{16}",
            r"|gh[pousr]_[A-Za-z0-9]{36,}",
            r"|github_pat_[A-Za-z0-9_]{22,}",
            r"|(?:xox[abposre]|xapp)-[A-Za-z0-9\-]{10,}",
            r"|(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}",
            r"|whsec_[A-Za-z0-9]{24,}",
            r"|AIza[0-9A-Za-z_\-]{35}",
            r"|glpat-[A-Za-z0-9_\-]{20,}",
            r"|npm_[A-Za-z0-9]{36}",
            r"|SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
            r"|shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
            r")"
        ),
    ),
    (
        PiiType::ApiKey,
        Check::MixedToken,
        r"(?-u)\bsk-[A-Za-z0-9_\-]{20,}",
    ),
    (
        PiiType::Iban,
        Check::Iban,
        // Also glued into a word, compact and upper-case (`refDE89…`).
        r"(?-u)\b[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}\b|[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}",
    ),
    (
        PiiType::CreditCard,
        Check::Card,
        // Also glued to a letter (`card4111…`): the validator decides.
        r"(?-u)(?:\b|[A-Za-z])[2-6](?:[ .\-]?[0-9]){12,18}",
    ),
    (
        PiiType::UsSsn,
        Check::Ssn,
        r"(?-u)\b[0-9]{3}[\- ][0-9]{2}[\- ][0-9]{4}\b",
    ),
    (
        PiiType::Ipv4,
        Check::Ipv4,
        r"(?-u)\b[0-9]{1,3}(?:\.[0-9]{1,3}){3}\b",
    ),
    (
        PiiType::Ipv6,
        Check::Ipv6,
        concat!(
            r"(?-u)\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b",
            r"|(?:\b[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?::",
            r"(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?(?:\.[0-9]{1,3}){0,3}",
        ),
    ),
    (
        PiiType::Phone,
        Check::Phone,
        concat!(
            // E.164 (`+` or `00`), with or without separators
            r"(?-u)(?:(?:\+|\b00)[1-9][0-9 .()\-]{6,20}[0-9]",
            // North American: (415) 555-2671, (405)312-5045, 415.555.2671,
            // 1-800-555-0199
            r"|\(?\b(?:1[ .\-])?[2-9][0-9]{2}\)?[ .\-]{0,2}[0-9]{3}[ .\-][0-9]{4}",
            // trunk prefix 0: 020 7946 0958, 01 23 45 67 89, (030) 1234567
            r"|\(?\b0[1-9][0-9]{0,4}\)?(?:[ .\-][0-9]{2,8}){1,5}",
            // North American local number: 555-0123
            r"|\b[2-9][0-9]{2}-[0-9]{4})",
            // an extension: x909, ext. 12
            r"(?:[ ]?(?:[xX]|[eE]xtn?\.?)[ ]?[0-9]{1,6})?\b",
        ),
    ),
    (
        PiiType::Phone,
        Check::LabelledPhone,
        // A label, then a number in any grouping (the validator counts its
        // digits): `tel. 6877117580`, `Telefon: 030 1234567`.
        concat!(
            r"(?i-u)\b(?:tel|phone|telephone|mobile|cell|cellphone|fax|telefon|telefono|",
            r"tel\u{e9}fono|t\u{e9}l\u{e9}phone|telefone|telefoon|celular|cellulare|handy|mobil|",
            r"m\u{f3}vil|movil|portable|gsm)\.?(?:[ \t]*(?:no|nr|number|num|#)\.?)?[ \t]*[:.]?[ \t]*",
            r"\(?\+?[0-9][0-9 ().\-/]{4,22}[0-9](?:[ ]?(?:x|extn?\.?)[ ]?[0-9]{1,6})?\b",
        ),
    ),
    (
        PiiType::UsSsn,
        Check::LabelledSsn,
        // `SSN 675489003`: a social security number after its label, also
        // without dashes.
        concat!(
            r"(?i-u)\b(?:ssn|social security(?: number| no\.?| #)?)[ \t]*[:#.]?[ \t]*",
            r"[0-9]{3}[ \-]?[0-9]{2}[ \-]?[0-9]{4}\b",
        ),
    ),
    (
        PiiType::Person,
        Check::Person(Cue::Greeting),
        concat!(
            r"(?-u)\b(?:Dear|Dearest|Hi|Hello|Hey|Hallo|Liebe|Lieber|Sehr geehrter?|Guten Tag|",
            r"Moin|Servus|Bonjour|Bonsoir|Salut|Cher|Ch\u{e8}re|Hola|Estimad[oa]|Querid[oa]|",
            r"Car[oa]|Gentile|Gentil\u{ed}ssim[oa]|Egregi[oa]|Ciao|Salve|Buongiorno|Beste|",
            r"Geachte|Hoi|Szanown[ya]|Drog[ia]|Dzie\u{144} dobry|Witaj|Cze\u{15b}\u{107}|Ol\u{e1}|",
            r"Prezad[oa]|Bom dia|Boa tarde|Hej|Hei|K\u{e6}re|Kj\u{e6}re)[ \t]+",
        ),
    ),
    (
        PiiType::Person,
        Check::Person(Cue::Title),
        concat!(
            r"(?-u)\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Herr|Frau|Mme|Mlle|Sr|Sra|Srta|Sig|Sig\.ra|",
            r"Dott|Dott\.ssa|Dhr|Mevr|Pan|Pani)\.?[ \t]+",
        ),
    ),
    (
        PiiType::Person,
        Check::Person(Cue::Introduction),
        concat!(
            r"(?-u)\b(?:[Mm]y name is|[Ii]ch hei(?:ss|\u{df})e|[Mm]ein Name ist|[Jj]e m(?:'|\u{2019})appelle|",
            r"[Mm]e llamo|[Mm]i nombre es|[Mm]i chiamo|[Ii]l mio nome \u{e8}|[Mm]ijn naam is|",
            r"[Nn]azywam si\u{119}|[Mm]am na imi\u{119}|[Mm]eu nome \u{e9}|[Mm]e chamo)[ \t]+",
        ),
    ),
    (
        PiiType::Person,
        Check::Person(Cue::Weak),
        concat!(
            r"(?-u)\b(?:I am|I'm|I\u{2019}m|[Ii]ch bin|[Jj]e suis|[Ss]oy|[Ss]ono|[Ii]k ben|[Jj]estem|",
            r"[Ee]u sou|[Tt]his is)[ \t]+",
        ),
    ),
    (
        PiiType::Person,
        Check::Person(Cue::Signature),
        // Closing lines; the name on the next line.
        concat!(
            r"(?-u)\b(?:Regards|[Bb]est regards|[Kk]ind regards|[Ww]arm regards|[Bb]est wishes|",
            r"Sincerely|Yours sincerely|Yours truly|Yours|Respectfully|Thanks|Thank you|",
            r"Many thanks|Cheers|Best|Take care|",
            r"Mit freundlichen Gr\u{fc}\u{df}en|Viele Gr\u{fc}\u{df}e|Liebe Gr\u{fc}\u{df}e|",
            r"Beste Gr\u{fc}\u{df}e|Herzliche Gr\u{fc}\u{df}e|Sch\u{f6}ne Gr\u{fc}\u{df}e|Gr\u{fc}\u{df}e|MfG|",
            r"Cordialement|Bien cordialement|Bien \u{e0} vous|Salutations|Amicalement|Merci|",
            r"Saludos|Saludos cordiales|Un saludo|Un abrazo|Atentamente|Gracias|",
            r"Cordiali saluti|Distinti saluti|Saluti|Cordialmente|Grazie|Un saluto|",
            r"Met vriendelijke groet(?:en)?|Vriendelijke groet(?:en)?|Hartelijke groet(?:en)?|Groeten|",
            r"Pozdrawiam|Z powa\u{17c}aniem|Pozdrowienia|Dzi\u{119}kuj\u{119}|",
            r"Atenciosamente|Abra\u{e7}os|Cumprimentos|Obrigad[oa]|",
            r"Med v\u{e4}nliga h\u{e4}lsningar|H\u{e4}lsningar|Mvh|Venlig hilsen|Med vennlig hilsen|Hilsen)",
            r"[,!.]?[ \t]*\r?\n[ \t]*",
        ),
    ),
];

/// Types found from an anchor: the anchor, and the expansion from an
/// anchor position to a validated span.
pub(super) const ANCHORED: &[(PiiType, &str, Expand)] = &[
    (PiiType::Email, "@", validate::email_at),
    (PiiType::Jwt, "eyJ", validate::jwt_at),
    // `scheme://user:password@host`
    (PiiType::Password, "://", validate::url_password),
];

/// From an anchor position to a validated span, or `Err(at)`: no finding
/// there, and none from an anchor before `at` (so that a run of anchors,
/// `eyJeyJeyJ…`, is expanded once, not once per anchor).
type Expand = fn(&[u8], usize) -> Result<Range<usize>, usize>;

/// What a rejected candidate costs beyond its own length when searched
/// again: the longest bounded prefix a pattern's thread can carry.
const RESCAN_SLACK: usize = 80;
/// Re-scanning allowed on top of the haystack's length, so that short
/// values (a JSON string) can afford a few rejected candidates.
const MIN_BUDGET: usize = 256;

/// The work counted for starting one search (see `Matches::work`).
const SEARCH_COST: usize = 8;

/// Upper bound for the compiled automaton of all patterns together, and for
/// the lazy DFA's cache, so that operator patterns cannot exhaust the VM.
const NFA_SIZE_LIMIT: usize = 8 << 20;
const CACHE_CAPACITY: usize = 2 << 20;

/// A parsed pattern and what it reports.
#[derive(Clone)]
pub(super) struct Pattern {
    pub ty: TypeIdx,
    pub check: Check,
    pub hir: Hir,
    /// The text it was parsed from, kept for [`Detectors::narrowed`] (a
    /// parsed pattern takes far more memory).
    source: Cow<'static, str>,
}

impl Pattern {
    /// Parses a pattern: built-ins with their ASCII flags, operator
    /// patterns with the `regex` crate's defaults.
    pub fn parse(
        ty: TypeIdx,
        check: Check,
        pattern: impl Into<Cow<'static, str>>,
    ) -> Result<Self, String> {
        let source = pattern.into();
        syntax::parse(&source)
            .map(|hir| Self {
                ty,
                check,
                hir,
                source,
            })
            .map_err(|e| syntax_problem(&e.to_string()))
    }

    /// Whether the pattern can match without consuming input (which would
    /// redact nothing, everywhere).
    pub fn matches_empty(&self) -> bool {
        self.hir.properties().minimum_len() == Some(0)
    }
}

/// A pattern of key names as keys in the input may spell them before they
/// are normalised (`keys::normalize`): ASCII letters in either case, and
/// `_`, `-`, `.` or spaces between characters, then the end or a byte that
/// no key goes on with (`"`, `=`, `:`, a tab; not a letter, digit or
/// non-ASCII byte). Where a key starts is not matched: a walk may start a
/// key anywhere (JSON that did not parse is searched from where it
/// stopped, `0778tel: …` from `tel`), so a whole-key name is matched as an
/// ending too.
fn key_name_pattern(names: &[Vec<u8>]) -> Result<String, String> {
    const SEP: &str = r"[_.\- ]*";
    const END: &str = r"(?:[\x00-\x1F!-,/:-@\[-\^`{-\x7F]|$)";
    let mut alternatives = Vec::with_capacity(names.len());
    for name in names {
        let name = std::str::from_utf8(name).map_err(|_| "a key name is not UTF-8".to_owned())?;
        let chars: Vec<String> = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                } else {
                    regex_syntax::escape(c.encode_utf8(&mut [0; 4]))
                }
            })
            .collect();
        alternatives.push(format!("{}{SEP}{END}", chars.join(SEP)));
    }
    Ok(format!("(?-u)(?:{})", alternatives.join("|")))
}

/// The one-line gist of a pattern error (the full text has a caret diagram
/// over several lines, unreadable in a log line).
pub(super) fn syntax_problem(text: &str) -> String {
    text.lines()
        .find_map(|line| line.trim_start().strip_prefix("error: "))
        .map_or_else(
            || text.split_whitespace().collect::<Vec<_>>().join(" "),
            str::to_owned,
        )
}

/// An anchored scanner: a literal finder, and what it reports.
struct Anchor {
    anchor: &'static str,
    finder: memmem::Finder<'static>,
    ty: TypeIdx,
    expand: Expand,
}

/// All enabled detectors, compiled once at configure time.
pub(super) struct Detectors {
    re: meta::Regex,
    /// Per pattern id: the type it reports and how it is validated.
    rules: Vec<(TypeIdx, Check)>,
    /// Per pattern id: its text, for [`Detectors::narrowed`].
    sources: Vec<Cow<'static, str>>,
    anchors: Vec<Anchor>,
}

impl Detectors {
    /// `patterns` go into the automaton; `anchored` are enabled entries of
    /// [`ANCHORED`] with their type.
    pub fn new(
        patterns: Vec<Pattern>,
        anchored: &[(TypeIdx, &'static str, Expand)],
    ) -> Result<Self, String> {
        let mut rules = Vec::with_capacity(patterns.len());
        let mut hirs = Vec::with_capacity(patterns.len());
        let mut sources = Vec::with_capacity(patterns.len());
        for p in patterns {
            rules.push((p.ty, p.check));
            hirs.push(p.hir);
            sources.push(p.source);
        }
        let re = meta::Builder::new()
            .configure(
                meta::Config::new()
                    .nfa_size_limit(Some(NFA_SIZE_LIMIT))
                    .hybrid_cache_capacity(CACHE_CAPACITY),
            )
            .build_many_from_hir(&hirs)
            .map_err(|e| syntax_problem(&e.to_string()))?;
        let anchors = anchored
            .iter()
            .map(|&(ty, anchor, expand)| Anchor {
                anchor,
                finder: memmem::Finder::new(anchor.as_bytes()).into_owned(),
                ty,
                expand,
            })
            .collect();
        Ok(Self {
            re,
            rules,
            sources,
            anchors,
        })
    }

    /// The detectors of the types `kept` keeps, in the same order, so that
    /// each finds at a position what it found there among all of them;
    /// with `key_names` (normalised), a pattern before them all that finds
    /// those names as keys spell them (any case, separators between
    /// letters) and reports [`TypeIdx::KEY_NAME`]. Being first, it is
    /// found wherever it matches, unless a finding before it ends the
    /// search or the search stops being complete.
    pub fn narrowed(
        &self,
        kept: impl Fn(TypeIdx) -> bool,
        key_names: &[Vec<u8>],
    ) -> Result<Self, String> {
        let mut patterns = Vec::with_capacity(self.rules.len() + 1);
        if !key_names.is_empty() {
            let source = key_name_pattern(key_names)?;
            patterns.push(Pattern::parse(TypeIdx::KEY_NAME, Check::KeyName, source)?);
        }
        for (&(ty, check), source) in self.rules.iter().zip(&self.sources) {
            if kept(ty) {
                patterns.push(Pattern::parse(ty, check, source.clone())?);
            }
        }
        let anchored: Vec<_> = self
            .anchors
            .iter()
            .filter(|a| kept(a.ty))
            .map(|a| (a.ty, a.anchor, a.expand))
            .collect();
        Self::new(patterns, &anchored)
    }

    /// Validated findings in `hay`, left to right, non-overlapping.
    pub fn find_iter<'d, 'h>(&'d self, hay: &'h [u8]) -> Matches<'d, 'h> {
        self.find_iter_in(hay, 0..hay.len())
    }

    /// Validated findings in `within` of `hay`, with a budget of their
    /// own; the bytes around it still decide word boundaries (an e-mail
    /// address found from an `@` inside may reach out of it).
    pub fn find_iter_in<'d, 'h>(&'d self, hay: &'h [u8], within: Range<usize>) -> Matches<'d, 'h> {
        let from = |at| Stream {
            at,
            ..Stream::default()
        };
        Matches {
            detectors: self,
            hay,
            end: within.end.min(hay.len()),
            regex: from(within.start),
            anchors: std::array::from_fn(|_| from(within.start)),
            budget: within.len() + MIN_BUDGET,
            peeked: None,
            passed_over: Vec::new(),
            passed_seen: 0,
            reported: 0,
            work: 0,
        }
    }
}

/// A validated finding, in the coordinates of the searched haystack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Match {
    pub start: usize,
    pub end: usize,
    pub ty: TypeIdx,
}

/// One source of matches: where it continues, and its next match.
#[derive(Default)]
struct Stream {
    at: usize,
    next: Option<Match>,
    done: bool,
}

pub(super) struct Matches<'d, 'h> {
    detectors: &'d Detectors,
    hay: &'h [u8],
    /// Where matches may no longer start.
    end: usize,
    /// The next match, when [`Matches::peek`] looked at it.
    peeked: Option<Option<Match>>,
    regex: Stream,
    anchors: [Stream; ANCHORED.len()],
    /// Bytes that may still be searched twice after rejected candidates.
    budget: usize,
    /// The rejected candidates that were not searched again (the budget
    /// ran out), in order: a match that starts inside one may have been
    /// passed over, so the search is not complete from the first.
    passed_over: Vec<Range<usize>>,
    /// Those before this one end before the spans still to be asked about
    /// ([`Matches::passed_over_in`]).
    passed_seen: usize,
    /// End of the last reported match; later matches must start there.
    reported: usize,
    /// Work so far: bytes a search read up to its match (or to the end),
    /// plus [`SEARCH_COST`] per search; bytes an expansion read from its
    /// anchor to where it resumes. Hostile input must keep this linear in
    /// its length.
    work: usize,
}

impl Matches<'_, '_> {
    /// The work done so far (see the field).
    #[cfg(test)]
    pub fn work(&self) -> usize {
        self.work
    }

    /// Where the search stopped being complete, if it did (see
    /// `passed_over`).
    pub fn skipped(&self) -> Option<usize> {
        self.passed_over.first().map(|r| r.start)
    }

    /// Where the first candidate passed over (see [`Matches::skipped`])
    /// that overlaps `span` starts, as far as the search has gone. Spans
    /// are asked in input order: those passed over before one are not
    /// looked at again.
    pub fn passed_over_in(&mut self, span: &Range<usize>) -> Option<usize> {
        while self
            .passed_over
            .get(self.passed_seen)
            .is_some_and(|r| r.end <= span.start)
        {
            self.passed_seen += 1;
        }
        self.passed_over
            .get(self.passed_seen)
            .filter(|r| r.start < span.end)
            .map(|r| r.start)
    }

    /// The next match, without taking it.
    pub fn peek(&mut self) -> Option<&Match> {
        if self.peeked.is_none() {
            self.peeked = Some(self.advance());
        }
        self.peeked.as_ref().and_then(Option::as_ref)
    }

    /// The next match if `take` says so.
    pub fn next_if(&mut self, take: impl FnOnce(&Match) -> bool) -> Option<Match> {
        match self.next() {
            Some(m) if take(&m) => Some(m),
            other => {
                self.peeked = Some(other);
                None
            }
        }
    }
}

impl Matches<'_, '_> {
    fn next_regex(&mut self) -> Option<Match> {
        let at = &mut self.regex.at;
        while *at < self.end {
            // Matches lie inside the range; word boundaries at its ends
            // still see the bytes around it.
            let input = Input::new(self.hay).range(*at..self.end);
            let Some(found) = self.detectors.re.search(&input) else {
                self.work += self.end - *at;
                return None;
            };
            let span = found.range();
            self.work += span.end - *at + SEARCH_COST;
            let (ty, check) = *self.detectors.rules.get(found.pattern().as_usize())?;
            if let Some(valid) = check.run(self.hay, &span) {
                *at = valid.end.max(span.start + 1);
                return Some(Match {
                    start: valid.start,
                    end: valid.end,
                    ty,
                });
            }
            let again = (span.len() + RESCAN_SLACK).min(self.hay.len() - span.start);
            if again <= self.budget {
                self.budget -= again;
                *at = span.start + 1;
            } else {
                *at = span.end.max(span.start + 1);
                self.passed_over.push(span);
            }
        }
        None
    }

    fn next_anchored(&mut self, i: usize) -> Option<Match> {
        let anchor = self.detectors.anchors.get(i)?;
        let stream = self.anchors.get_mut(i)?;
        loop {
            let rest = self.hay.get(stream.at..self.end)?;
            let found = stream.at + anchor.finder.find(rest)?;
            stream.at = found + 1;
            match (anchor.expand)(self.hay, found) {
                Ok(span) => {
                    self.work += span.end.saturating_sub(found) + 1;
                    stream.at = stream.at.max(span.end);
                    return Some(Match {
                        start: span.start,
                        end: span.end,
                        ty: anchor.ty,
                    });
                }
                Err(resume) => {
                    self.work += resume.saturating_sub(found);
                    stream.at = stream.at.max(resume);
                }
            }
        }
    }
}

impl Iterator for Matches<'_, '_> {
    type Item = Match;

    fn next(&mut self) -> Option<Match> {
        match self.peeked.take() {
            Some(peeked) => peeked,
            None => self.advance(),
        }
    }
}

impl Matches<'_, '_> {
    /// The earliest (then longest) pending match of all sources that does
    /// not overlap the previous one.
    fn advance(&mut self) -> Option<Match> {
        loop {
            if self.regex.next.is_none() && !self.regex.done {
                self.regex.next = self.next_regex();
                self.regex.done = self.regex.next.is_none();
            }
            for i in 0..self.detectors.anchors.len() {
                let pending = self
                    .anchors
                    .get(i)
                    .is_some_and(|s| s.next.is_none() && !s.done);
                if pending {
                    let next = self.next_anchored(i);
                    if let Some(stream) = self.anchors.get_mut(i) {
                        stream.next = next;
                        stream.done = next.is_none();
                    }
                }
            }
            let best = std::iter::once(&mut self.regex)
                .chain(self.anchors.iter_mut())
                .filter(|s| s.next.is_some())
                .min_by_key(|s| s.next.map(|m| (m.start, std::cmp::Reverse(m.end))))?;
            let m = best.next.take()?;
            if m.start >= self.reported {
                self.reported = m.end;
                return Some(m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn detectors() -> Detectors {
        let patterns = BUILTIN
            .iter()
            .map(|(ty, check, p)| {
                Pattern::parse(TypeIdx::builtin(ty).unwrap(), *check, *p).unwrap()
            })
            .collect();
        let anchored: Vec<_> = ANCHORED
            .iter()
            .map(|(ty, anchor, expand)| (TypeIdx::builtin(ty).unwrap(), *anchor, *expand))
            .collect();
        Detectors::new(patterns, &anchored).unwrap()
    }

    fn found(d: &Detectors, text: &str) -> Vec<(String, PiiType)> {
        d.find_iter(text.as_bytes())
            .map(|m| {
                let ty = PiiType::BUILTIN[usize::from(m.ty.0)].clone();
                (text[m.start..m.end].to_owned(), ty)
            })
            .collect()
    }

    #[test]
    fn every_builtin_parses_and_needs_input() {
        for (ty, check, p) in BUILTIN {
            let pattern = Pattern::parse(TypeIdx(0), *check, *p).unwrap();
            assert!(!pattern.matches_empty(), "{ty}");
        }
    }

    /// Whether `hir` can consume `byte`.
    fn can_consume(hir: &Hir, byte: u8) -> bool {
        use regex_syntax::hir::{Class, HirKind};
        match hir.kind() {
            HirKind::Empty | HirKind::Look(_) => false,
            HirKind::Literal(lit) => lit.0.contains(&byte),
            HirKind::Class(Class::Bytes(class)) => {
                class.iter().any(|r| (r.start()..=r.end()).contains(&byte))
            }
            HirKind::Class(Class::Unicode(class)) => class
                .iter()
                .any(|r| (r.start()..=r.end()).contains(&char::from(byte))),
            HirKind::Repetition(rep) => can_consume(&rep.sub, byte),
            HirKind::Capture(cap) => can_consume(&cap.sub, byte),
            HirKind::Concat(subs) | HirKind::Alternation(subs) => {
                subs.iter().any(|sub| can_consume(sub, byte))
            }
        }
    }

    /// The probe's argument (`probe.rs`) needs every built-in pattern to
    /// stop at a value's delimiter: a search bounded to the value then finds
    /// what the whole pass found there, not a shorter form it rejected in a
    /// longer one.
    #[test]
    fn no_builtin_pattern_crosses_a_value_delimiter() {
        for (ty, check, p) in BUILTIN {
            let pattern = Pattern::parse(TypeIdx(0), *check, *p).unwrap();
            for delimiter in [b'"', b'&', b';'] {
                assert!(
                    !can_consume(&pattern.hir, delimiter),
                    "{ty} {check:?} consumes {:?}",
                    char::from(delimiter)
                );
            }
            // The check itself sees what patterns take: digits or letters.
            assert!(
                can_consume(&pattern.hir, b'7') || can_consume(&pattern.hir, b'a'),
                "{ty}"
            );
        }
        let custom = Pattern::parse(TypeIdx(0), Check::Custom, r#"x"y"#).unwrap();
        assert!(can_consume(&custom.hir, b'"'));
    }

    #[test]
    fn one_pass_finds_every_kind() {
        let d = detectors();
        let text = "mail jane@example.com, card 4242 4242 4242 4242, ssn 078-05-1120, \
                    ip 10.1.2.3 / 2001:db8::7, tel +1 415 555 2671, \
                    iban DE89370400440532013000, key AKIAIOSFODNN7EXAMPLE, \
                    jwt eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.";
        let kinds: Vec<PiiType> = found(&d, text).into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            kinds,
            [
                PiiType::Email,
                PiiType::CreditCard,
                PiiType::UsSsn,
                PiiType::Ipv4,
                PiiType::Ipv6,
                PiiType::Phone,
                PiiType::Iban,
                PiiType::ApiKey,
                PiiType::Jwt,
            ]
        );
    }

    #[test]
    fn rejected_candidate_does_not_hide_a_later_overlapping_one() {
        let d = detectors();
        // `2024 415-555-2671` is one phone candidate (12 digits, rejected);
        // the phone after it is still found.
        assert_eq!(
            found(&d, "at 2024 415-555-2671"),
            [("415-555-2671".to_owned(), PiiType::Phone)]
        );
        assert_eq!(
            found(&d, "x .jane@example.com"),
            [("jane@example.com".to_owned(), PiiType::Email)]
        );
    }

    #[test]
    fn hostile_input_is_bounded() {
        let d = detectors();
        // Runs that are candidates everywhere, valid or not: the work the
        // search counts stays a small multiple of the input's length, and
        // grows with it linearly (their time is in the `redact` bench).
        for unit in [
            "1 ", "1.", "ab:", "a", "a@", "a.", "1.2.3.4-", "eyJ", "eyJx-", "eyJ.", "eyJxx.",
            "4111 ", "::", "DE89 ", "+1 ", "DE89", "x4", "a2",
        ] {
            let work = |n: usize| {
                let text = unit.repeat(n);
                let mut matches = d.find_iter(text.as_bytes());
                matches.by_ref().count();
                (text.len(), matches.work())
            };
            let (small, small_work) = work(4_000);
            let (large, large_work) = work(16_000);
            assert!(
                large_work <= 8 * large + MIN_BUDGET,
                "{unit:?}: {large_work} for {large} bytes"
            );
            assert!(
                large_work <= 5 * small_work,
                "{unit:?}: {small_work} for {small} bytes, {large_work} for {large}"
            );
        }
    }
}
