//! The delivery side of one sender: the outbox, the gRPC stream's state,
//! and the finished requests whose records are still to be built. Shared by
//! the root context (which ticks and receives the collector's acks) and the
//! HTTP contexts (which add records and send sealed batches at once).

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use log::{error, info, warn};
use observatory_proto::audit::Ack;
use prost::Message;

use crate::batch::{Dropped, Outbox};
use crate::config::FilterConfig;
use crate::exchange::Exchange;
use crate::host::{millis, Host};
use crate::metrics::{Counter, Metrics};
use crate::settings::Settings;
use crate::stream::{Link, ACK_TIMEOUT_MS};

pub const SERVICE: &str = "observatory.audit.v1.AuditService";
pub const METHOD: &str = "Stream";
/// Initial metadata of the stream: the sender, for whoever relays the
/// stream (a routed hop can consistent-hash on it). Left out when the proxy
/// id is not a valid header value: Envoy would reset the stream.
pub const PROXY_METADATA: &str = "x-observatory-proxy";
/// gRPC codes with which the collector refuses a batch it will not store.
const GRPC_INVALID_ARGUMENT: u32 = 3;
const GRPC_RESOURCE_EXHAUSTED: u32 = 8;
const GRPC_DEADLINE_EXCEEDED: u32 = 4;
/// gRPC codes with which the collector refuses the sender itself: no
/// authenticated identity, or one that may not write this proxy id.
const GRPC_PERMISSION_DENIED: u32 = 7;
const GRPC_UNAUTHENTICATED: u32 = 16;
/// Quarantine reasons written to the log per ack; the rest are counted.
const LOGGED_REASONS: usize = 3;
/// Finished requests whose record waits for the next tick (each holds its
/// body excerpts); beyond this, `on_log` builds the record itself.
pub const MAX_DEFERRED: usize = 32;
/// The tick period while records wait: soon after the responses went out.
pub const DEFERRED_TICK: Duration = Duration::from_millis(1);

/// A finished request whose record is built on the next tick, with the
/// settings it ran under.
#[derive(Debug)]
struct Deferred {
    settings: Rc<Settings>,
    exchange: Exchange,
    now: SystemTime,
}

#[derive(Debug)]
pub struct Export {
    pub outbox: Outbox,
    pub link: Link,
    rng: fastrand::Rng,
    /// `on_log` runs before Envoy writes the response out, so redacting a
    /// record's body excerpts there would delay every response; they are
    /// built on a tick right after instead.
    deferred: Vec<Deferred>,
}

impl Export {
    pub fn new(config: &FilterConfig, proxy_id: String, instance_id: String) -> Self {
        Export {
            outbox: Outbox::new(config.batch, proxy_id, instance_id),
            link: Link::new(
                config.collector.min_backoff_ms,
                config.collector.max_backoff_ms,
            ),
            rng: fastrand::Rng::new(),
            deferred: Vec::new(),
        }
    }

    /// Encodes a finished request's record and sends what sealed.
    pub fn record<H: Host>(
        &mut self,
        host: &H,
        settings: &Settings,
        metrics: &Metrics,
        exchange: Exchange,
        now: SystemTime,
    ) {
        let dropped = exchange.encode_into(settings, now, &mut self.outbox);
        self.send_unsent(host, millis(now));
        count_dropped(metrics, &settings.config, dropped);
    }

    /// Queues a finished request's record for the next tick; gives the
    /// request back (to be built now) when the queue is full.
    pub fn defer<H: Host>(
        &mut self,
        host: &H,
        settings: &Rc<Settings>,
        exchange: Exchange,
        now: SystemTime,
    ) -> Option<Exchange> {
        if self.deferred.len() >= MAX_DEFERRED {
            return Some(exchange);
        }
        if self.deferred.is_empty() {
            if let Err(e) = host.set_tick_period(DEFERRED_TICK) {
                warn!("set_tick_period: {e}; building the record now");
                return Some(exchange);
            }
        }
        self.deferred.push(Deferred {
            settings: Rc::clone(settings),
            exchange,
            now,
        });
        None
    }

    /// Builds the deferred records (a reconfiguration keeps them, like the
    /// outbox) and goes back to the regular tick.
    pub fn build_deferred<H: Host>(&mut self, host: &H, metrics: &Metrics, tick: Duration) {
        if self.deferred.is_empty() {
            return;
        }
        for d in std::mem::take(&mut self.deferred) {
            self.record(host, &d.settings, metrics, d.exchange, d.now);
        }
        if let Err(e) = host.set_tick_period(tick) {
            warn!("set_tick_period: {e}");
        }
    }

    /// Seal due batches, keep the stream alive, send what is unsent.
    pub fn flush<H: Host>(&mut self, host: &H, settings: &Settings, metrics: &Metrics) {
        let now = host.now_ms();
        count_dropped(metrics, &settings.config, self.outbox.seal_due(now));

        if self.link.ack_overdue(now) {
            if let Some(token) = self.link.token() {
                warn!("collector stream {token}: no ack for {ACK_TIMEOUT_MS} ms, reconnecting");
                host.cancel_grpc_stream(token);
                self.link
                    .closed(token, GRPC_DEADLINE_EXCEEDED, now, self.rng.u64(..));
                self.outbox.on_disconnect();
            }
        }

        if self.link.should_connect(now, self.outbox.has_unacked()) {
            let collector = &settings.config.collector;
            let proxy_id = settings.node.proxy_id.as_bytes();
            let metadata = [(PROXY_METADATA, proxy_id)];
            let metadata = if is_header_value(proxy_id) {
                &metadata[..]
            } else {
                &[]
            };
            let service = collector.service_for(&settings.node.proxy_id);
            match host.open_grpc_stream(&service, SERVICE, METHOD, metadata) {
                Ok(token) => {
                    if self.link.opened(token) {
                        metrics.add(Counter::StreamReconnects, 1);
                    }
                    // The collector answers with its ack for this sender.
                    if host
                        .send_grpc_message(token, &self.outbox.heartbeat())
                        .is_ok()
                    {
                        self.link.sent(now);
                    }
                }
                Err(e) => {
                    warn!(
                        "cannot open stream to collector cluster {:?}: {e}",
                        collector.cluster
                    );
                    self.link.open_failed(now, self.rng.u64(..));
                }
            }
        }

        self.send_unsent(host, now);
    }

    /// Sends sealed batches on the open stream, if any. Called as soon as a
    /// batch seals, so sends are spread over requests rather than bunched
    /// on the tick (a burst of batches stalls the worker and shows in p99).
    pub fn send_unsent<H: Host>(&mut self, host: &H, now_ms: u64) {
        let Some(token) = self.link.token() else {
            return;
        };
        while let Some((seq, bytes)) = self.outbox.next_unsent() {
            // The host routes stream calls to the root context that opened
            // the stream, so HTTP contexts may send too.
            if let Err(e) = host.send_grpc_message(token, bytes) {
                warn!("collector stream {token}: send of batch {seq} failed: {e}");
                break;
            }
            self.outbox.mark_sent(seq);
            self.link.sent(now_ms);
        }
    }

    /// The collector's answer on stream `token`: an ack, which may name
    /// records of the acked batch that it stored as invalid (quarantined)
    /// rather than as records.
    pub fn on_message<H: Host>(&mut self, host: &H, metrics: &Metrics, token: u32, size: usize) {
        let bytes = host.grpc_message(size);
        let ack = match Ack::decode(bytes.as_slice()) {
            Ok(ack) => ack,
            Err(e) => {
                warn!("collector stream {token}: undecodable ack: {e}");
                return;
            }
        };
        let now = host.now_ms();
        let confirmed = self.outbox.on_ack(ack.seq, now);
        metrics.add(Counter::RecordsExported, confirmed);
        if !ack.quarantined.is_empty() {
            let n = ack.quarantined.len() as u64;
            metrics.add(Counter::RecordsQuarantined, n);
            let reasons: Vec<String> = ack
                .quarantined
                .iter()
                .take(LOGGED_REASONS)
                // The collector echoes what the sender wrote: escaped.
                .map(|q| format!("record {}: {:?}", q.index, q.reason))
                .collect();
            warn!(
                "collector quarantined {n} records of batch {} as invalid: {}{}",
                ack.seq,
                reasons.join("; "),
                if n > LOGGED_REASONS as u64 {
                    "; …"
                } else {
                    ""
                }
            );
        }
        let in_flight = self.outbox.has_in_flight();
        self.link.acked(now, in_flight);
    }

    /// Stream `token` ended with gRPC `status`. Nothing is dropped: every
    /// unacknowledged batch is resent on the next stream, after a backoff
    /// that grows while the stream keeps failing. A batch the collector
    /// refused is counted and logged with the collector's reason, and
    /// retried like the others (a collector that quarantines invalid
    /// records acks it; one that does not holds the sender up until the
    /// buffer bound drops it, counted and reported as a gap).
    pub fn on_close<H: Host>(&mut self, host: &H, metrics: &Metrics, token: u32, status: u32) {
        let jitter = self.rng.u64(..);
        if !self.link.closed(token, status, host.now_ms(), jitter) {
            return;
        }
        self.outbox.on_disconnect();
        let message = host.grpc_status_message();
        let pending = self.outbox.pending_records();
        if status == 0 {
            info!("collector stream {token} ended");
        } else if matches!(status, GRPC_INVALID_ARGUMENT | GRPC_RESOURCE_EXHAUSTED) {
            metrics.add(Counter::BatchesRefused, 1);
            error!(
                "collector refused a batch (grpc status {status}: {message}); kept with {pending} pending records, retrying"
            );
        } else if matches!(status, GRPC_PERMISSION_DENIED | GRPC_UNAUTHENTICATED) {
            error!(
                "collector refused this proxy as sender (grpc status {status}: {message}); \
                 {pending} records kept, retrying"
            );
        } else {
            warn!(
                "collector stream {token} failed (grpc status {status}: {message}); {pending} records pending"
            );
        }
    }

    /// Records built but not yet acknowledged, and those still deferred.
    pub fn pending_records(&self) -> u64 {
        self.outbox.pending_records() + self.deferred.len() as u64
    }
}

/// Visible ASCII with spaces and tabs inside (RFC 9110 `field-value`,
/// without the obsolete bytes above 0x7f).
fn is_header_value(value: &[u8]) -> bool {
    let blank = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    value
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | 0x21..=0x7e))
        && !blank(value.first())
        && !blank(value.last())
}

fn count_dropped(metrics: &Metrics, config: &FilterConfig, d: Dropped) {
    if d.records > 0 {
        metrics.add(Counter::RecordsDropped, d.records);
        warn!(
            "audit buffer full ({} bytes): dropped {} records in {} batches; an audit_gap will report them",
            config.batch.max_buffered_bytes, d.records, d.batches
        );
    }
}

#[cfg(test)]
mod tests;
