//! The root context's decisions (one per plugin configuration in each VM):
//! configuration, the periodic flush, and the collector's answers on the
//! gRPC stream.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use log::{error, info, warn};

use crate::active::Active;
use crate::config::FilterConfig;
use crate::export::Export;
use crate::host::Host;
use crate::http::HttpFilter;
use crate::metrics::Metrics;
use crate::peer::PeerCache;
use crate::record::uuid_v4;
use crate::request;
use crate::settings::{Node, Settings};

/// Downstream connections whose peer a VM remembers (a few hundred bytes each).
const PEER_CACHE_CONNECTIONS: usize = 4096;

#[derive(Debug)]
pub struct Plugin {
    context_id: u32,
    active: Option<Rc<Active>>,
}

impl Plugin {
    pub fn new(context_id: u32) -> Self {
        Plugin {
            context_id,
            active: None,
        }
    }

    /// The configured state; `None` before a configuration was accepted.
    pub fn active(&self) -> Option<&Rc<Active>> {
        self.active.as_ref()
    }

    /// Reads and applies the plugin configuration; false rejects it.
    pub fn on_configure<H: Host>(&mut self, host: &H) -> bool {
        match self.configure(host, &host.plugin_configuration()) {
            Ok(()) => true,
            Err(e) => {
                error!("{e}");
                false
            }
        }
    }

    fn configure<H: Host>(&mut self, host: &H, raw: &[u8]) -> Result<(), String> {
        let config = FilterConfig::from_json_with_env(raw, |name| host.env_var(name))
            .map_err(|e| format!("invalid configuration: {e}"))?;
        let metrics = Metrics::define(host)?;
        let node = Node::read(host, &config);
        // A reconfiguration keeps the queue (and its unacknowledged records)
        // and the stream; the new limits apply to batches sealed from now on.
        let export = match &self.active {
            Some(old) => Rc::clone(&old.export),
            None => {
                let instance_id = uuid_v4(fastrand::u128(..) ^ u128::from(self.context_id));
                Rc::new(RefCell::new(Export::new(
                    &config,
                    node.proxy_id.clone(),
                    instance_id,
                )))
            }
        };
        let tick = Duration::from_millis((config.batch.max_age_ms / 2).clamp(20, 500));
        host.set_tick_period(tick)
            .map_err(|e| format!("set_tick_period: {e}"))?;
        info!(
            "configured: collector cluster {:?}, proxy {:?}, workload {:?}/{:?}",
            config.collector.cluster, node.proxy_id, node.namespace, node.workload
        );
        self.active = Some(Rc::new(Active {
            settings: Rc::new(Settings { config, node }),
            metrics,
            export,
            peers: RefCell::new(PeerCache::new(PEER_CACHE_CONNECTIONS)),
            tick,
        }));
        Ok(())
    }

    /// The filter of a new request (a pass-through one when unconfigured).
    pub fn http_filter(&self) -> HttpFilter {
        HttpFilter::new(self.active.clone())
    }

    pub fn on_tick<H: Host>(&self, host: &H) {
        let Some(active) = &self.active else { return };
        let Ok(mut export) = active.export.try_borrow_mut() else {
            return;
        };
        export.build_deferred(host, &active.metrics, active.tick);
        active.metrics.flush(host);
        export.flush(host, &active.settings, &active.metrics);
    }

    pub fn on_grpc_stream_message<H: Host>(&self, host: &H, token: u32, size: usize) {
        let Some(active) = &self.active else { return };
        let Ok(mut export) = active.export.try_borrow_mut() else {
            return;
        };
        export.on_message(host, &active.metrics, token, size);
    }

    pub fn on_grpc_stream_close<H: Host>(&self, host: &H, token: u32, status: u32) {
        let Some(active) = &self.active else { return };
        let Ok(mut export) = active.export.try_borrow_mut() else {
            return;
        };
        export.on_close(host, &active.metrics, token, status);
    }

    /// The root context as an HCM access logger (`envoy.access_loggers.wasm`
    /// with this module): Envoy logs streams its codec reset before any HTTP
    /// filter ran (HTTP/2: an upper-case header name, a relative `:path`),
    /// which no HTTP context ever sees. Those get an incomplete record; a
    /// stream with a request id or a status is the HTTP filter's to record.
    pub fn on_log<H: Host>(&self, host: &H) {
        let Some(active) = &self.active else { return };
        if host.property(b"request\0id").is_some() || host.property_u64(b"response\0code") != 0 {
            return;
        }
        let now = host.now();
        let mut ex = request::incomplete(host, active, now);
        ex.settle(host);
        let Ok(mut export) = active.export.try_borrow_mut() else {
            return;
        };
        export.record(host, &active.settings, &active.metrics, ex, now);
    }

    /// The plugin is stopping: build what waits and say what is lost.
    pub fn on_done<H: Host>(&self, host: &H) -> bool {
        let Some(active) = &self.active else {
            return true;
        };
        let Ok(mut export) = active.export.try_borrow_mut() else {
            return true;
        };
        export.build_deferred(host, &active.metrics, active.tick);
        let pending = export.pending_records();
        if pending > 0 {
            warn!("plugin stopping with {pending} audit records not acknowledged by the collector");
        }
        true
    }
}
