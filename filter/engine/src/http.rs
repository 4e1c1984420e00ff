//! The decisions of one request's callbacks: decide at request headers,
//! tag the response with the correlation id, queue the audit record at log
//! time. Bodies are only looked at with a `redaction` section
//! ([`crate::body`]).

use std::borrow::Cow;
use std::rc::Rc;

use log::warn;

use crate::active::Active;
use crate::body::{Extra, MediaType, RequestBody, RequestHead, ResponseHead};
use crate::config::{FailureMode, PathNormalization};
use crate::exchange::{Exchange, Outcome};
use crate::host::{millis, Headers, Host};
use crate::metrics::Counter;
use crate::peer::Peer;
use crate::policy::{normalize_path, Request, Verdict};
use crate::record;
use crate::request;
use crate::text::{is_coded, number, text};

/// The rule of a request refused for a path not in normal form
/// (`pathNormalization: reject`).
pub const PATH_NOT_NORMALIZED: &str = "path-not-normalized";
/// The rule of a request refused while records cannot be delivered.
pub const AUDIT_UNAVAILABLE: &str = "audit-unavailable";

/// What a callback tells Envoy to do with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

/// One request's filter: `None` plugin for an unconfigured root, which
/// lets everything pass.
#[derive(Debug)]
pub struct HttpFilter {
    active: Option<Rc<Active>>,
    ex: Exchange,
}

impl HttpFilter {
    pub fn new(active: Option<Rc<Active>>) -> Self {
        HttpFilter {
            active,
            ex: Exchange::default(),
        }
    }

    pub fn on_request_headers<H: Host>(&mut self, host: &H, end_of_stream: bool) -> Action {
        let Some(active) = self.active.clone() else {
            return Action::Continue;
        };
        let peer = self.read_request(host, &active, end_of_stream);
        active.metrics.add(Counter::Requests, 1);
        let config = &active.settings.config;

        // The policy decides on the normalised path; `pathNormalization`
        // says whether the upstream gets it, a 400, or the raw path.
        let normalized = normalize_path(&self.ex.path);
        let rewrite = matches!(normalized, Cow::Owned(_));
        if rewrite && config.path_normalization == PathNormalization::Reject {
            active.metrics.add(Counter::PathsRejected, 1);
            let outcome = Outcome::refused(PATH_NOT_NORMALIZED);
            return self.refuse(host, &active, 400, "bad_request", outcome);
        }
        let d = config.policies.decide(&Request {
            principal: (!peer.principal.is_empty()).then_some(peer.principal.as_str()),
            mtls: peer.mtls,
            method: &self.ex.method,
            path: &normalized,
        });
        if d.shadow == Some(Verdict::Deny) && d.verdict == Verdict::Allow {
            active.metrics.add(Counter::ShadowDenied, 1);
        }
        let outcome = Outcome {
            verdict: d.verdict,
            shadow: d.shadow,
            rule: d.rule.to_string(),
            audit_policy: d.audit_policy.unwrap_or_default().to_string(),
        };
        // A denial is a denial whatever the audit trail's state.
        if outcome.verdict == Verdict::Deny {
            active.metrics.add(Counter::Denied, 1);
            return self.refuse(host, &active, 403, "forbidden", outcome);
        }
        if config.audit_failure_mode == FailureMode::Closed && delivery_failing(&active, &self.ex) {
            // NIST AU-5: no unaudited traffic while records cannot be delivered.
            active.metrics.add(Counter::AuditUnavailable, 1);
            let outcome = Outcome {
                verdict: Verdict::Deny,
                rule: AUDIT_UNAVAILABLE.to_string(),
                ..outcome
            };
            return self.refuse(host, &active, 503, "audit_unavailable", outcome);
        }
        active.metrics.add(Counter::Allowed, 1);
        if rewrite && config.path_normalization == PathNormalization::Rewrite {
            let raw = &self.ex.path;
            let query = raw
                .get(record::path_without_query(raw).len()..)
                .unwrap_or("");
            let forwarded = format!("{normalized}{query}");
            host.set_header(Headers::Request, ":path", Some(&forwarded));
            active.metrics.add(Counter::PathsRewritten, 1);
            self.ex.path = forwarded;
        }
        if let Some(extra) = &mut self.ex.extra {
            let head = RequestHead {
                method: &self.ex.method,
                content_length: self.ex.request_bytes,
                end_of_stream,
            };
            if let Some(rule) = extra.scan_request(config, &active.metrics, &head) {
                // `denyUnscanned`: a body its rule cannot scan is refused
                // before any of it is read.
                let outcome = Outcome {
                    verdict: Verdict::Deny,
                    rule,
                    ..outcome
                };
                return self.refuse(host, &active, 403, "forbidden", outcome);
            }
        }
        self.ex.outcome = Some(outcome);
        Action::Continue
    }

    /// Reads what the decision and the record need; returns the peer.
    fn read_request<H: Host>(
        &mut self,
        host: &H,
        active: &Active,
        end_of_stream: bool,
    ) -> Rc<Peer> {
        let ex = &mut self.ex;
        ex.start = host.now();
        if end_of_stream {
            ex.request_bytes = Some(0);
        }
        let config = &active.settings.config;
        let mut extra = config.redaction.as_ref().map(|_| Box::<Extra>::default());
        let ids = request::read_headers(host, active, ex, extra.as_deref_mut());
        if let Some(mut extra) = extra {
            extra.route(config, &ex.path);
            ex.extra = Some(extra);
        }
        let peer = request::peer(host, active);
        ex.peer = Some(Rc::clone(&peer));
        request::correlate(host, active, ex, &ids, true);
        peer
    }

    /// Answers the request locally with a JSON error body naming the
    /// outcome's rule, and keeps the outcome for the record.
    fn refuse<H: Host>(
        &mut self,
        host: &H,
        active: &Active,
        status: u32,
        error: &str,
        outcome: Outcome,
    ) -> Action {
        self.ex.status = status;
        let correlation_id = &self.ex.correlation_id;
        let body = record::local_reply_body(error, correlation_id, &outcome.rule);
        let headers = [
            ("content-type", "application/json"),
            (
                active.settings.config.correlation_header.as_str(),
                correlation_id.as_str(),
            ),
        ];
        let details = format!("observatory_{error}");
        if let Err(e) = host.send_local_response(status, &details, &headers, body.as_bytes()) {
            warn!("cannot send local reply {status}: {e}");
        }
        self.ex.outcome = Some(outcome);
        Action::Pause
    }

    pub fn on_request_body<H: Host>(
        &mut self,
        host: &H,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        let (Some(active), Some(extra)) = (self.active.clone(), self.ex.extra.as_mut()) else {
            return Action::Continue;
        };
        let config = &active.settings.config;
        let body = extra.request_body(host, config, &active.metrics, body_size, end_of_stream);
        self.after_request_body(host, &active, body)
    }

    /// What the request body's scan decided, as Envoy is told it.
    fn after_request_body<H: Host>(
        &mut self,
        host: &H,
        active: &Active,
        body: RequestBody,
    ) -> Action {
        match body {
            RequestBody::Continue => Action::Continue,
            RequestBody::Pause => Action::Pause,
            RequestBody::Deny(rule) => {
                let outcome = match self.ex.outcome.take() {
                    Some(allowed) => Outcome {
                        verdict: Verdict::Deny,
                        rule,
                        ..allowed
                    },
                    None => Outcome::refused(&rule),
                };
                self.refuse(host, active, 403, "forbidden", outcome)
            }
        }
    }

    /// Trailers end the request body: one held for a `denyOnPii` scan is
    /// scanned here (Envoy sends no body callback that says it ended).
    pub fn on_request_trailers<H: Host>(&mut self, host: &H) -> Action {
        let (Some(active), Some(extra)) = (self.active.clone(), self.ex.extra.as_mut()) else {
            return Action::Continue;
        };
        let config = &active.settings.config;
        let body = extra.request_trailers(host, config, &active.metrics);
        self.after_request_body(host, &active, body)
    }

    pub fn on_response_headers<H: Host>(&mut self, host: &H, end_of_stream: bool) -> Action {
        let Some(active) = &self.active else {
            return Action::Continue;
        };
        let ex = &mut self.ex;
        if end_of_stream {
            ex.response_bytes = Some(0);
        }
        let mut content_type = MediaType::default();
        let mut encoded = false;
        let recording = ex.extra.is_some();
        host.for_each_header(Headers::Response, |name, value| match name {
            b":status" => ex.status = number(value).unwrap_or(ex.status),
            b"content-length" => ex.response_bytes = number(value),
            b"content-type" if recording => content_type.line(text(value)),
            b"content-encoding" => encoded |= is_coded(value),
            _ => {}
        });
        if ex.method == "HEAD" {
            ex.response_bytes = Some(0);
        }
        let config = &active.settings.config;
        if let Some(extra) = &mut ex.extra {
            let head = ResponseHead {
                content_type,
                encoded,
                length: ex.response_bytes,
                end_of_stream,
                tunnel: ex.status == 101 || ex.method == "CONNECT",
                partial: ex.status == 206,
            };
            let rewriting = extra.response_headers(host, config, &active.metrics, head);
            if rewriting {
                // The length sent is counted by Envoy.
                ex.response_bytes = None;
            }
        }
        if !ex.correlation_id.is_empty() {
            host.set_header(
                Headers::Response,
                &config.correlation_header,
                Some(&ex.correlation_id),
            );
        }
        Action::Continue
    }

    pub fn on_response_body<H: Host>(
        &mut self,
        host: &H,
        body_size: usize,
        end_of_stream: bool,
    ) -> Action {
        let (Some(active), Some(extra)) = (&self.active, self.ex.extra.as_mut()) else {
            return Action::Continue;
        };
        let config = &active.settings.config;
        if extra.response_body(host, config, &active.metrics, body_size, end_of_stream) {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    /// Trailers end the response body: one held to be rewritten is
    /// rewritten here.
    pub fn on_response_trailers<H: Host>(&mut self, host: &H) -> Action {
        if let (Some(active), Some(extra)) = (&self.active, self.ex.extra.as_mut()) {
            extra.response_trailers(host, &active.settings.config, &active.metrics);
        }
        Action::Continue
    }

    /// The request is done: its record is encoded now, or on the next tick
    /// when it has something to redact. A request Envoy ended before its
    /// headers reached the filter is recorded as incomplete.
    pub fn on_log<H: Host>(&mut self, host: &H) {
        let Some(active) = self.active.take() else {
            return;
        };
        let now = host.now();
        let mut ex = if self.ex.is_complete() {
            std::mem::take(&mut self.ex)
        } else {
            request::incomplete(host, &active, now)
        };
        ex.settle(host);
        let Ok(mut export) = active.export.try_borrow_mut() else {
            return;
        };
        let ex = if ex.extra.is_none() {
            // Nothing to redact: cheaper to build now than to queue.
            Some(ex)
        } else {
            export.defer(host, &active.settings, ex, now)
        };
        if let Some(ex) = ex {
            export.record(host, &active.settings, &active.metrics, ex, now);
        }
    }
}

/// Whether records have waited longer than `auditFailureTimeoutMs` for the
/// collector's ack: delivery, not one refused record or batch, has failed.
fn delivery_failing(active: &Active, ex: &Exchange) -> bool {
    let timeout = active.settings.config.audit_failure_timeout_ms;
    active
        .export
        .try_borrow()
        .is_ok_and(|export| export.outbox.stalled_for(millis(ex.start)) >= timeout)
}

#[cfg(test)]
mod tests;
