//! One request as the filter saw it: the facts read from its headers and
//! properties, what the filter enforced, and its body state. Kept until
//! the request's audit record is encoded, possibly after the request
//! context is gone (see [`crate::export`]'s deferred records).

use std::rc::Rc;
use std::time::SystemTime;

use observatory_proto::time::{self, unix_nanos};

use crate::batch::{Dropped, Outbox};
use crate::body::{Extra, Recorded};
use crate::host::{millis, Host};
use crate::peer::Peer;
use crate::policy::Verdict;
use crate::record::{path_without_query, RecordView, Uuid};
use crate::settings::Settings;

/// What the filter enforced, kept for the record.
#[derive(Debug)]
pub struct Outcome {
    pub verdict: Verdict,
    pub shadow: Option<Verdict>,
    pub rule: String,
    pub audit_policy: String,
}

impl Outcome {
    /// Denied under `rule` before any policy decided.
    pub fn refused(rule: &str) -> Outcome {
        Outcome {
            verdict: Verdict::Deny,
            shadow: None,
            rule: rule.to_string(),
            audit_policy: String::new(),
        }
    }
}

/// The rule of a record whose request Envoy rejected before the filter saw
/// its headers: nothing was decided, nothing forwarded.
pub const INCOMPLETE_REQUEST: &str = "incomplete-request";
/// The method recorded when Envoy did not parse one (as in its access log).
const UNKNOWN_METHOD: &str = "-";

#[derive(Debug)]
pub struct Exchange {
    pub start: SystemTime,
    pub correlation_id: String,
    /// The client's `x-request-id` when it was not taken (cut, escaped).
    pub client_request_id: String,
    /// `X-Forwarded-For` as received (cut, escaped).
    pub forwarded_for: String,
    /// Envoy's response code details, for requests that did not complete.
    pub response_details: String,
    pub trace_id: String,
    /// `None` until the request headers are read.
    pub peer: Option<Rc<Peer>>,
    pub method: String,
    pub path: String,
    pub user_agent: String,
    pub outcome: Option<Outcome>,
    pub status: u32,
    /// Body sizes known from the headers (no body, or Content-Length);
    /// `None` falls back to Envoy's byte counters at log time.
    pub request_bytes: Option<u64>,
    pub response_bytes: Option<u64>,
    /// Recording and DLP state; `None` without a `redaction` section.
    pub extra: Option<Box<Extra>>,
}

impl Default for Exchange {
    fn default() -> Self {
        Exchange {
            start: SystemTime::UNIX_EPOCH,
            correlation_id: String::new(),
            client_request_id: String::new(),
            forwarded_for: String::new(),
            response_details: String::new(),
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
}

impl Exchange {
    /// Whether the filter decided this request (saw its headers).
    pub fn is_complete(&self) -> bool {
        self.outcome.is_some()
    }

    /// Reads what Envoy alone still knows at log time (the status of a
    /// response the filter did not see, body sizes without Content-Length,
    /// why a request did not complete), so that the record can be built later.
    pub fn settle<H: Host>(&mut self, host: &H) {
        if self.status == 0 {
            self.status = u32::try_from(host.property_u64(b"response\0code")).unwrap_or(0);
        }
        if self.status == 0 || !self.is_complete() {
            self.response_details = host
                .property_string(b"response\0code_details")
                .unwrap_or_default();
        }
        if self.request_bytes.is_none() {
            self.request_bytes = Some(host.property_u64(b"request\0size"));
        }
        if self.response_bytes.is_none() {
            self.response_bytes = Some(host.property_u64(b"response\0size"));
        }
    }

    /// Encodes the request's audit record into `outbox` (after
    /// [`Exchange::settle`]); the fields are borrowed from this exchange,
    /// its peer and the settings. Returns what the outbox had to drop.
    pub fn encode_into(
        mut self,
        settings: &Settings,
        now: SystemTime,
        outbox: &mut Outbox,
    ) -> Dropped {
        let duration = now.duration_since(self.start).unwrap_or_default();
        let (decision, shadow, rule, audit_policy) = match &self.outcome {
            Some(o) => (
                o.verdict.as_str(),
                o.shadow.map(Verdict::as_str).unwrap_or_default(),
                o.rule.as_str(),
                o.audit_policy.as_str(),
            ),
            // Headers never completed: nothing was forwarded.
            None => ("deny", "", INCOMPLETE_REQUEST, ""),
        };
        let config = &settings.config;
        let recorded = match (&config.redaction, self.extra.take()) {
            (Some(redactor), Some(extra)) => {
                Some(extra.into_record(redactor, &config.capture, &self.path, &self.forwarded_for))
            }
            _ => None,
        };
        let none = Recorded::default();
        let extras = recorded.as_ref().unwrap_or(&none);
        let no_peer = Peer::default();
        let peer = self.peer.as_deref().unwrap_or(&no_peer);
        let node = &settings.node;
        let record_id = Uuid::new(fastrand::u128(..));
        let record = RecordView {
            ts_unix_nanos: unix_nanos(self.start),
            correlation_id: &self.correlation_id,
            trace_id: &self.trace_id,
            source_principal: &peer.principal,
            source_ip: &peer.source_ip,
            mtls: peer.mtls,
            destination_workload: &node.workload,
            destination_namespace: &node.namespace,
            method: match self.method.as_str() {
                "" => UNKNOWN_METHOD,
                method => method,
            },
            path: match &recorded {
                Some(r) => &r.path,
                None => path_without_query(&self.path),
            },
            status: self.status,
            // Microsecond resolution: `0.573`, not `0.5730000000000001`.
            duration_ms: time::micros(duration) as f64 / 1000.0,
            request_bytes: self.request_bytes.unwrap_or(0),
            response_bytes: self.response_bytes.unwrap_or(0),
            user_agent: &self.user_agent,
            decision,
            shadow_decision: shadow,
            rule,
            redactions: &extras.redactions,
            proxy_id: &node.proxy_id,
            audit_policy,
            query: &extras.query,
            headers: &extras.headers,
            request_body: &extras.request_body,
            response_body: &extras.response_body,
            record_id: record_id.as_str(),
            client_request_id: &self.client_request_id,
            forwarded_for: match &recorded {
                Some(r) => &r.forwarded_for,
                None => &self.forwarded_for,
            },
            source_ip_origin: peer.source_ip_origin,
            response_details: &self.response_details,
        };
        outbox.push(&record, millis(now))
    }
}
