//! Segment files (`<first index, 20 digits>.wal`), the recovery scan run at
//! start, and the per-sink cursor files (`cursor-<sink>`).

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Write as _};
use std::path::{Path, PathBuf};

use tracing::{error, info, warn};

use serde::{Deserialize, Serialize};

use super::frame::{self, Damage, Next};
use crate::chain::Link;
use crate::dedupe::SenderKey;

const SEGMENT_SUFFIX: &str = ".wal";
const CURSOR_PREFIX: &str = "cursor-";
const CHAINS_FILE: &str = "chains.json";

/// Where every proxy's chain stood when record `next_index` was next, and
/// which proxies' last lines no checkpoint covered yet (not known in a file
/// of a version before: then any may not be).
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ChainsAt {
    pub next_index: u64,
    pub links: HashMap<String, Link>,
    #[serde(default)]
    pub unsealed: Option<HashSet<String>>,
}

/// Replaces the chains file atomically and durably.
pub fn write_chains<'a>(
    dir: &Path,
    next_index: u64,
    links: &HashMap<String, Link>,
    unsealed: impl Iterator<Item = &'a String>,
) -> io::Result<()> {
    #[derive(Serialize)]
    struct At<'a> {
        next_index: u64,
        links: &'a HashMap<String, Link>,
        unsealed: Vec<&'a String>,
    }
    let tmp = dir.join(format!("{CHAINS_FILE}.tmp"));
    let mut file = File::create(&tmp)?;
    let mut unsealed: Vec<&String> = unsealed.collect();
    unsealed.sort_unstable();
    let at = At {
        next_index,
        links,
        unsealed,
    };
    serde_json::to_writer(&mut file, &at)?;
    file.sync_data()?;
    fs::rename(&tmp, dir.join(CHAINS_FILE))?;
    sync_dir(dir)
}

/// The chains file, or the start of everything when there is none yet.
pub fn read_chains(dir: &Path) -> io::Result<ChainsAt> {
    match fs::read(dir.join(CHAINS_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(io::Error::other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ChainsAt {
            next_index: 1,
            ..ChainsAt::default()
        }),
        Err(e) => Err(e),
    }
}

/// Continues `links` over the chained lines of `record`, and `unsealed`
/// over its lines and checkpoints.
pub fn follow_chains(
    links: &mut HashMap<String, Link>,
    unsealed: &mut HashSet<String>,
    record: &frame::Record,
) {
    #[derive(Deserialize)]
    struct Proxy {
        proxy_id: String,
    }
    #[derive(Deserialize)]
    struct Sealed {
        proxy_id: String,
        checkpoint: Seq,
    }
    #[derive(Deserialize)]
    struct Seq {
        seq: u64,
    }
    let Ok(text) = std::str::from_utf8(&record.lines) else {
        return;
    };
    for line in text.lines() {
        let Some((_, seq, chain)) = crate::chain::split(line) else {
            if let Ok(Sealed {
                proxy_id,
                checkpoint,
            }) = serde_json::from_str(line)
            {
                if links
                    .get(&proxy_id)
                    .is_some_and(|l| l.seq == checkpoint.seq)
                {
                    unsealed.remove(&proxy_id);
                }
            }
            continue;
        };
        if let Ok(Proxy { proxy_id }) = serde_json::from_str(line) {
            links.insert(proxy_id.clone(), Link { seq, chain });
            unsealed.insert(proxy_id);
        }
    }
}

/// One segment: records `first..next` in `bytes` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub first: u64,
    pub next: u64,
    pub bytes: u64,
    pub path: PathBuf,
}

pub fn path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}{SEGMENT_SUFFIX}"))
}

/// A damaged tail that recovery cut off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub path: PathBuf,
    /// Where the last good record ends (the new length).
    pub offset: u64,
    pub cut_bytes: u64,
    pub damage: Damage,
}

/// What the scan at start found.
#[derive(Debug, Default)]
pub struct Recovered {
    pub segments: Vec<Segment>,
    /// Every proxy's chain at the end of the WAL.
    pub chains: HashMap<String, Link>,
    /// Proxies whose last line no checkpoint in the WAL covers.
    pub unsealed: HashSet<String>,
    /// The index the next appended record gets.
    pub next_index: u64,
    /// Highest stored seq of every sender with a record in the WAL.
    pub senders: HashMap<SenderKey, u64>,
    pub repairs: Vec<Repair>,
}

/// Scans every segment, cutting each off after its last good record (so a
/// torn or corrupt tail never stops the start), and drops empty segments
/// other than the last.
pub fn recover(dir: &Path) -> io::Result<Recovered> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(first) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        found.push((first, entry.path()));
    }
    found.sort();
    let at = read_chains(dir)?;
    let unsealed = at
        .unsealed
        .unwrap_or_else(|| at.links.keys().cloned().collect());
    let mut recovered = Recovered {
        next_index: 1,
        chains: at.links,
        unsealed,
        ..Recovered::default()
    };
    let count = found.len();
    for (position, (first, path)) in found.into_iter().enumerate() {
        let segment = scan(first, &path, at.next_index, &mut recovered)?;
        recovered.next_index = segment.next;
        if segment.bytes == 0 && position + 1 < count {
            fs::remove_file(&segment.path)?;
            continue;
        }
        recovered.segments.push(segment);
    }
    Ok(recovered)
}

fn scan(first: u64, path: &Path, chains_at: u64, recovered: &mut Recovered) -> io::Result<Segment> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, &file);
    let mut next = first;
    let mut good = 0u64;
    let damage = loop {
        match frame::read(&mut reader, next)? {
            Next::Record(record, size) => {
                if record.index >= chains_at {
                    follow_chains(&mut recovered.chains, &mut recovered.unsealed, &record);
                }
                let seq = recovered.senders.entry(record.sender).or_default();
                *seq = (*seq).max(record.seq);
                next += 1;
                good += size as u64;
            }
            Next::End => break None,
            Next::Damaged(damage) => break Some(damage),
        }
    };
    if let Some(damage) = damage {
        error!(
            path = %path.display(),
            offset = good,
            cut_bytes = len - good,
            "WAL segment damaged ({damage}): cut off after the last good record"
        );
        file.set_len(good)?;
        file.sync_all()?;
        recovered.repairs.push(Repair {
            path: path.to_owned(),
            offset: good,
            cut_bytes: len - good,
            damage,
        });
    }
    Ok(Segment {
        first,
        next,
        bytes: good,
        path: path.to_owned(),
    })
}

/// Creates an empty segment and makes its directory entry durable.
pub fn create(dir: &Path, first: u64) -> io::Result<(File, Segment)> {
    let path = path(dir, first);
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    sync_dir(dir)?;
    Ok((
        file,
        Segment {
            first,
            next: first,
            bytes: 0,
            path,
        },
    ))
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The confirmed index of `sink`, 0 when it has none.
pub fn read_cursor(dir: &Path, sink: &str) -> io::Result<u64> {
    let path = dir.join(format!("{CURSOR_PREFIX}{sink}"));
    match fs::read_to_string(&path) {
        Ok(text) => Ok(text.trim().parse().unwrap_or_else(|_| {
            warn!(path = %path.display(), "unreadable WAL cursor: the sink starts again from the oldest record");
            0
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Replaces the cursor file atomically (write, rename). Without `sync` the
/// new value survives a crash of the process but maybe not of the machine,
/// which then replays a little more (never less: an older cursor).
pub fn write_cursor(dir: &Path, sink: &str, index: u64, sync: bool) -> io::Result<()> {
    let path = dir.join(format!("{CURSOR_PREFIX}{sink}"));
    let tmp = dir.join(format!("{CURSOR_PREFIX}{sink}.tmp"));
    let mut file = File::create(&tmp)?;
    writeln!(file, "{index}")?;
    if sync {
        file.sync_data()?;
    }
    fs::rename(&tmp, &path)?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Logs what recovery found, once at start.
pub fn report(segments: &[Segment], repairs: &[Repair]) {
    let records = segments.iter().map(|s| s.next - s.first).sum::<u64>();
    info!(
        segments = segments.len(),
        records,
        repaired = repairs.len(),
        "WAL opened"
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sender(n: u32) -> SenderKey {
        SenderKey {
            proxy_id: format!("p{n}"),
            instance_id: "i".into(),
        }
    }

    fn segment(dir: &Path, first: u64, seqs: &[(u32, u64)]) -> PathBuf {
        let mut bytes = Vec::new();
        for (i, (who, seq)) in seqs.iter().enumerate() {
            frame::write(
                &mut bytes,
                first + i as u64,
                0,
                &sender(*who),
                *seq,
                b"{}\n",
            );
        }
        let path = path(dir, first);
        fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn torn_tail_is_cut_and_reported_and_senders_are_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        segment(dir.path(), 1, &[(1, 1), (2, 5)]);
        let last = segment(dir.path(), 3, &[(1, 2), (1, 3)]);
        let good = fs::metadata(&last).unwrap().len();
        let mut bytes = fs::read(&last).unwrap();
        bytes.extend_from_slice(&[9, 0, 0]);
        fs::write(&last, &bytes).unwrap();

        let recovered = recover(dir.path()).unwrap();
        assert_eq!(recovered.next_index, 5);
        assert_eq!(recovered.segments.len(), 2);
        assert_eq!(recovered.repairs.len(), 1);
        assert_eq!(recovered.repairs[0].offset, good);
        assert_eq!(recovered.repairs[0].cut_bytes, 3);
        assert_eq!(fs::metadata(&last).unwrap().len(), good);
        assert_eq!(recovered.senders[&sender(1)], 3);
        assert_eq!(recovered.senders[&sender(2)], 5);
        // A second start finds nothing to repair.
        assert!(recover(dir.path()).unwrap().repairs.is_empty());
    }

    #[test]
    fn corrupt_record_cuts_the_rest_of_its_segment() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment(dir.path(), 1, &[(1, 1), (1, 2), (1, 3)]);
        let mut bytes = fs::read(&path).unwrap();
        let second = bytes.len() / 3 + 12;
        bytes[second] ^= 0x55;
        fs::write(&path, &bytes).unwrap();
        let recovered = recover(dir.path()).unwrap();
        assert_eq!(recovered.next_index, 2);
        assert_eq!(recovered.repairs[0].damage, Damage::BadChecksum);
    }

    #[test]
    fn proxies_left_uncovered_are_known_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let link = Link::default();
        let links = HashMap::from([("a".to_owned(), link), ("b".to_owned(), link)]);
        let unsealed = |recovered: Recovered| {
            let mut proxies: Vec<String> = recovered.unsealed.into_iter().collect();
            proxies.sort();
            proxies
        };
        write_chains(dir.path(), 1, &links, ["b".to_owned()].iter()).unwrap();
        assert_eq!(unsealed(recover(dir.path()).unwrap()), ["b"]);
        // A file of a version that did not keep them: any may be.
        let old = serde_json::json!({"next_index": 1, "links": links});
        fs::write(dir.path().join(CHAINS_FILE), old.to_string()).unwrap();
        assert_eq!(unsealed(recover(dir.path()).unwrap()), ["a", "b"]);
    }

    #[test]
    fn cursor_round_trip_and_default() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_cursor(dir.path(), "loki").unwrap(), 0);
        write_cursor(dir.path(), "loki", 42, true).unwrap();
        assert_eq!(read_cursor(dir.path(), "loki").unwrap(), 42);
        fs::write(dir.path().join("cursor-jsonl"), "junk").unwrap();
        assert_eq!(read_cursor(dir.path(), "jsonl").unwrap(), 0);
    }
}
