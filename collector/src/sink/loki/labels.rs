//! Label sets and Loki streams.
//!
//! - Labels: `job="observatory"`, `cluster` (static) and the configured
//!   low-cardinality record fields; empty values are left out (Loki treats
//!   an empty label as absent). Gap lines carry only `job` and `cluster`.
//! - Late entries: Loki refuses an entry more than `out_of_order_window`
//!   behind the newest entry of its stream (`entry too far behind`), e.g.
//!   records a proxy buffered through a long outage while other proxies kept
//!   the stream current, or a WAL backlog replayed after a restart. Such
//!   entries go to a sibling stream with a `late` label naming the window
//!   they fall in (`late="2026-11-28T01:00:00Z"`): all entries of that
//!   stream lie within one window, so Loki can take every one of them, and
//!   a query by the usual labels still finds them at their own time.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use observatory_proto::json::unix_nanos;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::warn;

use super::config::{LabelField, LokiConfig, FUTURE_GRACE_NANOS, JOB, LATE};
use super::stats::LokiStats;

/// Value of every configured label once `max_label_sets` is reached.
pub const OVERFLOW: &str = "_overflow";

/// A label set and its Prometheus rendering (`{a="b", c="d"}`, sorted),
/// which is both what Loki parses and the key streams are grouped by.
#[derive(Debug)]
pub struct Labels {
    pairs: BTreeMap<String, String>,
    rendered: String,
    /// Newest timestamp (unix ns) sent to this stream, capped at the newest
    /// Loki accepts; starts at "now", since Loki may hold newer entries from
    /// before a restart.
    newest: AtomicI64,
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        self.rendered == other.rendered
    }
}

impl Eq for Labels {}

impl Labels {
    pub(super) fn new(pairs: BTreeMap<String, String>) -> Self {
        let mut rendered = String::from("{");
        for (i, (name, value)) in pairs.iter().enumerate() {
            if i > 0 {
                rendered.push_str(", ");
            }
            rendered.push_str(name);
            rendered.push('=');
            // A JSON string is a valid PromQL/Go string literal.
            rendered.push_str(&serde_json::Value::from(value.as_str()).to_string());
        }
        rendered.push('}');
        Labels {
            pairs,
            rendered,
            newest: AtomicI64::new(unix_nanos(SystemTime::now())),
        }
    }

    pub fn pairs(&self) -> &BTreeMap<String, String> {
        &self.pairs
    }

    pub fn rendered(&self) -> &str {
        &self.rendered
    }
}

/// The label sets and late streams seen so far.
pub struct Streams {
    cluster: Option<String>,
    fields: Vec<(String, LabelField)>,
    max_label_sets: usize,
    /// Configured-label values → label set; bounded by `max_label_sets`
    /// (plus the overflow set).
    seen: Mutex<HashMap<String, Arc<Labels>>>,
    /// Loki's out-of-order window in ns; `None`: no late streams.
    window_nanos: Option<i64>,
    /// (label set, window start) → its late stream; bounded by `max_label_sets`.
    late: Mutex<HashMap<(String, i64), Arc<Labels>>>,
    /// `job`, `kind="anomaly"` and `cluster`: anomaly events are their own
    /// stream, and so are service health events (`kind="service_health"`).
    anomaly_labels: Arc<Labels>,
    health_labels: Arc<Labels>,
    overflow_warned: AtomicBool,
    stats: Arc<LokiStats>,
}

impl Streams {
    pub fn new(config: &LokiConfig, stats: Arc<LokiStats>) -> Self {
        let kind = |kind: &str| {
            let mut labels = BTreeMap::from([
                (JOB.0.to_owned(), JOB.1.to_owned()),
                ("kind".to_owned(), kind.to_owned()),
            ]);
            if let Some(cluster) = &config.cluster {
                labels.insert("cluster".to_owned(), cluster.clone());
            }
            Arc::new(Labels::new(labels))
        };
        Streams {
            anomaly_labels: kind("anomaly"),
            health_labels: kind("service_health"),
            cluster: config.cluster.clone(),
            fields: config
                .labels
                .iter()
                .map(|(name, field)| (name.clone(), *field))
                .collect(),
            max_label_sets: config.max_label_sets.get(),
            seen: Mutex::default(),
            window_nanos: (config.out_of_order_window_secs > 0)
                .then(|| i64::try_from(config.out_of_order_window_secs).unwrap_or(i64::MAX))
                .map(|secs| secs.saturating_mul(1_000_000_000)),
            late: Mutex::default(),
            overflow_warned: AtomicBool::new(false),
            stats,
        }
    }

    /// The configured labels: name and the record field it takes.
    pub fn fields(&self) -> &[(String, LabelField)] {
        &self.fields
    }

    /// The stream of anomaly events.
    pub fn anomaly(&self) -> Arc<Labels> {
        self.anomaly_labels.clone()
    }

    /// The stream of service health events.
    pub fn health(&self) -> Arc<Labels> {
        self.health_labels.clone()
    }

    /// `labels`, or its late stream when an entry at `ts_nanos` could be
    /// too far behind the newest entry Loki holds for `labels` (a tenth of
    /// the window is kept as margin for other collector replicas writing to
    /// the same stream).
    pub fn stream_for(&self, labels: Arc<Labels>, ts_nanos: i64) -> Arc<Labels> {
        let Some(window) = self.window_nanos else {
            return labels;
        };
        let cap = unix_nanos(SystemTime::now()).saturating_add(FUTURE_GRACE_NANOS);
        let newest = labels
            .newest
            .fetch_max(ts_nanos.min(cap), Ordering::Relaxed);
        if newest.saturating_sub(ts_nanos) <= window - window / 10 {
            return labels;
        }
        let start = ts_nanos.div_euclid(window).saturating_mul(window);
        let mut late = self.late.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (labels.rendered.clone(), start);
        if let Some(stream) = late.get(&key) {
            self.stats.late_entries.add(1);
            return stream.clone();
        }
        if late.len() >= self.max_label_sets {
            // Loki may refuse it: it then goes to the dead-letter file.
            self.stats.label_overflows.add(1);
            return labels;
        }
        let mut pairs = labels.pairs.clone();
        pairs.insert(LATE.to_owned(), window_label(start));
        self.stats.late_entries.add(1);
        late.entry(key)
            .or_insert_with(|| Arc::new(Labels::new(pairs)))
            .clone()
    }

    /// The label set for these configured-label values, or the overflow set
    /// once `max_label_sets` different ones have been seen.
    pub fn labels(&self, values: &[Cow<'_, str>]) -> Arc<Labels> {
        let key = label_key(values);
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(labels) = seen.get(&key) {
            return labels.clone();
        }
        let overflow = vec![Cow::Borrowed(OVERFLOW); self.fields.len()];
        let (key, values) = if seen.len() < self.max_label_sets || values == overflow {
            (key, values)
        } else {
            self.stats.label_overflows.add(1);
            if !self.overflow_warned.swap(true, Ordering::Relaxed) {
                warn!(
                    max_label_sets = self.max_label_sets,
                    "more Loki label sets than max_label_sets: new ones are sent with every \
                     configured label set to \"{OVERFLOW}\" (counted in loki_label_overflows)"
                );
            }
            (label_key(&overflow), overflow.as_slice())
        };
        seen.entry(key)
            .or_insert_with(|| Arc::new(self.label_set(values)))
            .clone()
    }

    fn label_set(&self, values: &[Cow<'_, str>]) -> Labels {
        let mut pairs: BTreeMap<String, String> = self
            .fields
            .iter()
            .zip(values)
            .filter(|(_, value)| !value.is_empty())
            .map(|((name, _), value)| (name.clone(), value.clone().into_owned()))
            .collect();
        pairs.insert(JOB.0.to_owned(), JOB.1.to_owned());
        if let Some(cluster) = &self.cluster {
            pairs.insert("cluster".to_owned(), cluster.clone());
        }
        Labels::new(pairs)
    }
}

/// The key of a list of label values in [`Streams::labels`]: each value
/// with its length in front, so that no two lists share one.
fn label_key(values: &[Cow<'_, str>]) -> String {
    let mut key = String::with_capacity(values.iter().map(|v| v.len() + 4).sum());
    for value in values {
        let _ = write!(key, "{}:", value.len());
        key.push_str(value);
    }
    key
}

/// The start of a late entry's window, to the second
/// (`2026-11-28T01:00:00Z`).
pub(super) fn window_label(start_nanos: i64) -> String {
    OffsetDateTime::from_unix_timestamp(start_nanos.div_euclid(1_000_000_000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| start_nanos.to_string())
}
