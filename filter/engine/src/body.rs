//! What only a `redaction` section asks of a request: recorded headers and
//! body excerpts for the record, and the `dlp` rules (request bodies held
//! and scanned for `denyOnPii`, response bodies buffered and rewritten).
//! Without that section none of this exists for a request.

use std::collections::BTreeMap;

use observatory_redact::charset;
use observatory_redact::fields::scanned_text;
use observatory_redact::{count_findings, Content, Redactor};

use crate::capture::{Capture, Excerpt, RecordRedaction};
use crate::config::FilterConfig;
use crate::dlp::{buffering, rewritable, Buffering, DlpRule};
use crate::host::{Body, Headers, Host};
use crate::metrics::{Counter, Metrics};

/// Per-request state (boxed in the HTTP context: most filters have none).
#[derive(Debug, Default)]
pub struct Extra {
    /// `recordHeaders` values as received; redacted when the record is built.
    headers: Vec<(String, String)>,
    request: Side,
    response: Side,
    /// Index of the `dlp` rule of this request's path.
    dlp: Option<usize>,
    /// An `Upgrade` header: on a GET without a body, what follows the
    /// headers is a tunnel (WebSocket frames, masked), not a body a scan
    /// can read.
    upgrade: bool,
    /// A `Transfer-Encoding` header: a body follows, upgrade or not.
    chunked: bool,
    /// A request `Content-Encoding` other than `identity`: the bytes are
    /// not the text, so no scan of them can find what they hold.
    coded: bool,
    /// Findings of the in-flight scans, for the record.
    redactions: BTreeMap<String, u32>,
}

/// What a message's `Content-Type` lines say its body is: one media type;
/// or nothing, when there is no line, or lines that disagree or list
/// several. A body said to be nothing is covered by every `dlp` rule and
/// its content is sniffed, so a second line cannot take a body out of a
/// rule that the receiver still reads it under.
#[derive(Debug, Default)]
pub struct MediaType {
    value: Option<String>,
    lines: u32,
}

impl MediaType {
    pub fn line(&mut self, value: String) {
        self.lines = self.lines.saturating_add(1);
        self.value = (self.lines == 1 && !value.contains(',')).then_some(value);
    }

    pub fn get(&self) -> Option<&str> {
        self.value.as_deref()
    }
}

/// One direction's body.
#[derive(Debug, Default)]
struct Side {
    content_type: MediaType,
    excerpt: Excerpt,
    /// Buffering the body for a DLP scan.
    scanning: bool,
    /// `Content-Length`: once that much is held the body is whole, even
    /// where Envoy does not say it ended (an upgrade request's body).
    length: Option<u64>,
}

/// Where a body callback stands.
enum Step<'c> {
    /// Not (or no longer) buffered: let it go on.
    Pass,
    /// Buffering, more to come.
    Wait,
    /// All of it is buffered: scan it under this rule.
    Scan(&'c DlpRule),
    /// Over this rule's `maxBodyBytes`: no longer buffered, not scanned.
    TooLarge(&'c DlpRule),
}

impl Side {
    fn step<'c, H: Host>(
        &mut self,
        host: &H,
        which: Body,
        rule: Option<&'c DlpRule>,
        metrics: &Metrics,
        size: usize,
        end_of_stream: bool,
    ) -> Step<'c> {
        let rule = match rule {
            Some(rule) if self.scanning => rule,
            _ => {
                take_excerpt(host, &mut self.excerpt, which, size);
                return Step::Pass;
            }
        };
        let whole = end_of_stream || self.length.is_some_and(|n| size as u64 >= n);
        match buffering(size, whole, rule.max_body_bytes) {
            Buffering::Wait => Step::Wait,
            Buffering::TooLarge => {
                metrics.add(Counter::DlpSkipped, 1);
                self.scanning = false;
                take_excerpt(host, &mut self.excerpt, which, size);
                Step::TooLarge(rule)
            }
            Buffering::Complete => {
                self.scanning = false;
                Step::Scan(rule)
            }
        }
    }

    fn content(&self) -> Content<'_> {
        Content::Auto(self.content_type.get().unwrap_or_default())
    }

    /// Trailers end a held body with no body callback that says so: the
    /// body Envoy holds, if it fits `rule`; else it is counted as not
    /// scanned and its excerpt kept.
    fn held_at_trailers<H: Host>(
        &mut self,
        host: &H,
        which: Body,
        rule: &DlpRule,
        metrics: &Metrics,
    ) -> Option<Vec<u8>> {
        self.scanning = false;
        // One byte over the limit tells a body that is too large.
        let body = host.body(which, 0, rule.max_body_bytes.saturating_add(1));
        if body.len() > rule.max_body_bytes {
            metrics.add(Counter::DlpSkipped, 1);
            self.excerpt.push(body);
            return None;
        }
        Some(body)
    }
}

/// What the request body callback answers.
pub enum RequestBody {
    Continue,
    Pause,
    /// A `denyOnPii` type was found: deny, naming this `dlp` rule.
    Deny(String),
}

/// What the request headers say about what follows them.
#[derive(Debug)]
pub struct RequestHead<'h> {
    pub method: &'h str,
    /// `Content-Length`.
    pub content_length: Option<u64>,
    /// No body follows.
    pub end_of_stream: bool,
}

/// What the response headers say about the body.
#[derive(Debug, Default)]
pub struct ResponseHead {
    pub content_type: MediaType,
    /// A `Content-Encoding` other than `identity`.
    pub encoded: bool,
    /// `Content-Length`.
    pub length: Option<u64>,
    /// No body follows.
    pub end_of_stream: bool,
    /// A `101` or the answer to a `CONNECT`: what follows is a tunnel.
    pub tunnel: bool,
    /// A `206`: a range of a body, which a rewrite would shift.
    pub partial: bool,
}

/// The redacted parts of the record.
#[derive(Debug, Default)]
pub struct Recorded {
    pub path: String,
    pub query: String,
    pub headers: BTreeMap<String, String>,
    pub request_body: String,
    pub response_body: String,
    pub forwarded_for: String,
    pub redactions: BTreeMap<String, u32>,
}

impl Extra {
    /// Once the request headers are read: the excerpts wanted and the
    /// `dlp` rule of `path`.
    pub fn route(&mut self, config: &FilterConfig, path: &str) {
        let want = config.capture.body_read_bytes();
        self.request.excerpt = Excerpt::new(want);
        self.response.excerpt = Excerpt::new(want);
        self.dlp = config.dlp.find(path).map(|(i, _)| i);
    }

    /// A request header the fixed ones did not claim.
    pub fn request_header(&mut self, capture: &Capture, name: &[u8], value: &[u8]) {
        // Header names are tokens (ASCII); anything else is not one we keep.
        let Ok(name) = std::str::from_utf8(name) else {
            return;
        };
        if name == "content-encoding" {
            self.coded |= crate::text::is_coded(value);
        }
        self.upgrade |= name == "upgrade";
        self.chunked |= name == "transfer-encoding";
        let content_type = name == "content-type";
        let recorded = capture.records_header(name);
        if !content_type && !recorded {
            return;
        }
        let value = crate::text::text(value);
        if content_type {
            self.request.content_type.line(value.clone());
        }
        if recorded {
            self.headers.push((name.to_string(), value));
        }
    }

    fn rule<'c>(&self, config: &'c FilterConfig) -> Option<&'c DlpRule> {
        self.dlp.and_then(|i| config.dlp.get(i))
    }

    /// After the policy allowed the request: whether its body is held and
    /// scanned for `denyOnPii`. The headers go on: proxy-wasm turns a paused
    /// `on_http_request_headers` into "stop all iteration", after which no
    /// body callback comes until the request is resumed. So the upstream may
    /// see the headers of a denied request, but never its body.
    ///
    /// A body the rule cannot scan is not held: a compressed one (its bytes
    /// are not its text), one whose `Content-Length` is over the rule's
    /// `maxBodyBytes`, and the stream after a WebSocket handshake or a
    /// `CONNECT` (held, a WebSocket would hang). It is counted as one DLP could not scan, and
    /// passed on; or refused now, naming the rule (returned), under
    /// `denyUnscanned`.
    pub fn scan_request(
        &mut self,
        config: &FilterConfig,
        metrics: &Metrics,
        head: &RequestHead,
    ) -> Option<String> {
        self.request.scanning = false;
        let content_type = self.request.content_type.get();
        let rule = self
            .rule(config)
            .filter(|r| !head.end_of_stream && r.denies_requests() && r.covers(content_type))?;
        let too_large = head
            .content_length
            .is_some_and(|n| n > rule.max_body_bytes as u64);
        // Only a handshake without a body: a POST that says `Upgrade` still
        // sends its body to an upstream that does not upgrade.
        let handshake = self.upgrade
            && head.method == "GET"
            && head.content_length.unwrap_or(0) == 0
            && !self.chunked;
        let tunnel = handshake || head.method == "CONNECT";
        if self.coded || too_large || tunnel {
            metrics.add(Counter::DlpSkipped, 1);
            return rule.deny_unscanned.then(|| rule.name.clone());
        }
        self.request.scanning = true;
        self.request.length = head.content_length;
        None
    }

    pub fn request_body<H: Host>(
        &mut self,
        host: &H,
        config: &FilterConfig,
        metrics: &Metrics,
        size: usize,
        end_of_stream: bool,
    ) -> RequestBody {
        let which = Body::Request;
        let rule = self.rule(config);
        let rule = match self
            .request
            .step(host, which, rule, metrics, size, end_of_stream)
        {
            Step::Pass => return RequestBody::Continue,
            Step::Wait => return RequestBody::Pause,
            Step::TooLarge(rule) => return unscanned(rule),
            Step::Scan(rule) => rule,
        };
        let body = host.body(which, 0, size);
        self.scan_request_body(config, metrics, rule, &body)
    }

    /// Trailers end a body without a body callback that says so: a body
    /// held for a scan is scanned now, or it would go on unscanned.
    pub fn request_trailers<H: Host>(
        &mut self,
        host: &H,
        config: &FilterConfig,
        metrics: &Metrics,
    ) -> RequestBody {
        let Some(rule) = self.rule(config).filter(|_| self.request.scanning) else {
            return RequestBody::Continue;
        };
        match self
            .request
            .held_at_trailers(host, Body::Request, rule, metrics)
        {
            Some(body) => self.scan_request_body(config, metrics, rule, &body),
            None => unscanned(rule),
        }
    }

    /// The whole request body, held for `rule`: scanned, and denied when
    /// it holds a listed type.
    fn scan_request_body(
        &mut self,
        config: &FilterConfig,
        metrics: &Metrics,
        rule: &DlpRule,
        body: &[u8],
    ) -> RequestBody {
        let Some(redactor) = &config.redaction else {
            return RequestBody::Continue;
        };
        let content_type = self.request.content_type.get().unwrap_or_default();
        let text = charset::body_text(body, content_type);
        let content = self.request.content();
        // Only a recorded excerpt needs the redacted text, and only a body
        // that may hold a denied type needs a scan for every type.
        let (findings, scanned) = if self.request.excerpt.is_recorded() {
            let out = redactor.redact(&text, content);
            self.request
                .excerpt
                .set_redacted(&scanned_text(&out, &text));
            let scanned = out.scanned();
            (out.findings, scanned)
        } else if rule.may_deny(&text, content) {
            redactor.findings_scanned(&text, content)
        } else {
            (Vec::new(), text.len())
        };
        count_findings(&findings, &mut self.redactions);
        match rule.denied_type(&findings) {
            Some(_) => {
                metrics.add(Counter::PiiDenied, 1);
                RequestBody::Deny(rule.name.clone())
            }
            // A scan that stopped being complete (hostile or very dense
            // input) may have missed a value: counted as a body DLP could
            // not scan, and passed on or denied as those are.
            None if scanned < text.len() => {
                metrics.add(Counter::DlpSkipped, 1);
                unscanned(rule)
            }
            None => RequestBody::Continue,
        }
    }

    /// At response headers: decides whether the body is rewritten, and if so
    /// drops `Content-Length` (the rewritten body has another length).
    /// Returns whether it did.
    pub fn response_headers<H: Host>(
        &mut self,
        host: &H,
        config: &FilterConfig,
        metrics: &Metrics,
        head: ResponseHead,
    ) -> bool {
        self.response.content_type = head.content_type;
        let Some(rule) = self.rule(config) else {
            return false;
        };
        let covered = rule.redact_responses && rule.covers(self.response.content_type.get());
        if head.end_of_stream || !covered {
            return false;
        }
        let too_large = head.length.is_some_and(|n| n > rule.max_body_bytes as u64);
        let framed = !rewritable(self.response.content_type.get());
        if head.encoded || too_large || head.tunnel || head.partial || framed {
            // Compressed bodies cannot be scanned, nor framed binary ones
            // or ranges rewritten; large ones are not held, nor a
            // WebSocket's frames (it would hang).
            metrics.add(Counter::DlpSkipped, 1);
            return false;
        }
        self.response.scanning = true;
        host.set_header(Headers::Response, "content-length", None);
        true
    }

    /// Returns whether to hold the body (`true`) or let it go on.
    pub fn response_body<H: Host>(
        &mut self,
        host: &H,
        config: &FilterConfig,
        metrics: &Metrics,
        size: usize,
        end_of_stream: bool,
    ) -> bool {
        let which = Body::Response;
        let rule = self.rule(config);
        match self
            .response
            .step(host, which, rule, metrics, size, end_of_stream)
        {
            Step::Pass | Step::TooLarge(_) => return false,
            Step::Wait => return true,
            Step::Scan(_) => {}
        }
        self.rewrite_response_body(host, config, metrics, host.body(which, 0, size));
        false
    }

    /// Trailers end a body without a body callback that says so: a body
    /// held to be rewritten is rewritten now, or it would go on as it is.
    pub fn response_trailers<H: Host>(
        &mut self,
        host: &H,
        config: &FilterConfig,
        metrics: &Metrics,
    ) {
        let Some(rule) = self.rule(config).filter(|_| self.response.scanning) else {
            return;
        };
        let which = Body::Response;
        if let Some(body) = self.response.held_at_trailers(host, which, rule, metrics) {
            self.rewrite_response_body(host, config, metrics, body);
        }
    }

    /// The whole response body, held for its rule: redacted and replaced,
    /// in its own encoding (UTF-8, or UTF-16 or UTF-32 that decode and
    /// encode back to the same bytes).
    fn rewrite_response_body<H: Host>(
        &mut self,
        host: &H,
        config: &FilterConfig,
        metrics: &Metrics,
        body: Vec<u8>,
    ) {
        let which = Body::Response;
        let size = body.len();
        let Some(redactor) = &config.redaction else {
            return;
        };
        let content_type = self.response.content_type.get().unwrap_or_default();
        let wide = charset::wide(&body, content_type);
        let mark = wide.is_some_and(|wide| wide.marked(&body));
        // Binary content is not rewritten: that would corrupt it. Its
        // excerpt is redacted when the record is built.
        let text = match wide {
            None => String::from_utf8(body).map_err(|e| e.into_bytes()),
            Some(wide) => {
                let text = wide.decode(&body);
                if wide.encode(&text, mark) == body {
                    Ok(text)
                } else {
                    Err(body)
                }
            }
        };
        let text = match text {
            Ok(text) => text,
            Err(bytes) => {
                metrics.add(Counter::DlpSkipped, 1);
                self.response.excerpt.push(bytes);
                return;
            }
        };
        let out = redactor.redact(&text, self.response.content());
        if !out.findings.is_empty() {
            let rewritten = match wide {
                None => host.replace_body(which, size, out.text.as_bytes()),
                Some(wide) => host.replace_body(which, size, &wide.encode(&out.text, mark)),
            };
            if rewritten {
                metrics.add(Counter::DlpRewritten, 1);
            }
        }
        if out.truncated {
            // Rewritten as far as found; the rest may hold a value the
            // scan missed (see `Redacted::truncated`).
            metrics.add(Counter::DlpSkipped, 1);
        }
        out.count_into(&mut self.redactions);
        self.response
            .excerpt
            .set_redacted(&scanned_text(&out, &text));
    }

    /// The record's path, query, headers, forwarded-for chain and excerpts,
    /// redacted, and every finding of this request counted.
    pub fn into_record(
        self,
        redactor: &Redactor,
        capture: &Capture,
        path: &str,
        forwarded_for: &str,
    ) -> Recorded {
        let mut rr = RecordRedaction::new(redactor);
        let max = capture.body_bytes.unwrap_or(0);
        let mut headers = BTreeMap::new();
        for (name, value) in &self.headers {
            let redacted = rr.header(name, value);
            // A header sent on several lines keeps every line, joined as
            // HTTP joins them (`Cookie` with `; `): a receiver may act on
            // any of them, so the record must not show only one.
            headers
                .entry(name.clone())
                .and_modify(|joined: &mut String| {
                    joined.push_str(if name == "cookie" { "; " } else { ", " });
                    joined.push_str(&redacted);
                })
                .or_insert(redacted);
        }
        let request_type = self.request.content_type.get().unwrap_or_default();
        let response_type = self.response.content_type.get().unwrap_or_default();
        let mut recorded = Recorded {
            path: rr.path(path),
            query: rr.query(path),
            headers,
            request_body: rr.excerpt(self.request.excerpt, request_type, max),
            response_body: rr.excerpt(self.response.excerpt, response_type, max),
            forwarded_for: match forwarded_for {
                "" => String::new(),
                chain => rr.header("x-forwarded-for", chain),
            },
            redactions: BTreeMap::new(),
        };
        let mut counts = rr.finish();
        for (kind, n) in self.redactions {
            let count = counts.entry(kind).or_default();
            *count = count.saturating_add(n);
        }
        recorded.redactions = counts;
        recorded
    }
}

/// A request body `rule` could not scan (counted already): passed on, or
/// denied under `denyUnscanned`.
fn unscanned(rule: &DlpRule) -> RequestBody {
    if rule.deny_unscanned {
        RequestBody::Deny(rule.name.clone())
    } else {
        RequestBody::Continue
    }
}

/// Appends what the excerpt still wants from the body Envoy holds now.
fn take_excerpt<H: Host>(host: &H, excerpt: &mut Excerpt, which: Body, size: usize) {
    let want = excerpt.wanted().min(size);
    if want > 0 {
        excerpt.push(host.body(which, 0, want));
    }
}
