//! The decisions of one request's callbacks: decide at request headers,
//! tag the response with the correlation id, queue the audit record at log
//! time. Bodies are only looked at with a `redaction` section
//! ([`crate::body`]).

use std::rc::Rc;

use log::warn;

use crate::active::Active;
use crate::body::{Extra, RequestBody, ResponseHead};
use crate::config::FailureMode;
use crate::exchange::{Exchange, Outcome};
use crate::host::{millis, Headers, Host};
use crate::metrics::Counter;
use crate::peer::Peer;
use crate::policy::{Request, Verdict};
use crate::record::{self, ip_of_address, trace_id_from_traceparent};

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

        let d = config.policies.decide(&Request {
            principal: (!peer.principal.is_empty()).then_some(peer.principal.as_str()),
            mtls: peer.mtls,
            method: &self.ex.method,
            path: &self.ex.path,
        });
        if d.shadow == Some(Verdict::Deny) && d.verdict == Verdict::Allow {
            active.metrics.add(Counter::ShadowDenied, 1);
        }
        let mut outcome = Outcome {
            verdict: d.verdict,
            shadow: d.shadow,
            rule: d.rule.to_string(),
            audit_policy: d.audit_policy.unwrap_or_default().to_string(),
        };

        let audit_down =
            config.audit_failure_mode == FailureMode::Closed && delivery_failing(&active, &self.ex);
        // A denial is a denial whatever the audit trail's state.
        let action = if outcome.verdict == Verdict::Deny {
            active.metrics.add(Counter::Denied, 1);
            self.ex.status = 403;
            self.reply(host, &active, 403, "forbidden", &outcome.rule);
            Action::Pause
        } else if audit_down {
            // NIST AU-5: no unaudited traffic while records cannot be delivered.
            active.metrics.add(Counter::AuditUnavailable, 1);
            outcome.verdict = Verdict::Deny;
            outcome.rule = AUDIT_UNAVAILABLE.to_string();
            self.ex.status = 503;
            self.reply(host, &active, 503, "audit_unavailable", &outcome.rule);
            Action::Pause
        } else {
            active.metrics.add(Counter::Allowed, 1);
            if let Some(extra) = &mut self.ex.extra {
                extra.scan_request(config, end_of_stream);
            }
            Action::Continue
        };
        self.ex.outcome = Some(outcome);
        action
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
        let capture = &config.capture;
        let mut extra = config.redaction.as_ref().map(|_| Box::<Extra>::default());
        let mut request_id = None;
        let mut traceparent = None;
        // One host call for all headers is cheaper than one per header.
        host.for_each_header(Headers::Request, |name, value| match name {
            b":method" => ex.method = text(value),
            b":path" => ex.path = text(value),
            b"user-agent" => ex.user_agent = text(value),
            b"x-request-id" => request_id = Some(text(value)),
            b"traceparent" => traceparent = Some(text(value)),
            b"content-length" => ex.request_bytes = number(value),
            _ => {
                if let Some(extra) = &mut extra {
                    extra.request_header(capture, name, value);
                }
            }
        });
        if let Some(mut extra) = extra {
            extra.route(config, &ex.path);
            ex.extra = Some(extra);
        }
        ex.trace_id = traceparent
            .as_deref()
            .and_then(trace_id_from_traceparent)
            .map(str::to_string)
            .unwrap_or_default();
        let read = || read_peer(host);
        let peer = match active.peers.try_borrow_mut() {
            Ok(mut peers) => peers.get_or_read(host.property_u64(b"connection\0id"), read),
            Err(_) => Rc::new(read()),
        };
        ex.peer = Some(Rc::clone(&peer));
        ex.correlation_id = match request_id {
            Some(id) if !id.is_empty() => id,
            _ => {
                // Envoy normally generates x-request-id; cover setups that turn it off.
                let id = record::uuid_v4(fastrand::u128(..));
                host.set_header(Headers::Request, "x-request-id", Some(&id));
                id
            }
        };
        peer
    }

    /// Answers the request locally with a JSON error body.
    fn reply<H: Host>(&self, host: &H, active: &Active, status: u32, error: &str, rule: &str) {
        let correlation_id = &self.ex.correlation_id;
        let body = record::local_reply_body(error, correlation_id, rule);
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
        match extra.request_body(host, config, &active.metrics, body_size, end_of_stream) {
            RequestBody::Continue => Action::Continue,
            RequestBody::Pause => Action::Pause,
            RequestBody::Deny(rule) => {
                self.ex.status = 403;
                self.reply(host, &active, 403, "forbidden", &rule);
                if let Some(outcome) = &mut self.ex.outcome {
                    outcome.verdict = Verdict::Deny;
                    outcome.rule = rule;
                }
                Action::Pause
            }
        }
    }

    pub fn on_response_headers<H: Host>(&mut self, host: &H, end_of_stream: bool) -> Action {
        let Some(active) = &self.active else {
            return Action::Continue;
        };
        let ex = &mut self.ex;
        if end_of_stream {
            ex.response_bytes = Some(0);
        }
        let mut content_type = None;
        let mut encoded = false;
        let recording = ex.extra.is_some();
        host.for_each_header(Headers::Response, |name, value| match name {
            b":status" => ex.status = number(value).unwrap_or(ex.status),
            b"content-length" => ex.response_bytes = number(value),
            b"content-type" if recording => content_type = Some(text(value)),
            b"content-encoding" => encoded = !value.eq_ignore_ascii_case(b"identity"),
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

    /// The request is done: its record is encoded now, or on the next tick
    /// when it has body excerpts to redact.
    pub fn on_log<H: Host>(&mut self, host: &H) {
        let Some(active) = self.active.take() else {
            return;
        };
        let now = host.now();
        let mut ex = std::mem::take(&mut self.ex);
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

/// A header value as text; bytes that are not UTF-8 become U+FFFD.
fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value).into_owned()
}

fn number<T: std::str::FromStr>(value: &[u8]) -> Option<T> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// The downstream peer as Envoy knows it: one host call per fact.
fn read_peer<H: Host>(host: &H) -> Peer {
    // Plaintext (the cheap answer) needs no certificate lookup.
    let mtls = host.property_bool(b"connection\0mtls");
    let principal = if mtls {
        host.property_string(b"connection\0uri_san_peer_certificate")
            .unwrap_or_default()
    } else {
        String::new()
    };
    let source_ip = host
        .property_string(b"source\0address")
        .map(|a| ip_of_address(&a).to_string())
        .unwrap_or_default();
    Peer {
        mtls,
        principal,
        source_ip,
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
