//! What someone with access to Loki could do to the trail it holds: remove
//! entries or rewrite them in place (its storage: chunks are files in a
//! bucket), push forged lines through its API; and what Loki itself does
//! for a while after an outage: not show old entries it has not flushed.

use std::time::Duration;

use super::push::{Kept, Labels};
use super::query::Unflushed;
use super::{FakeLoki, LokiLine};

impl FakeLoki {
    /// From now on, queries do not find entries with a timestamp more than
    /// `within` before now that were stored less than `flush_after` ago:
    /// Loki's queriers ask its ingesters only about the last
    /// `query_ingesters_within` (3 h), and older entries an ingester took
    /// recently reach the store only when their chunk is flushed.
    pub fn hide_unflushed(&self, within: Duration, flush_after: Duration) {
        let nanos = |d: Duration| i64::try_from(d.as_nanos()).unwrap();
        self.state.lock().unwrap().unflushed = Some(Unflushed {
            within: nanos(within),
            flush_after: nanos(flush_after),
        });
    }

    /// Removes every stored entry `pick` chooses (stream labels as pushed,
    /// the entry); how many it removed.
    pub fn remove_where(&self, pick: impl Fn(&Labels, &LokiLine) -> bool) -> usize {
        self.rewrite_where(|labels, entry| match pick(labels, entry) {
            true => Some(None),
            false => None,
        })
    }

    /// Rewrites stored entries: `change` returns `None` to leave an entry
    /// alone, `Some(None)` to remove it, `Some(Some(entry))` to put `entry`
    /// in its place (same stream; a new timestamp moves it). How many it
    /// changed.
    pub fn rewrite_where(
        &self,
        change: impl Fn(&Labels, &LokiLine) -> Option<Option<LokiLine>>,
    ) -> usize {
        let mut state = self.state.lock().unwrap();
        let mut changed = 0;
        for (labels, entries) in state.store.iter_mut() {
            let mut replaced = Vec::new();
            entries.retain(|(ts_nanos, line), kept| {
                let entry = LokiLine {
                    ts_nanos: *ts_nanos,
                    line: line.clone(),
                    metadata: kept.metadata.clone(),
                };
                match change(labels, &entry) {
                    None => true,
                    Some(replacement) => {
                        changed += 1;
                        replaced.extend(replacement.map(|e| (e, kept.clone())));
                        false
                    }
                }
            });
            for (entry, kept) in replaced {
                entries.insert(
                    (entry.ts_nanos, entry.line),
                    Kept {
                        metadata: entry.metadata,
                        ..kept
                    },
                );
            }
        }
        changed
    }

    /// Pushes `entries` to the stream `labels` as any client of the push
    /// API could (JSON); the status of the answer.
    pub async fn push_json(&self, labels: &Labels, entries: &[LokiLine]) -> u16 {
        let values: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| serde_json::json!([e.ts_nanos.to_string(), e.line, e.metadata]))
            .collect();
        let body = serde_json::json!({"streams": [{"stream": labels, "values": values}]});
        // Err only means a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::new()
            .post(self.url().join("/loki/api/v1/push").unwrap())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}
