//! A collector that signs its chains (a checkpoint every few lines, and
//! within a second of any line) and pushes to a Loki stand-in; `verify`
//! and `evidence` as the binary runs them, their report read as JSON.

use std::path::{Path, PathBuf};
use std::process::Command;

use observatory_collector::chain::split;
use observatory_collector::config::ServeConfig;
use observatory_proto::audit::AuditRecord;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::loki::{FakeLoki, LokiLine};
use super::{batch, eventually, start_with, Running};

pub const KEY_ID: &str = "k1";

pub struct Signed {
    pub collector: Running,
    pub loki: FakeLoki,
    pub key: PathBuf,
    _keys: tempfile::TempDir,
    batches: u64,
}

/// A collector with a key (checkpoints every 4 lines, and within 1 s of any
/// line) and the Loki sink, both adjusted by `tweak`.
pub async fn signed(tweak: impl FnOnce(&mut ServeConfig)) -> Signed {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("checkpoint.key");
    std::fs::write(&key, "a checkpoint secret\n").unwrap();
    let loki = FakeLoki::start().await;
    let config = loki.config();
    let key_file = key.clone();
    let collector = start_with(|c| {
        c.loki = Some(config);
        c.checkpoint_key_file = Some(key_file);
        c.checkpoint_key_id = KEY_ID.into();
        c.checkpoint_every = 4.try_into().unwrap();
        c.checkpoint_within = std::time::Duration::from_secs(1);
        tweak(c);
    })
    .await;
    Signed {
        collector,
        loki,
        key,
        _keys: keys,
        batches: 0,
    }
}

/// What a run of the binary gave.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The report (`--format json`).
    pub fn report(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{e}: not a JSON report:\n{}{}", self.stdout, self.stderr))
    }

    /// (kind, seq) of every finding.
    pub fn findings(&self) -> Vec<(String, Option<u64>)> {
        items(&self.report()["findings"])
    }

    pub fn notices(&self) -> Vec<(String, Option<u64>)> {
        items(&self.report()["notices"])
    }
}

fn items(list: &Value) -> Vec<(String, Option<u64>)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|f| (f["kind"].as_str().unwrap().to_owned(), f["seq"].as_u64()))
        .collect()
}

/// Runs the binary with `args` (off the runtime: the stand-in must answer).
pub async fn run(args: Vec<String>) -> Outcome {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_observatory-collector"))
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// RFC 3339 of now plus `seconds`.
pub fn time(seconds: i64) -> String {
    (OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .format(&Rfc3339)
        .unwrap()
}

impl Signed {
    /// Stores `records` (batches of 1000 on one stream) and waits until
    /// every sink has them and the checkpoint after them.
    pub async fn store(&mut self, records: Vec<AuditRecord>) {
        self.store_unsealed(records).await;
        self.sealed().await;
    }

    /// Stores `records` and waits until every sink has them, not for a
    /// checkpoint.
    pub async fn store_unsealed(&mut self, records: Vec<AuditRecord>) {
        let mut stream = self.collector.open().await;
        for chunk in records.chunks(1000) {
            self.batches += 1;
            let acked = stream
                .send(batch(self.batches, chunk.to_vec()))
                .await
                .unwrap();
            assert_eq!(acked, self.batches);
        }
        self.collector.settled().await;
    }

    /// Waits until each proxy's last line in `audit.jsonl` has a checkpoint
    /// and every sink has confirmed everything.
    pub async fn sealed(&self) {
        let path = self.collector.audit_path();
        eventually("a checkpoint after every proxy's last line", || {
            sealed(&std::fs::read_to_string(&path).unwrap_or_default())
        })
        .await;
        self.collector.settled().await;
    }

    /// `--key-file`, `--key-id`, and `--format json`.
    fn common(&self) -> Vec<String> {
        [
            "--key-file",
            self.key.to_str().unwrap(),
            "--key-id",
            KEY_ID,
            "--format",
            "json",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// [from, to) read from the stand-in; what is missing is missing at
    /// once (`--settle 0s`).
    pub fn loki_args(&self, from: &str, to: &str) -> Vec<String> {
        let url = self.loki.url();
        [
            "--loki",
            url.as_str(),
            "--from",
            from,
            "--to",
            to,
            "--settle",
            "0s",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// `verify` over Loki of the hour around now, with `extra` arguments.
    pub async fn verify_loki(&self, extra: &[&str]) -> Outcome {
        self.verify_between(&time(-3600), &time(3600), extra).await
    }

    /// `verify` over Loki of [from, to), with `extra` arguments.
    pub async fn verify_between(&self, from: &str, to: &str, extra: &[&str]) -> Outcome {
        let mut args = vec!["verify".to_owned()];
        args.extend(self.loki_args(from, to));
        args.extend(self.common());
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        run(args).await
    }

    /// `verify` of `audit.jsonl`, or of `file`.
    pub async fn verify_file(&self, file: Option<&Path>) -> Outcome {
        let path = file.map_or_else(|| self.collector.audit_path(), Path::to_owned);
        let mut args = vec!["verify".to_owned(), "--jsonl".to_owned()];
        args.push(path.to_str().unwrap().to_owned());
        args.extend(self.common());
        run(args).await
    }

    /// The key arguments, for other commands.
    pub fn key_args(&self) -> Vec<String> {
        self.common()[..4].to_vec()
    }
}

/// Loki's stream labels of a stored entry.
pub type Labels = std::collections::BTreeMap<String, String>;

impl Signed {
    /// The entry Loki holds for the line of seq `seq` (chain fields and
    /// all), and its stream.
    pub fn stored(&self, seq: u64) -> (Labels, LokiLine) {
        let text = format!(",\"seq\":{seq},\"chain\":\"");
        observatory_testkit::loki::FakeLoki::stored(&self.loki)
            .into_iter()
            .flat_map(|(labels, entries)| entries.into_iter().map(move |e| (labels.clone(), e)))
            .find(|(_, e)| e.line.contains(&text))
            .unwrap_or_else(|| panic!("no line of seq {seq} in Loki"))
    }

    /// Pushes `line` to the trail's streams at `ts`, as anyone who can
    /// write to Loki could, with the metadata the collector would give it.
    pub async fn push(&self, ts: i64, line: &str) {
        let labels = Labels::from([("job".to_owned(), "observatory".to_owned())]);
        let entry = LokiLine {
            ts_nanos: ts,
            line: line.to_owned(),
            metadata: Labels::from([("proxy_id".to_owned(), super::PROXY.to_owned())]),
        };
        assert_eq!(self.loki.push_json(&labels, &[entry]).await, 204);
    }
}

/// A line of seq `seq` with `body` whose chain follows from the stored
/// line `previous`: what someone who knows how chains are made can forge
/// without the key.
pub fn forge(body: &str, seq: u64, previous: &str) -> String {
    let (_, _, chain) = split(previous).unwrap();
    let chain = observatory_collector::chain::hex(&observatory_collector::chain::next(
        &chain,
        body.as_bytes(),
    ));
    format!(
        "{},\"seq\":{seq},\"chain\":\"{chain}\"}}",
        body.strip_suffix('}').unwrap()
    )
}

/// Whether every proxy's last chained line is followed by its checkpoint
/// (read without parsing every line: this is polled).
fn sealed(text: &str) -> bool {
    let proxy_of = |line: &str| {
        let (_, rest) = line.split_once("\"proxy_id\":\"")?;
        rest.split_once('"').map(|(proxy, _)| proxy.to_owned())
    };
    let mut last: std::collections::HashMap<String, (u64, bool)> = Default::default();
    for line in text.lines() {
        let Some(proxy) = proxy_of(line) else {
            continue;
        };
        match split(line) {
            Some((_, seq, _)) => {
                last.insert(proxy, (seq, false));
            }
            None => {
                let value: Value = serde_json::from_str(line).unwrap();
                if let (Some(seq), Some(at)) =
                    (value["checkpoint"]["seq"].as_u64(), last.get_mut(&proxy))
                {
                    at.1 |= at.0 == seq;
                }
            }
        }
    }
    !last.is_empty() && last.values().all(|(_, sealed)| *sealed)
}
