//! One task per sink: reads what the WAL holds past the sink's cursor, hands
//! it to the sink, and moves the cursor once the sink has confirmed it.
//! Sinks are independent: a slow Loki holds back only its own cursor.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use observatory_proto::json::unix_nanos;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{debug, debug_span, error, info, warn, Instrument as _};

use super::frame::{self, Next, Record};
use super::shared::Shared;
use crate::sink::Sink;
use crate::telemetry::DATA_PATH;
use crate::trail::Lines;

/// Most bytes of records handed to a sink in one write: large enough that
/// one write at a time keeps up (Loki splits it into concurrent pushes).
const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Cursor files are fsynced at most this often (and written after every
/// confirmed write): after a machine crash a sink gets at most this much
/// again (at-least-once).
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Pause after a failed read or write before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// How often [`follow_backlogs`] refreshes the backlog age gauges.
const GAUGE_EVERY: Duration = Duration::from_secs(1);

/// When the oldest record a sink has not confirmed was accepted, behind the
/// sink's backlog age gauge. The consumer sets it as it reads and catches
/// up; [`follow_backlogs`] turns it into an age on a timer, so the gauge
/// grows while the sink is stuck (a Loki outage, a failing disk).
#[derive(Debug)]
pub struct Backlog {
    /// Unix nanoseconds; 0 while the sink is caught up.
    oldest_nanos: AtomicI64,
    gauge: Gauge<f64, AtomicU64>,
}

impl Backlog {
    pub fn new(gauge: Gauge<f64, AtomicU64>) -> Self {
        Backlog {
            oldest_nanos: AtomicI64::new(0),
            gauge,
        }
    }

    fn waiting_since(&self, accepted_nanos: i64) {
        self.oldest_nanos.store(accepted_nanos, Ordering::Relaxed);
        self.show(unix_nanos(SystemTime::now()));
    }

    fn caught_up(&self) {
        self.oldest_nanos.store(0, Ordering::Relaxed);
        self.gauge.set(0.0);
    }

    fn show(&self, now_nanos: i64) {
        let age = match self.oldest_nanos.load(Ordering::Relaxed) {
            0 => 0,
            oldest => now_nanos.saturating_sub(oldest).max(0),
        };
        self.gauge.set(age as f64 / 1e9);
    }
}

/// Refreshes every backlog age gauge each [`GAUGE_EVERY`] until `stop`.
pub async fn follow_backlogs(backlogs: Vec<Arc<Backlog>>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(GAUGE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let now = unix_nanos(SystemTime::now());
        for backlog in &backlogs {
            backlog.show(now);
        }
    }
}

pub struct Consumer {
    pub name: String,
    pub sink: Arc<dyn Sink>,
    pub backlog: Arc<Backlog>,
    pub shared: Arc<Shared>,
    /// Highest index the sink has confirmed.
    pub cursor: u64,
}

impl Consumer {
    /// Runs until `stop`, or until caught up once `drain` is cancelled (no
    /// more appends come then). The cursor is persisted on the way out.
    pub async fn run(mut self, drain: CancellationToken, stop: CancellationToken) {
        let mut durable = self.shared.durable.subscribe();
        let mut reader = Reader::default();
        let mut persisted = self.cursor;
        let mut last_sync = Instant::now();
        loop {
            let last = *durable.borrow_and_update();
            if self.cursor >= last {
                self.backlog.caught_up();
                if drain.is_cancelled() {
                    break;
                }
                if !wait_for_more(&mut durable, &drain, &stop).await {
                    break;
                }
                continue;
            }
            let (back, records) = read(reader, self.shared.clone(), self.cursor + 1, last).await;
            reader = back;
            let records = match records {
                Ok(records) => records,
                Err(e) => {
                    error!(sink = %self.name, "reading the WAL failed: {e}");
                    reader = Reader::default();
                    if !pause(&stop).await {
                        break;
                    }
                    continue;
                }
            };
            let (Some(first), Some(end)) = (records.first(), records.last()) else {
                continue;
            };
            self.backlog.waiting_since(first.accepted_nanos);
            let end = end.index;
            let lines = match decode(&records) {
                Ok(lines) => lines,
                Err(e) => {
                    // Written by this collector, checksummed: only a bug or an
                    // incompatible version gets here. Skipping would lose data.
                    error!(sink = %self.name, "WAL records {}..={end} do not decode: {e}", first.index);
                    if !pause(&stop).await {
                        break;
                    }
                    continue;
                }
            };
            match self.deliver(&lines, &stop).await {
                Some(Ok(())) => {
                    self.cursor = end;
                    self.shared.set_confirmed(&self.name, end);
                }
                Some(Err(e)) => {
                    warn!(sink = %self.name, "sink write failed, retrying: {e}");
                    reader = Reader::default();
                    if !pause(&stop).await {
                        break;
                    }
                }
                None => break,
            }
            let sync = last_sync.elapsed() >= SYNC_EVERY;
            persisted = self.persist(persisted, sync).await;
            if sync {
                last_sync = Instant::now();
            }
        }
        self.persist(persisted, true).await;
        debug!(sink = %self.name, cursor = self.cursor, "WAL consumer stopped");
    }

    /// The sink's write; `None` when stopped first.
    async fn deliver(
        &self,
        lines: &Lines,
        stop: &CancellationToken,
    ) -> Option<Result<(), crate::sink::SinkError>> {
        let span = debug_span!(
            target: DATA_PATH,
            parent: None,
            "sink_write",
            sink = %self.name,
            entries = lines.len() as i64,
            outcome = Empty,
            otel.status_code = Empty,
        );
        let written = tokio::select! {
            result = self.sink.write(lines).instrument(span.clone()) => Some(result),
            () = stop.cancelled() => None,
        };
        match &written {
            Some(Ok(())) => span.record("outcome", "confirmed"),
            Some(Err(_)) => span
                .record("outcome", "failed")
                .record("otel.status_code", "ERROR"),
            None => span.record("outcome", "stopped"),
        };
        written
    }

    /// Writes the cursor if it moved and lets the WAL drop what every sink
    /// has confirmed; returns the persisted value.
    async fn persist(&self, persisted: u64, sync: bool) -> u64 {
        if self.cursor == persisted && !sync {
            return persisted;
        }
        let shared = self.shared.clone();
        let (name, cursor) = (self.name.clone(), self.cursor);
        let result = tokio::task::spawn_blocking(move || shared.confirm(&name, cursor, sync)).await;
        match result {
            Ok(Ok(())) => self.cursor,
            Ok(Err(e)) => {
                error!(sink = %self.name, "persisting the WAL cursor failed: {e}");
                persisted
            }
            Err(e) => {
                error!(sink = %self.name, "persisting the WAL cursor failed: {e}");
                persisted
            }
        }
    }
}

/// Waits for new records; false when stopped.
async fn wait_for_more(
    durable: &mut watch::Receiver<u64>,
    drain: &CancellationToken,
    stop: &CancellationToken,
) -> bool {
    tokio::select! {
        changed = durable.changed() => changed.is_ok(),
        () = drain.cancelled() => true,
        () = stop.cancelled() => false,
    }
}

/// Sleeps before a retry; false when stopped meanwhile.
async fn pause(stop: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(RETRY_AFTER) => true,
        () = stop.cancelled() => false,
    }
}

/// The records' lines, as sinks store them.
fn decode(records: &[Record]) -> Result<Lines, std::str::Utf8Error> {
    let mut lines = Lines::default();
    lines.reserve(records.iter().map(|r| r.lines.len() + 1).sum());
    for record in records {
        lines.push(std::str::from_utf8(&record.lines)?);
    }
    Ok(lines)
}

/// An open segment and the index of the record at its position.
#[derive(Default)]
struct Reader {
    open: Option<(u64, BufReader<File>)>,
    next: u64,
}

/// Reads records `from..=last` (at most [`CHUNK_BYTES`]) on a blocking
/// thread; the reader goes there and back.
async fn read(
    reader: Reader,
    shared: Arc<Shared>,
    from: u64,
    last: u64,
) -> (Reader, io::Result<Vec<Record>>) {
    let joined = tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let records = reader.read(&shared, from, last);
        (reader, records)
    })
    .await;
    joined.unwrap_or_else(|e| (Reader::default(), Err(io::Error::other(e))))
}

impl Reader {
    fn read(&mut self, shared: &Shared, from: u64, last: u64) -> io::Result<Vec<Record>> {
        let mut records = Vec::new();
        let mut bytes = 0;
        let mut index = from;
        while index <= last && bytes < CHUNK_BYTES {
            let Some((first, path)) = shared.segment_for(index) else {
                // Only records every sink confirmed are ever deleted; an
                // older cursor (a lost cursor file) moves on to what is there.
                match shared.first_index() {
                    Some(oldest) if oldest > index => {
                        warn!(
                            from = index,
                            to = oldest,
                            "WAL records already removed; skipping to the oldest kept"
                        );
                        index = oldest;
                        continue;
                    }
                    _ => return Err(io::Error::other(format!("WAL record {index} not found"))),
                }
            };
            let record = self.next_record(first, &path, index)?;
            bytes += record.lines.len();
            index += 1;
            records.push(record);
        }
        Ok(records)
    }

    /// The record `index` of the segment starting at `first`.
    fn next_record(&mut self, first: u64, path: &PathBuf, index: u64) -> io::Result<Record> {
        let positioned =
            matches!(&self.open, Some((open, _)) if *open == first) && self.next == index;
        if !positioned {
            self.open = Some((first, BufReader::with_capacity(1 << 20, File::open(path)?)));
            self.next = first;
        }
        let Some((_, file)) = self.open.as_mut() else {
            return Err(io::Error::other("no open segment"));
        };
        loop {
            match frame::read(file, self.next)? {
                Next::Record(record, _) => {
                    self.next += 1;
                    if record.index == index {
                        return Ok(record);
                    }
                }
                Next::End => {
                    return Err(io::Error::other(format!(
                        "{}: ends before record {index}",
                        path.display()
                    )))
                }
                Next::Damaged(damage) => {
                    self.open = None;
                    return Err(io::Error::other(format!("{}: {damage}", path.display())));
                }
            }
        }
    }
}

/// Logs where a sink starts, once.
pub fn report_start(name: &str, cursor: u64, next_index: u64) {
    let backlog = next_index.saturating_sub(cursor + 1);
    info!(
        sink = name,
        cursor,
        backlog_records = backlog,
        "sink resumes from the WAL"
    );
}
