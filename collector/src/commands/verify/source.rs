//! Where the trail is read from: Loki, a JSON-lines file, or an evidence
//! bundle; they answer the same questions. A bundle holds exactly what a
//! check read (look-ups included), so it is read whole and nothing more is
//! looked up: the check comes out as it did.

use super::entry::Entry;
use super::error::VerifyError;
use super::line::{classify, Line};
use super::loki::Loki;
use super::memory::Memory;

/// Loki takes entries up to 10 minutes ahead of its clock.
const FUTURE: i64 = 600 * 1_000_000_000;

pub enum Source {
    Loki(Box<Loki>),
    Memory(Memory),
    Bundle(Memory),
}

impl Source {
    /// Every entry in `range` (unix ns, [start, end)); everything without.
    pub async fn read(&mut self, range: Option<(i64, i64)>) -> Result<Vec<Entry>, VerifyError> {
        match (self, range) {
            (Source::Loki(loki), Some((start, end))) => loki.read(start, end).await,
            (Source::Loki(_), None) => Ok(Vec::new()),
            (Source::Memory(memory), range) => Ok(memory.read(range)),
            (Source::Bundle(memory), _) => Ok(memory.read(None)),
        }
    }

    /// The lines of `proxy` with seq `seq` outside `read` (the range read
    /// already), at most `lookback` ns before or after it.
    pub async fn find_seq(
        &mut self,
        proxy: &str,
        seq: u64,
        read: (i64, i64),
        lookback: i64,
        now: i64,
    ) -> Result<Vec<Entry>, VerifyError> {
        match self {
            Source::Loki(loki) => {
                let (start, end) = read;
                let ranges = [
                    (start.saturating_sub(lookback), start),
                    (end, end.saturating_add(lookback).min(now + FUTURE)),
                ];
                let ranges: Vec<(i64, i64)> = ranges.into_iter().filter(|(s, e)| s < e).collect();
                loki.find_seq(proxy, seq, &ranges).await
            }
            Source::Memory(memory) => Ok(memory.find_seq(proxy, seq)),
            Source::Bundle(_) => Ok(Vec::new()),
        }
    }

    /// The entries of `proxy` from `from` on, up to the first checkpoint
    /// of its chain at `seq` or later (or now).
    pub async fn extend(
        &mut self,
        proxy: &str,
        seq: u64,
        from: i64,
        now: i64,
    ) -> Result<Vec<Entry>, VerifyError> {
        match self {
            Source::Loki(loki) => {
                let query = loki.logql().proxy(proxy);
                let until = now + FUTURE;
                match from < until {
                    true => {
                        loki.read_until(&query, from, until, |e| covers(e, proxy, seq))
                            .await
                    }
                    false => Ok(Vec::new()),
                }
            }
            Source::Memory(memory) => Ok(memory.after(proxy, from, |e| covers(e, proxy, seq))),
            Source::Bundle(_) => Ok(Vec::new()),
        }
    }

    /// Queries made, and what could not be read whole.
    pub fn queries(&self) -> (u64, Vec<String>) {
        match self {
            Source::Loki(loki) => (loki.queries, loki.unchecked.clone()),
            Source::Memory(_) | Source::Bundle(_) => (0, Vec::new()),
        }
    }
}

/// Whether `entry` is a checkpoint of `proxy` at `seq` or later.
fn covers(entry: &Entry, proxy: &str, seq: u64) -> bool {
    matches!(classify(&entry.line), Line::Checkpoint(c) if c.proxy == proxy && c.checkpoint.seq >= seq)
}
