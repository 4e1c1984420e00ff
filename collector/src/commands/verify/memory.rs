//! A trail held in memory: a JSON-lines file as the sinks write it, or the
//! entries of an evidence bundle. It answers what Loki is asked — a time
//! range, the lines of one seq, what came after — from what it holds.

use std::path::Path;

use super::entry::Entry;
use super::error::VerifyError;
use super::line::classify;

pub struct Memory {
    entries: Vec<Entry>,
    /// Per entry: its time (Loki's, else its own `ts`) and its proxy.
    about: Vec<(Option<i64>, Option<String>)>,
}

impl Memory {
    pub fn new(entries: Vec<Entry>) -> Memory {
        let about = entries
            .iter()
            .map(|e| {
                let line = classify(&e.line);
                let proxy = line
                    .proxy()
                    .map(str::to_owned)
                    .or_else(|| e.labels.get("proxy_id").cloned());
                (e.loki_ts.or_else(|| line.ts()), proxy)
            })
            .collect();
        Memory { entries, about }
    }

    /// The lines of a JSON-lines file, numbered from 1.
    pub fn file(path: &Path) -> Result<Memory, VerifyError> {
        let text = std::fs::read_to_string(path).map_err(|error| VerifyError::Read {
            path: path.to_owned(),
            error,
        })?;
        let entries = text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| Entry::at_line(i as u64 + 1, line))
            .collect();
        Ok(Memory::new(entries))
    }

    /// Entries in [start, end) (all without a range; an entry without a
    /// time in every range).
    pub fn read(&self, range: Option<(i64, i64)>) -> Vec<Entry> {
        self.pick(|ts, _| match (range, ts) {
            (Some((start, end)), Some(ts)) => (start..end).contains(&ts),
            _ => true,
        })
    }

    /// The lines of `proxy` with seq `seq`, anywhere, and the other pieces
    /// of a split line among them.
    pub fn find_seq(&self, proxy: &str, seq: u64) -> Vec<Entry> {
        let text = super::logql::seq_text(seq);
        let found: Vec<Entry> = self
            .entries
            .iter()
            .zip(&self.about)
            .filter(|(e, (_, p))| p.as_deref() == Some(proxy) && e.line.contains(&text))
            .map(|(e, _)| e.clone())
            .collect();
        let pieced: Vec<i64> = found
            .iter()
            .filter(|e| e.labels.contains_key("chunk"))
            .filter_map(|e| e.loki_ts)
            .collect();
        let mut pieces =
            self.pick(|ts, p| p == Some(proxy) && ts.is_some_and(|ts| pieced.contains(&ts)));
        pieces.extend(found);
        pieces
    }

    /// The entries of `proxy` at or after `from`, oldest first, up to the
    /// first one `stop` says is enough.
    pub fn after(
        &self,
        proxy: &str,
        from: i64,
        mut stop: impl FnMut(&Entry) -> bool,
    ) -> Vec<Entry> {
        let mut later: Vec<(i64, &Entry)> = self
            .entries
            .iter()
            .zip(&self.about)
            .filter_map(|(e, (ts, p))| match (ts, p.as_deref()) {
                (Some(ts), Some(p)) if p == proxy && *ts >= from => Some((*ts, e)),
                _ => None,
            })
            .collect();
        later.sort_by_key(|(ts, _)| *ts);
        let mut out = Vec::new();
        for (_, entry) in later {
            out.push(entry.clone());
            if stop(entry) {
                break;
            }
        }
        out
    }

    fn pick(&self, keep: impl Fn(Option<i64>, Option<&str>) -> bool) -> Vec<Entry> {
        self.entries
            .iter()
            .zip(&self.about)
            .filter(|(_, (ts, proxy))| keep(*ts, proxy.as_deref()))
            .map(|(e, _)| e.clone())
            .collect()
    }
}
