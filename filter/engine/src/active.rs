//! A configured plugin as its HTTP contexts see it: the settings, the
//! counters, the sender's export state and the per-connection peer cache.
//! The root context holds it in an `Rc`; each request holds a clone.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::export::Export;
use crate::metrics::Metrics;
use crate::peer::PeerCache;
use crate::settings::Settings;

#[derive(Debug)]
pub struct Active {
    pub settings: Rc<Settings>,
    pub metrics: Metrics,
    /// Kept across reconfigurations, with its unacknowledged records.
    pub export: Rc<RefCell<Export>>,
    pub peers: RefCell<PeerCache>,
    /// The regular tick period (batch age checks, reconnects, metrics).
    pub tick: Duration,
}
