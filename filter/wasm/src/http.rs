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
    self, ip_of_address, path_without_query, trace_id_from_traceparent, AuditRecord,
};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};

use crate::body::{Extra, Recorded, RequestBody};
use crate::host::{self, Counter};
use crate::root::Active;

/// What the filter enforced, kept for the record.
struct Outcome {
    verdict: Verdict,
    shadow: Option<Verdict>,
    rule: String,
    audit_policy: String,
}

pub struct Http {
    active: Option<Rc<Active>>,
    start: SystemTime,
    correlation_id: String,
    trace_id: String,
    principal: String,
    mtls: bool,
    source_ip: String,
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
            principal: String::new(),
            mtls: false,
            source_ip: String::new(),
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

    fn read_request(&mut self, active: &Active, end_of_stream: bool) {
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
            Ok(mut peers) => {
                peers.get_or_read(host::property_u64(&["connection", "id"]), read_peer)
            }
            Err(_) => read_peer(),
        };
        self.mtls = peer.mtls;
        self.principal = peer.principal;
        self.source_ip = peer.source_ip;
        self.correlation_id = match request_id {
            Some(id) if !id.is_empty() => id,
            _ => {
                // Envoy normally generates x-request-id; cover setups that turn it off.
                let id = record::uuid_v4(fastrand::u128(..));
                host::set_request_header("x-request-id", &id);
                id
            }
        };
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

    /// Moves the request's facts into the record: this is the stream's last callback.
    fn build_record(&mut self, active: &Active, now: SystemTime) -> AuditRecord {
        let duration = now.duration_since(self.start).unwrap_or_default();
        let (decision, shadow, rule, audit_policy) = match self.outcome.take() {
            Some(o) => (
                o.verdict.as_str(),
                o.shadow.map(Verdict::as_str).unwrap_or_default(),
                o.rule,
                o.audit_policy,
            ),
            // Headers never completed: nothing was forwarded.
            None => ("deny", "", "incomplete-request".to_string(), String::new()),
        };
        let status = match self.status {
            0 => u32::try_from(host::property_u64(&["response", "code"])).unwrap_or(0),
            s => s,
        };
        let recorded = match (&active.config.redaction, self.extra.take()) {
            (Some(redactor), Some(extra)) => {
                extra.into_record(redactor, &active.config.capture, &self.path)
            }
            _ => Recorded {
                path: path_without_query(&self.path).to_string(),
                ..Recorded::default()
            },
        };
        AuditRecord {
            ts_unix_nanos: record::unix_nanos(self.start),
            correlation_id: std::mem::take(&mut self.correlation_id),
            trace_id: std::mem::take(&mut self.trace_id),
            source_principal: std::mem::take(&mut self.principal),
            source_ip: std::mem::take(&mut self.source_ip),
            mtls: self.mtls,
            destination_workload: active.node.workload.clone(),
            destination_namespace: active.node.namespace.clone(),
            method: std::mem::take(&mut self.method),
            path: recorded.path,
            query: recorded.query,
            headers: recorded.headers,
            request_body: recorded.request_body,
            response_body: recorded.response_body,
            status,
            // Microsecond resolution: `0.573`, not `0.5730000000000001`.
            duration_ms: duration.as_micros() as f64 / 1000.0,
            request_bytes: self
                .request_bytes
                .unwrap_or_else(|| host::property_u64(&["request", "size"])),
            response_bytes: self
                .response_bytes
                .unwrap_or_else(|| host::property_u64(&["response", "size"])),
            user_agent: std::mem::take(&mut self.user_agent),
            decision: decision.to_string(),
            shadow_decision: shadow.to_string(),
            rule,
            redactions: recorded.redactions,
            proxy_id: active.node.proxy_id.clone(),
            audit_policy,
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
fn read_peer() -> Peer {
    // Plaintext (the cheap answer) needs no certificate lookup.
    let mtls = host::property_bool(&["connection", "mtls"]);
    let principal = if mtls {
        host::property_string(&["connection", "uri_san_peer_certificate"]).unwrap_or_default()
    } else {
        String::new()
    };
    let source_ip = host::property_string(&["source", "address"])
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
        self.read_request(&active, end_of_stream);
        active.metrics.add(Counter::Requests, 1);

        let d = active.config.policies.decide(&Request {
            principal: (!self.principal.is_empty()).then_some(self.principal.as_str()),
            mtls: self.mtls,
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
        let Some(active) = self.active.clone() else {
            return;
        };
        let now = host::now();
        let record = self.build_record(&active, now);
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
