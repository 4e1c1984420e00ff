//! HTTP context: one per request. Decides at request headers, tags the
//! response with the correlation id, and queues the audit record at log time.
//! Bodies are only looked at with a `redaction` section (`body.rs`).

use std::rc::Rc;
use std::time::SystemTime;

use log::warn;
use observatory_engine::config::FailureMode;
use observatory_engine::peer::Peer;
use observatory_engine::policy::{Request, Verdict};
use observatory_engine::record::{
    self, ip_of_address, path_without_query, trace_id_from_traceparent, RecordView,
};
use observatory_proto::time::unix_nanos;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::body::{Extra, Recorded, RequestBody};
use crate::host::{self, Counter};
use crate::root::Active;

/// What the filter enforced, kept for the record.
#[derive(Debug)]
struct Outcome {
    verdict: Verdict,
    shadow: Option<Verdict>,
    rule: String,
    audit_policy: String,
}

#[derive(Debug)]
pub struct Http {
    active: Option<Rc<Active>>,
    start: SystemTime,
    correlation_id: String,
    trace_id: String,
    /// `None` until the request headers are read.
    peer: Option<Rc<Peer>>,
    method: String,
    path: String,
    user_agent: String,
    outcome: Option<Outcome>,
    status: u32,
    /// Body sizes known from the headers (no body, or Content-Length);
    /// `None` falls back to Envoy's byte counters at log time.
    request_bytes: Option<u64>,
    response_bytes: Option<u64>,
    /// Recording and DLP state; `None` without a `redaction` section.
    extra: Option<Box<Extra>>,
}

impl Http {
    pub fn new(active: Option<Rc<Active>>) -> Self {
        Http {
            active,
            start: SystemTime::UNIX_EPOCH,
            correlation_id: String::new(),
            trace_id: String::new(),
            peer: None,
            method: String::new(),
            path: String::new(),
            user_agent: String::new(),
            outcome: None,
            status: 0,
            request_bytes: None,
            response_bytes: None,
            extra: None,
        }
    }

    /// Reads what the decision and the record need; returns the peer.
    fn read_request(&mut self, active: &Active, end_of_stream: bool) -> Rc<Peer> {
        self.start = host::now();
        if end_of_stream {
            self.request_bytes = Some(0);
        }
        let capture = &active.config.capture;
        let mut extra = active
            .config
            .redaction
            .as_ref()
            .map(|_| Box::<Extra>::default());
        let mut request_id = None;
        let mut traceparent = None;
        // One host call for all headers is cheaper than one per header.
        host::for_each_header(MapType::HttpRequestHeaders, |name, value| match name {
            b":method" => self.method = text(value),
            b":path" => self.path = text(value),
            b"user-agent" => self.user_agent = text(value),
            b"x-request-id" => request_id = Some(text(value)),
            b"traceparent" => traceparent = Some(text(value)),
            b"content-length" => self.request_bytes = number(value),
            _ => {
                if let Some(extra) = &mut extra {
                    extra.request_header(capture, name, value);
                }
            }
        });
        if let Some(mut extra) = extra {
            extra.route(&active.config, &self.path);
            self.extra = Some(extra);
        }
        self.trace_id = traceparent
            .as_deref()
            .and_then(trace_id_from_traceparent)
            .map(str::to_string)
            .unwrap_or_default();
        let peer = match active.peers.try_borrow_mut() {
            Ok(mut peers) => peers.get_or_read(host::property_u64(b"connection\0id"), read_peer),
            Err(_) => Rc::new(read_peer()),
        };
        self.peer = Some(Rc::clone(&peer));
        self.correlation_id = match request_id {
            Some(id) if !id.is_empty() => id,
            _ => {
                // Envoy normally generates x-request-id; cover setups that turn it off.
                let id = record::uuid_v4(fastrand::u128(..));
                host::set_request_header("x-request-id", &id);
                id
            }
        };
        peer
    }

    /// Answers the request locally with a JSON error body.
    fn reply(&self, active: &Active, status: u32, error: &str, rule: &str) {
        let body = record::local_reply_body(error, &self.correlation_id, rule);
        let headers = [
            ("content-type", "application/json"),
            (
                active.config.correlation_header.as_str(),
                self.correlation_id.as_str(),
            ),
        ];
        let details = format!("observatory_{error}");
        if let Err(e) = host::send_local_response(status, &details, &headers, body.as_bytes()) {
            warn!("cannot send local reply {status}: {e:?}");
        }
    }

    /// Reads what Envoy alone still knows at log time (the status of a
    /// response the filter did not see, body sizes without Content-Length),
    /// so that the record can be built later.
    fn settle(&mut self) {
        if self.status == 0 {
            self.status = u32::try_from(host::property_u64(b"response\0code")).unwrap_or(0);
        }
        if self.request_bytes.is_none() {
            self.request_bytes = Some(host::property_u64(b"request\0size"));
        }
        if self.response_bytes.is_none() {
            self.response_bytes = Some(host::property_u64(b"response\0size"));
        }
    }

    /// Encodes the request's audit record into the outbox (after
    /// [`Http::settle`]); the fields are borrowed from this context, its
    /// peer and the configuration.
    pub fn export_record(mut self, active: &Active, now: SystemTime) {
        let duration = now.duration_since(self.start).unwrap_or_default();
        let (decision, shadow, rule, audit_policy) = match &self.outcome {
            Some(o) => (
                o.verdict.as_str(),
                o.shadow.map(Verdict::as_str).unwrap_or_default(),
                o.rule.as_str(),
                o.audit_policy.as_str(),
            ),
            // Headers never completed: nothing was forwarded.
            None => ("deny", "", "incomplete-request", ""),
        };
        let status = self.status;
        let request_bytes = self.request_bytes.unwrap_or(0);
        let response_bytes = self.response_bytes.unwrap_or(0);
        let recorded = match (&active.config.redaction, self.extra.take()) {
            (Some(redactor), Some(extra)) => {
                Some(extra.into_record(redactor, &active.config.capture, &self.path))
            }
            _ => None,
        };
        let none = Recorded::default();
        let extras = recorded.as_ref().unwrap_or(&none);
        let no_peer = Peer::default();
        let peer = self.peer.as_deref().unwrap_or(&no_peer);
        let record = RecordView {
            ts_unix_nanos: unix_nanos(self.start),
            correlation_id: &self.correlation_id,
            trace_id: &self.trace_id,
            source_principal: &peer.principal,
            source_ip: &peer.source_ip,
            mtls: peer.mtls,
            destination_workload: &active.node.workload,
            destination_namespace: &active.node.namespace,
            method: &self.method,
            path: match &recorded {
                Some(r) => &r.path,
                None => path_without_query(&self.path),
            },
            status,
            // Microsecond resolution: `0.573`, not `0.5730000000000001`.
            duration_ms: duration.as_micros() as f64 / 1000.0,
            request_bytes,
            response_bytes,
            user_agent: &self.user_agent,
            decision,
            shadow_decision: shadow,
            rule,
            redactions: &extras.redactions,
            proxy_id: &active.node.proxy_id,
            audit_policy,
            query: &extras.query,
            headers: &extras.headers,
            request_body: &extras.request_body,
            response_body: &extras.response_body,
            record_id: "",
            client_request_id: "",
            forwarded_for: "",
            source_ip_origin: "",
            response_details: "",
        };
        let Ok(mut ex) = active.export.try_borrow_mut() else {
            return;
        };
        let now_ms = host::millis(now);
        let dropped = ex.outbox.push(&record, now_ms);
        ex.send_unsent(now_ms);
        drop(ex);
        active.count_dropped(dropped);
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
fn read_peer() -> Peer {
    // Plaintext (the cheap answer) needs no certificate lookup.
    let mtls = host::property_bool(b"connection\0mtls");
    let principal = if mtls {
        host::property_string(b"connection\0uri_san_peer_certificate").unwrap_or_default()
    } else {
        String::new()
    };
    let source_ip = host::property_string(b"source\0address")
        .map(|a| ip_of_address(&a).to_string())
        .unwrap_or_default();
    Peer {
        mtls,
        principal,
        source_ip,
    }
}

impl Context for Http {}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        let Some(active) = self.active.clone() else {
            return Action::Continue;
        };
        let peer = self.read_request(&active, end_of_stream);
        active.metrics.add(Counter::Requests, 1);

        let d = active.config.policies.decide(&Request {
            principal: (!peer.principal.is_empty()).then_some(peer.principal.as_str()),
            mtls: peer.mtls,
            method: &self.method,
            path: &self.path,
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

        let audit_down = active.config.audit_failure_mode == FailureMode::Closed
            && active
                .export
                .try_borrow()
                .is_ok_and(|ex| !ex.link.healthy());
        let action = if outcome.verdict == Verdict::Deny {
            active.metrics.add(Counter::Denied, 1);
            self.status = 403;
            self.reply(&active, 403, "forbidden", &outcome.rule);
            Action::Pause
        } else if audit_down {
            // NIST AU-5: no unaudited traffic while the audit trail is down.
            active.metrics.add(Counter::AuditUnavailable, 1);
            outcome.verdict = Verdict::Deny;
            outcome.rule = "audit-unavailable".to_string();
            self.status = 503;
            self.reply(&active, 503, "audit_unavailable", &outcome.rule);
            Action::Pause
        } else {
            active.metrics.add(Counter::Allowed, 1);
            if let Some(extra) = &mut self.extra {
                extra.scan_request(&active.config, end_of_stream);
            }
            Action::Continue
        };
        self.outcome = Some(outcome);
        action
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let (Some(active), Some(extra)) = (self.active.clone(), self.extra.as_mut()) else {
            return Action::Continue;
        };
        let Some(redactor) = &active.config.redaction else {
            return Action::Continue;
        };
        let step = extra.request_body(
            &active.config,
            redactor,
            &active.metrics,
            body_size,
            end_of_stream,
        );
        match step {
            RequestBody::Continue => Action::Continue,
            RequestBody::Pause => Action::Pause,
            RequestBody::Deny(rule) => {
                self.status = 403;
                self.reply(&active, 403, "forbidden", &rule);
                if let Some(outcome) = &mut self.outcome {
                    outcome.verdict = Verdict::Deny;
                    outcome.rule = rule;
                }
                Action::Pause
            }
        }
    }

    fn on_http_response_headers(&mut self, _headers: usize, end_of_stream: bool) -> Action {
        let Some(active) = &self.active else {
            return Action::Continue;
        };
        if end_of_stream {
            self.response_bytes = Some(0);
        }
        let mut content_type = None;
        let mut encoded = false;
        let recording = self.extra.is_some();
        host::for_each_header(MapType::HttpResponseHeaders, |name, value| match name {
            b":status" => self.status = number(value).unwrap_or(self.status),
            b"content-length" => self.response_bytes = number(value),
            b"content-type" if recording => content_type = Some(text(value)),
            b"content-encoding" => encoded = !value.eq_ignore_ascii_case(b"identity"),
            _ => {}
        });
        if self.method == "HEAD" {
            self.response_bytes = Some(0);
        }
        if let Some(extra) = &mut self.extra {
            let rewriting = extra.response_headers(
                &active.config,
                &active.metrics,
                end_of_stream,
                content_type,
                encoded,
                self.response_bytes,
            );
            if rewriting {
                // The length sent is counted by Envoy.
                self.response_bytes = None;
            }
        }
        if !self.correlation_id.is_empty() {
            host::set_response_header(&active.config.correlation_header, &self.correlation_id);
        }
        Action::Continue
    }

    fn on_http_response_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        let (Some(active), Some(extra)) = (&self.active, self.extra.as_mut()) else {
            return Action::Continue;
        };
        let Some(redactor) = &active.config.redaction else {
            return Action::Continue;
        };
        let hold = extra.response_body(
            &active.config,
            redactor,
            &active.metrics,
            body_size,
            end_of_stream,
        );
        if hold {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_log(&mut self) {
        let Some(active) = self.active.take() else {
            return;
        };
        let now = host::now();
        self.settle();
        let http = std::mem::replace(self, Http::new(None));
        if http.extra.is_none() {
            // Nothing to redact: cheaper to build now than to queue.
            return http.export_record(&active, now);
        }
        if let Some(http) = active.defer(http, now) {
            http.export_record(&active, now);
        }
    }
}
