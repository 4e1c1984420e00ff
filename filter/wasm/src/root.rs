//! Root context (one per plugin configuration in each VM): configuration,
//! the periodic flush, and the gRPC stream to the collector.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use log::{error, info, warn};
use observatory_engine::batch::{Dropped, Outbox};
use observatory_engine::config::FilterConfig;
use observatory_engine::peer::PeerCache;
use observatory_engine::record::uuid_v4;
use observatory_engine::stream::Link;
use observatory_proto::audit::Ack;
use prost::Message;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};

use crate::host::{self, Counter, Metrics};
use crate::http::Http;

const SERVICE: &str = "observatory.audit.v1.AuditService";
const METHOD: &str = "Stream";
/// gRPC codes after which resending the oldest batch would fail forever.
const GRPC_INVALID_ARGUMENT: u32 = 3;
const GRPC_RESOURCE_EXHAUSTED: u32 = 8;
const GRPC_DEADLINE_EXCEEDED: u32 = 4;
/// Downstream connections whose peer a VM remembers (a few hundred bytes each).
const PEER_CACHE_CONNECTIONS: usize = 4096;
/// Finished requests whose record waits for the next tick (each holds its
/// body excerpts); beyond this, `on_log` builds the record itself.
const MAX_DEFERRED: usize = 32;
/// The tick period while records wait: soon after the responses went out.
const DEFERRED_TICK: Duration = Duration::from_millis(1);

/// Identity of this proxy and of the workload it fronts.
#[derive(Debug)]
pub struct Node {
    pub proxy_id: String,
    pub workload: String,
    pub namespace: String,
}

/// The delivery side: outbox and stream state, shared by the root context
/// (which sends) and the HTTP contexts (which add records).
#[derive(Debug)]
pub struct Export {
    pub outbox: Outbox,
    pub link: Link,
    rng: fastrand::Rng,
    /// Finished requests whose records are still to be built, each with the
    /// configuration it ran under. `on_log` runs before Envoy writes the
    /// response out, so redacting a record's body excerpts there would delay
    /// every response; they are built on a tick right after instead.
    deferred: Vec<(Rc<Active>, Http, SystemTime)>,
}

/// Everything a configured filter needs; HTTP contexts hold an `Rc` of it.
#[derive(Debug)]
pub struct Active {
    pub config: FilterConfig,
    pub node: Node,
    pub metrics: Metrics,
    pub export: Rc<RefCell<Export>>,
    pub peers: RefCell<PeerCache>,
    /// The regular tick period (batch age checks, reconnects, metrics).
    tick: Duration,
}

impl Active {
    /// Queues a finished request's record for the next tick; gives the
    /// request back (to be built now) when the queue is full.
    pub fn defer(self: &Rc<Self>, http: Http, now: SystemTime) -> Option<Http> {
        let Ok(mut ex) = self.export.try_borrow_mut() else {
            return Some(http);
        };
        if ex.deferred.len() >= MAX_DEFERRED {
            return Some(http);
        }
        if ex.deferred.is_empty() {
            if let Err(e) = hostcalls::set_tick_period(DEFERRED_TICK) {
                warn!("set_tick_period: {e:?}; building the record now");
                return Some(http);
            }
        }
        ex.deferred.push((Rc::clone(self), http, now));
        None
    }

    /// Builds the deferred records (a reconfiguration keeps them, like the
    /// outbox) and goes back to the regular tick.
    fn build_deferred(&self) {
        let finished = match self.export.try_borrow_mut() {
            Ok(mut ex) if !ex.deferred.is_empty() => std::mem::take(&mut ex.deferred),
            _ => return,
        };
        for (active, http, now) in finished {
            http.export_record(&active, now);
        }
        if let Err(e) = hostcalls::set_tick_period(self.tick) {
            warn!("set_tick_period: {e:?}");
        }
    }

    pub fn count_dropped(&self, d: Dropped) {
        if d.records > 0 {
            self.metrics.add(Counter::RecordsDropped, d.records);
            warn!(
                "audit buffer full ({} bytes): dropped {} records in {} batches; an audit_gap will report them",
                self.config.batch.max_buffered_bytes, d.records, d.batches
            );
        }
    }
}

pub struct Root {
    context_id: u32,
    active: Option<Rc<Active>>,
}

impl Root {
    pub fn new(context_id: u32) -> Self {
        Root {
            context_id,
            active: None,
        }
    }

    fn configure(&mut self, raw: &[u8]) -> Result<(), String> {
        let config =
            FilterConfig::from_json(raw).map_err(|e| format!("invalid configuration: {e}"))?;
        let metrics = Metrics::define()?;
        let node = Node {
            proxy_id: config
                .proxy_id
                .clone()
                .or_else(|| host::node_property(&["id"]))
                .unwrap_or_else(|| "unknown".to_string()),
            workload: config
                .destination
                .workload
                .clone()
                .or_else(|| host::node_property(&["metadata", "WORKLOAD_NAME"]))
                .unwrap_or_default(),
            namespace: config
                .destination
                .namespace
                .clone()
                .or_else(|| host::node_property(&["metadata", "NAMESPACE"]))
                .unwrap_or_default(),
        };
        // A reconfiguration keeps the queue (and its unacknowledged records)
        // and the stream; the new limits apply to batches sealed from now on.
        let export = match &self.active {
            Some(old) => Rc::clone(&old.export),
            None => {
                let mut rng = fastrand::Rng::new();
                let instance_id = uuid_v4(rng.u128(..) ^ u128::from(self.context_id));
                Rc::new(RefCell::new(Export {
                    outbox: Outbox::new(config.batch, node.proxy_id.clone(), instance_id),
                    link: Link::new(
                        config.collector.min_backoff_ms,
                        config.collector.max_backoff_ms,
                    ),
                    rng,
                    deferred: Vec::new(),
                }))
            }
        };
        let tick = Duration::from_millis((config.batch.max_age_ms / 2).clamp(20, 500));
        hostcalls::set_tick_period(tick).map_err(|e| format!("set_tick_period: {e:?}"))?;
        info!(
            "configured: collector cluster {:?}, proxy {:?}, workload {:?}/{:?}",
            config.collector.cluster, node.proxy_id, node.namespace, node.workload
        );
        self.active = Some(Rc::new(Active {
            config,
            node,
            metrics,
            export,
            peers: RefCell::new(PeerCache::new(PEER_CACHE_CONNECTIONS)),
            tick,
        }));
        Ok(())
    }

    /// Seal due batches, keep the stream alive, send what is unsent.
    fn flush(&self, active: &Active) {
        let Ok(mut ex) = active.export.try_borrow_mut() else {
            return;
        };
        let ex = &mut *ex;
        let now = host::now_ms();
        active.count_dropped(ex.outbox.seal_due(now));

        if ex.link.ack_overdue(now) {
            if let Some(token) = ex.link.token() {
                warn!(
                    "collector stream {token}: no ack for {} ms, reconnecting",
                    observatory_engine::stream::ACK_TIMEOUT_MS
                );
                let _ = hostcalls::cancel_grpc_stream(token);
                ex.link
                    .closed(token, GRPC_DEADLINE_EXCEEDED, now, ex.rng.u64(..));
                ex.outbox.on_disconnect();
            }
        }

        if ex.link.should_connect(now, ex.outbox.has_unacked()) {
            let cluster = &active.config.collector.cluster;
            match hostcalls::open_grpc_stream(cluster, SERVICE, METHOD, Vec::new()) {
                Ok(token) => {
                    if ex.link.opened(token) {
                        active.metrics.add(Counter::StreamReconnects, 1);
                    }
                    // The collector answers with its ack for this sender.
                    if hostcalls::send_grpc_stream_message(
                        token,
                        Some(&ex.outbox.heartbeat()),
                        false,
                    )
                    .is_ok()
                    {
                        ex.link.sent(now);
                    }
                }
                Err(e) => {
                    warn!("cannot open stream to collector cluster {cluster:?}: {e:?}");
                    ex.link.open_failed(now, ex.rng.u64(..));
                }
            }
        }

        ex.send_unsent(now);
    }
}

impl Export {
    /// Sends sealed batches on the open stream, if any. Called as soon as a
    /// batch seals, so sends are spread over requests rather than bunched
    /// on the tick (a burst of batches stalls the worker and shows in p99).
    pub fn send_unsent(&mut self, now_ms: u64) {
        let Some(token) = self.link.token() else {
            return;
        };
        while let Some((seq, bytes)) = self.outbox.next_unsent() {
            // The host routes stream calls to the root context that opened
            // the stream, so HTTP contexts may send too.
            if let Err(e) = hostcalls::send_grpc_stream_message(token, Some(bytes), false) {
                warn!("collector stream {token}: send of batch {seq} failed: {e:?}");
                break;
            }
            self.outbox.mark_sent(seq);
            self.link.sent(now_ms);
        }
    }
}

impl Context for Root {
    fn on_grpc_stream_message(&mut self, token: u32, message_size: usize) {
        let Some(active) = &self.active else { return };
        let Ok(mut ex) = active.export.try_borrow_mut() else {
            return;
        };
        let bytes = hostcalls::get_buffer(BufferType::GrpcReceiveBuffer, 0, message_size)
            .ok()
            .flatten()
            .unwrap_or_default();
        match Ack::decode(bytes.as_slice()) {
            Ok(ack) => {
                let confirmed = ex.outbox.on_ack(ack.seq);
                active.metrics.add(Counter::RecordsExported, confirmed);
                let in_flight = ex.outbox.has_in_flight();
                ex.link.acked(host::now_ms(), in_flight);
            }
            Err(e) => warn!("collector stream {token}: undecodable ack: {e}"),
        }
    }

    fn on_grpc_stream_close(&mut self, token: u32, status_code: u32) {
        let Some(active) = &self.active else { return };
        let Ok(mut ex) = active.export.try_borrow_mut() else {
            return;
        };
        let ex = &mut *ex;
        let jitter = ex.rng.u64(..);
        if !ex.link.closed(token, status_code, host::now_ms(), jitter) {
            return;
        }
        ex.outbox.on_disconnect();
        let message = hostcalls::get_grpc_status()
            .ok()
            .and_then(|(_, m)| m)
            .unwrap_or_default();
        if status_code == 0 {
            info!("collector stream {token} ended");
        } else if matches!(status_code, GRPC_INVALID_ARGUMENT | GRPC_RESOURCE_EXHAUSTED) {
            error!(
                "collector rejected a batch (grpc status {status_code}: {message}); dropping it"
            );
            active.count_dropped(ex.outbox.reject_oldest());
        } else {
            warn!("collector stream {token} failed (grpc status {status_code}: {message}); {} records pending", ex.outbox.pending_records());
        }
    }

    fn on_done(&mut self) -> bool {
        if let Some(active) = &self.active {
            active.build_deferred();
            if let Ok(ex) = active.export.try_borrow() {
                let pending = ex.outbox.pending_records();
                if pending > 0 {
                    warn!("plugin stopping with {pending} audit records not acknowledged by the collector");
                }
            }
        }
        true
    }
}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        match self.configure(&raw) {
            Ok(()) => true,
            Err(e) => {
                error!("{e}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(active) = &self.active {
            active.build_deferred();
            active.metrics.flush();
            self.flush(active);
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Must never be None (the SDK panics); an unconfigured root yields a
        // pass-through context.
        Some(Box::new(Http::new(self.active.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
