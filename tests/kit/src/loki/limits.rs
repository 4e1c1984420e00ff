//! Loki's checks of a push, with its messages and default limits: the
//! distributor's validation of each stream's labels and entries
//! (`pkg/distributor/validator.go`, messages from `pkg/validation`) and the
//! ingester's out-of-order window (`pkg/ingester/stream.go`).

use std::collections::BTreeMap;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::labels;
use super::push::{Decoded, Labels, LokiLine};

const SECOND: i64 = 1_000_000_000;
const MAX_LINE_BYTES: usize = 256 * 1024;
const MAX_LABEL_NAMES: usize = 15;
const MAX_LABEL_NAME_BYTES: usize = 1024;
const MAX_LABEL_VALUE_BYTES: usize = 2048;
const MAX_METADATA_BYTES: usize = 64 * 1024;
const MAX_METADATA_ENTRIES: usize = 128;
/// `reject_old_samples_max_age`: a week.
const MAX_AGE_NANOS: i64 = 7 * 24 * 3600 * SECOND;
/// `creation_grace_period`: how far ahead of the clock an entry may be.
const GRACE_NANOS: i64 = 10 * 60 * SECOND;
/// The ingester's out-of-order window: `max_chunk_age` (2 h) / 2.
const OUT_OF_ORDER_WINDOW_NANOS: i64 = 3600 * SECOND;
/// `max_returned_stream_errors`: entries a "too far behind" answer lists.
const MAX_RETURNED_ERRORS: usize = 10;

/// Loki's default `discover_service_name` list, in order.
const SERVICE_NAME_FROM: [&str; 13] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// A stream whose labels the distributor accepted.
pub(crate) struct Accepted {
    /// The label set Loki keeps (empty values dropped), as pushed.
    pub labels: Labels,
    /// How Loki names the stream in messages: with the `service_name` it
    /// adds.
    pub rendering: String,
}

/// The distributor's label checks of one stream (`ValidateLabels`). A
/// stream without labels is accepted: the `service_name` Loki adds is one.
pub(crate) fn check_labels(stream: &Decoded) -> Result<Accepted, String> {
    let labels = labels::kept(&stream.pairs);
    let added = !labels.contains_key("service_name");
    let rendering = labels::render(&with_service_name(&labels));
    // Messages about labels quote the stream as the push parser left it.
    let quoted = if added { &rendering } else { &stream.text };
    // Every pair as Loki holds it: sorted by name, empty values dropped,
    // repeated names kept (and refused below).
    let mut pairs: Vec<(&String, &String)> = stream
        .pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name, value))
        .collect();
    pairs.sort_by_key(|(name, _)| *name);
    // `service_name` is not counted, whoever set it.
    let names = pairs.len() + usize::from(added) - 1;
    if names > MAX_LABEL_NAMES {
        return Err(format!(
            "entry for stream '{quoted}' has {names} label names; limit {MAX_LABEL_NAMES}"
        ));
    }
    let mut last = None;
    for (name, value) in pairs {
        if name.len() > MAX_LABEL_NAME_BYTES {
            return Err(format!(
                "stream '{quoted}' has label name too long: '{name}'"
            ));
        }
        if value.len() > MAX_LABEL_VALUE_BYTES {
            return Err(format!(
                "stream '{quoted}' has label value too long: '{value}'"
            ));
        }
        if last == Some(name) {
            return Err(format!(
                "stream '{quoted}' has duplicate label name: '{name}'"
            ));
        }
        last = Some(name);
    }
    Ok(Accepted { labels, rendering })
}

/// `labels` with the `service_name` Loki adds when they have none: the
/// first of [`SERVICE_NAME_FROM`] they have, else `unknown_service`.
pub(crate) fn with_service_name(labels: &Labels) -> Labels {
    let mut named = labels.clone();
    if !named.contains_key("service_name") {
        let service = SERVICE_NAME_FROM
            .iter()
            .find_map(|name| labels.get(*name))
            .cloned()
            .unwrap_or_else(|| "unknown_service".into());
        named.insert("service_name".into(), service);
    }
    named
}

/// The timestamps the distributor accepts: not older than `oldest`
/// (`reject_old_samples`), not newer than `newest`.
pub(crate) struct Window {
    pub oldest: i64,
    pub newest: i64,
}

impl Window {
    /// Loki's defaults at `now`, unless `oldest` is set.
    pub fn at(now: i64, oldest: Option<i64>) -> Window {
        Window {
            oldest: oldest.unwrap_or(now - MAX_AGE_NANOS),
            newest: now + GRACE_NANOS,
        }
    }
}

/// The distributor's checks of one entry of the stream Loki names
/// `rendering` (`ValidateEntry`), in its order.
pub(crate) fn check_entry(window: &Window, rendering: &str, e: &LokiLine) -> Result<(), String> {
    if e.ts_nanos < window.oldest {
        return Err(format!(
            "entry for stream '{rendering}' has timestamp too old: {}, oldest acceptable timestamp is: {}",
            go_rfc3339(e.ts_nanos),
            go_rfc3339(window.oldest)
        ));
    }
    if e.ts_nanos > window.newest {
        return Err(format!(
            "entry for stream '{rendering}' has timestamp too new: {}",
            go_rfc3339(e.ts_nanos)
        ));
    }
    if e.line.len() > MAX_LINE_BYTES {
        return Err(format!(
            "Max entry size '{MAX_LINE_BYTES}' bytes exceeded for stream '{rendering}' while adding an entry with length '{}' bytes",
            e.line.len()
        ));
    }
    let metadata_bytes: usize = e.metadata.iter().map(|(n, v)| n.len() + v.len()).sum();
    if metadata_bytes > MAX_METADATA_BYTES {
        return Err(format!(
            "stream '{rendering}' has structured metadata too large: '{metadata_bytes}' bytes, limit: '{MAX_METADATA_BYTES}' bytes. Please see `limits_config.max_structured_metadata_size` or contact your Loki administrator to increase it."
        ));
    }
    if e.metadata.len() > MAX_METADATA_ENTRIES {
        return Err(format!(
            "stream '{rendering}' has too many structured metadata labels: '{}', limit: '{MAX_METADATA_ENTRIES}'. Please see `limits_config.max_structured_metadata_entries_count` or contact your Loki administrator to increase it.",
            e.metadata.len()
        ));
    }
    Ok(())
}

/// The distributor's errors of one push (`util.GroupedErrors`): each
/// message once, `N errors like: ` before it unless it is the only error.
#[derive(Default)]
pub(crate) struct Grouped(Vec<(String, usize)>);

impl Grouped {
    pub fn add(&mut self, message: String) {
        match self.0.iter_mut().find(|(m, _)| *m == message) {
            Some((_, n)) => *n += 1,
            None => self.0.push((message, 1)),
        }
    }

    pub fn message(&self) -> Option<String> {
        let single = self.0.len() == 1 && self.0[0].1 == 1;
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(message, n)| match single {
                true => message.clone(),
                false => format!("{n} errors like: {message}"),
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// The ingester's out-of-order check, entry by entry in push order: what is
/// more than the window behind the stream's newest entry is ignored.
/// `newest` holds the newest timestamp kept per stream.
pub(crate) fn within_window<'a>(
    newest: &mut BTreeMap<Labels, i64>,
    labels: &Labels,
    entries: Vec<&'a LokiLine>,
) -> (Vec<&'a LokiLine>, Vec<(&'a LokiLine, i64)>) {
    let newest = newest.entry(labels.clone()).or_insert(i64::MIN);
    let (mut kept, mut ignored) = (Vec::new(), Vec::new());
    for e in entries {
        let oldest = newest.saturating_sub(OUT_OF_ORDER_WINDOW_NANOS);
        if e.ts_nanos < oldest {
            ignored.push((e, oldest));
        } else {
            *newest = (*newest).max(e.ts_nanos);
            kept.push(e);
        }
    }
    (kept, ignored)
}

/// The ingester's error for one stream of `tenant`, of which it was sent
/// `total` entries.
pub(crate) fn too_far_behind(
    tenant: &str,
    rendering: &str,
    ignored: &[(&LokiLine, i64)],
    total: usize,
) -> String {
    let mut text = String::new();
    for (e, oldest) in ignored.iter().take(MAX_RETURNED_ERRORS) {
        text.push_str(&format!(
            "entry with timestamp {} ignored, reason: 'entry too far behind, entry timestamp is: {}, oldest acceptable timestamp is: {}',\n",
            go_time_string(e.ts_nanos),
            go_rfc3339(e.ts_nanos),
            go_rfc3339(*oldest),
        ));
    }
    text.push_str(&format!(
        "user '{tenant}', total ignored: {} out of {total} for stream: {rendering}",
        ignored.len(),
    ));
    text
}

/// Go's `time.Time.String()` in UTC (`2022-10-10 13:25:44.5 +0000 UTC`).
fn go_time_string(ts_nanos: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(ts_nanos.div_euclid(SECOND)).unwrap();
    let fraction = match ts_nanos.rem_euclid(SECOND) {
        0 => String::new(),
        nanos => format!(".{nanos:09}").trim_end_matches('0').to_owned(),
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}{fraction} +0000 UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Go's `t.Format(time.RFC3339)`: whole seconds, UTC.
pub(crate) fn go_rfc3339(ts_nanos: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ts_nanos.div_euclid(SECOND))
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}
