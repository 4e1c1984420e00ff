//! Lines the Loki sink split (over Loki's 256 KiB limit), joined again: the
//! pieces share timestamp, labels and metadata, plus `chunk` (from 1) and
//! `chunks`. Pieces are held until all of a line have come.

use std::collections::{BTreeMap, HashMap};

use super::entry::Entry;

const CHUNK: &str = "chunk";
const CHUNKS: &str = "chunks";

/// (timestamp, labels without `chunk`/`chunks`) → pieces by `chunk`.
type Key = (Option<i64>, BTreeMap<String, String>);

#[derive(Default)]
pub struct Pieces {
    waiting: HashMap<Key, Pieced>,
}

#[derive(Default)]
struct Pieced {
    /// As every piece says.
    chunks: Vec<u64>,
    pieces: BTreeMap<u64, Vec<String>>,
}

impl Pieces {
    /// `entry` itself, or the whole line once its last piece came.
    pub fn add(&mut self, entry: Entry) -> Option<Entry> {
        let (Some(chunk), Some(chunks)) = (number(&entry, CHUNK), number(&entry, CHUNKS)) else {
            return Some(entry);
        };
        let mut labels = entry.labels;
        labels.remove(CHUNK);
        labels.remove(CHUNKS);
        let key = (entry.loki_ts, labels);
        let pieced = self.waiting.entry(key.clone()).or_default();
        pieced.chunks.push(chunks);
        pieced.pieces.entry(chunk).or_default().push(entry.line);
        let whole = pieced.chunks.iter().all(|c| *c == chunks)
            && pieced.pieces.len() as u64 == chunks
            && pieced.pieces.keys().copied().eq(1..=chunks)
            && pieced.pieces.values().all(|p| p.len() == 1);
        if !whole {
            return None;
        }
        let pieced = self.waiting.remove(&key)?;
        let (loki_ts, labels) = key;
        Some(Entry {
            loki_ts,
            line_no: None,
            labels,
            line: pieced.pieces.into_values().flatten().collect(),
        })
    }

    /// Lines some of whose pieces never came (or came twice): where (with
    /// the last piece as its line, when it came: it ends with the line's
    /// seq and chain), and what came of them.
    pub fn incomplete(&self) -> impl Iterator<Item = (Entry, String)> + '_ {
        self.waiting.iter().map(|((loki_ts, labels), pieced)| {
            let of = pieced.chunks.iter().max().copied().unwrap_or(0);
            let last = pieced.pieces.get(&of).and_then(|p| p.first());
            let entry = Entry {
                loki_ts: *loki_ts,
                line_no: None,
                labels: labels.clone(),
                line: last.cloned().unwrap_or_default(),
            };
            let got: Vec<String> = pieced
                .pieces
                .iter()
                .map(|(n, p)| match p.len() {
                    1 => n.to_string(),
                    copies => format!("{n} ({copies} different)"),
                })
                .collect();
            (entry, format!("pieces {} of {of}", got.join(", ")))
        })
    }
}

fn number(entry: &Entry, name: &str) -> Option<u64> {
    entry.labels.get(name).and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn piece(chunk: u64, of: u64, line: &str) -> Entry {
        Entry {
            loki_ts: Some(7),
            line_no: None,
            labels: [
                ("job", "observatory"),
                ("chunk", &chunk.to_string()),
                ("chunks", &of.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            line: line.to_owned(),
        }
    }

    #[test]
    fn joins_pieces_in_chunk_order_whatever_order_they_come_in() {
        let mut pieces = Pieces::default();
        assert!(pieces.add(piece(3, 3, "c")).is_none());
        assert!(pieces.add(piece(1, 3, "a")).is_none());
        let whole = pieces.add(piece(2, 3, "b")).unwrap();
        assert_eq!(whole.line, "abc");
        assert_eq!(whole.labels.len(), 1);
        assert_eq!(pieces.incomplete().count(), 0);

        assert!(pieces.add(piece(1, 2, "x")).is_none());
        let (_, what) = pieces.incomplete().next().unwrap();
        assert_eq!(what, "pieces 1 of 2");
    }
}
