//! Detection quality of scorers on labelled traffic (either generator,
//! [`crate::label`]): ranking quality per record and per principal-minute,
//! false alerts per hour, detection delay per incident, and for service
//! health incidents the delay of the first `service_health` signal.
//!
//! Only the records after the scorer's warm-up are judged. Attack records
//! are the positives; everything else, the aftermath of an incident and the
//! callers of a troubled service included, is negative: a page for any of
//! them is a false alert.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Instant;

use observatory_collector::score::model::ALERT;
use observatory_collector::score::{Observation, ScoreConfig, Scorer};

use crate::iforest::IsolationForest;
use crate::label::{Class, Label, Labeled};

/// What a detector says about one record.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verdict {
    /// Behaviour score: what pages security.
    pub score: f64,
    /// Health of the record's destination, if the detector tells it apart.
    pub health: Option<f64>,
    /// Still learning: not judged.
    pub warmup: bool,
}

/// Something that scores records one at a time, in time order.
pub trait Detector {
    fn verdict(&mut self, t: f64, obs: &Observation) -> Verdict;

    /// Whether its scores mean what the scorer's do at [`ALERT`]; if not,
    /// only the threshold-free metrics are reported.
    fn calibrated(&self) -> bool {
        true
    }
}

/// The collector's scorer as it is configured.
pub struct ScorerDetector(pub Scorer);

impl ScorerDetector {
    pub fn new(config: ScoreConfig) -> Self {
        ScorerDetector(Scorer::new(config))
    }
}

impl Detector for ScorerDetector {
    fn verdict(&mut self, t: f64, obs: &Observation) -> Verdict {
        let s = self.0.score(t, obs);
        Verdict {
            score: s.score,
            health: Some(s.health),
            warmup: s.warmup,
        }
    }
}

/// Training points an isolation forest keeps from the warm-up.
const FOREST_TRAINING: usize = 20_000;

/// An isolation forest on the scorer's features: trained on (a sample of)
/// the warm-up's records, then scoring every later one.
pub struct ForestDetector {
    features: Scorer,
    training: Vec<Vec<f64>>,
    seen: u64,
    rng: fastrand::Rng,
    forest: Option<IsolationForest>,
}

impl ForestDetector {
    /// Features from a scorer with `config` (its scores are not used).
    pub fn new(config: ScoreConfig) -> Self {
        ForestDetector {
            features: Scorer::new(ScoreConfig {
                keep_features: true,
                ..config
            }),
            training: Vec::new(),
            seen: 0,
            rng: fastrand::Rng::with_seed(17),
            forest: None,
        }
    }
}

impl Detector for ForestDetector {
    fn verdict(&mut self, t: f64, obs: &Observation) -> Verdict {
        let warmup = self.features.score(t, obs).warmup;
        let x = self.features.features();
        if warmup {
            // Reservoir sample of the warm-up.
            self.seen += 1;
            if self.training.len() < FOREST_TRAINING {
                self.training.push(x.to_vec());
            } else {
                let k = self.rng.u64(0..self.seen) as usize;
                if k < FOREST_TRAINING {
                    self.training[k] = x.to_vec();
                }
            }
            return Verdict {
                warmup,
                ..Verdict::default()
            };
        }
        let forest = self
            .forest
            .get_or_insert_with(|| IsolationForest::fit(&self.training, 100, 256, 5));
        Verdict {
            score: forest.score(x),
            health: None,
            warmup,
        }
    }

    fn calibrated(&self) -> bool {
        false
    }
}

/// A record's verdict with its ground truth.
#[derive(Debug, Clone)]
struct Sample {
    score: f64,
    health: Option<f64>,
    label: Option<Label>,
    t: f64,
    key: String,
    destination: String,
}

impl Sample {
    fn attack(&self) -> bool {
        self.label.is_some_and(Label::is_attack)
    }
}

/// How one labelled incident was seen.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Seen {
    /// Seconds from its first record to its first signal at the threshold
    /// (behaviour score for attacks and benign surprises, destination health
    /// for service health incidents); `None`: never.
    pub delay: Option<f64>,
    /// Share of its records with that signal at the threshold.
    pub share: f64,
}

/// Quality of one detector on one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Records judged (after warm-up) and of those, attack records.
    pub records: usize,
    pub attack_records: usize,
    pub record_roc_auc: f64,
    pub record_pr_auc: f64,
    pub window_pr_auc: f64,
    /// Per record, at [`ALERT`].
    pub precision: f64,
    pub recall: f64,
    /// Principal-minutes at [`ALERT`] with no attack record, per hour
    /// (NaN for detectors whose scores are not calibrated to it).
    pub false_alert_minutes_per_hour: f64,
    /// The same merged into episodes (a principal's false minutes less than
    /// five minutes apart are one), per hour.
    pub false_episodes_per_hour: f64,
    /// Destination-minutes whose health reached [`ALERT`] with no labelled
    /// incident at that destination, per hour; `None` for detectors
    /// without a health score.
    pub false_health_minutes_per_hour: Option<f64>,
    pub incidents: BTreeMap<(Class, &'static str), Seen>,
    /// Set by [`throughput`] (NaN until then).
    pub records_per_sec: f64,
}

/// Area under the ROC curve (Mann–Whitney, ties count half).
pub fn roc_auc(points: &[(f64, bool)]) -> f64 {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < sorted.len() {
        let j = i + sorted[i..]
            .iter()
            .take_while(|p| p.0 == sorted[i].0)
            .count();
        let mid_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += mid_rank * sorted[i..j].iter().filter(|p| p.1).count() as f64;
        i = j;
    }
    let pos = points.iter().filter(|p| p.1).count() as f64;
    let neg = points.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Area under the precision–recall curve as average precision (tied scores
/// enter together).
pub fn pr_auc(points: &[(f64, bool)]) -> f64 {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let pos = points.iter().filter(|p| p.1).count() as f64;
    let (mut tp, mut i, mut ap) = (0.0, 0, 0.0);
    while i < sorted.len() {
        let j = i + sorted[i..]
            .iter()
            .take_while(|p| p.0 == sorted[i].0)
            .count();
        let new_tp = sorted[i..j].iter().filter(|p| p.1).count() as f64;
        tp += new_tp;
        ap += new_tp / pos * tp / j as f64;
        i = j;
    }
    if pos == 0.0 {
        f64::NAN
    } else {
        ap
    }
}

/// Minutes between two false alert minutes of one principal that still
/// make one episode (the alerter's `resolve_after_secs`).
const EPISODE_GAP_MINUTES: i64 = 5;

fn minute(t: f64) -> i64 {
    (t / 60.0).floor() as i64
}

fn evaluate(samples: &[Sample], calibrated: bool) -> Report {
    let records: Vec<(f64, bool)> = samples.iter().map(|s| (s.score, s.attack())).collect();
    // Principal-minute: the highest score; attack if any record was one.
    let mut windows: HashMap<(&str, i64), (f64, bool)> = HashMap::new();
    for s in samples {
        let w = windows.entry((&s.key, minute(s.t))).or_default();
        *w = (w.0.max(s.score), w.1 || s.attack());
    }
    let window_points: Vec<(f64, bool)> = windows.values().copied().collect();
    let alerts = |attack: bool| {
        records
            .iter()
            .filter(|p| p.0 >= ALERT && p.1 == attack)
            .count() as f64
    };
    let (tp, fp) = (alerts(true), alerts(false));
    let positives = records.iter().filter(|p| p.1).count();
    let hours = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => ((b.t - a.t) / 3600.0).max(1e-9),
        _ => 1e-9,
    };
    let mut false_minutes: Vec<(&str, i64)> = windows
        .iter()
        .filter(|(_, w)| w.0 >= ALERT && !w.1)
        .map(|(k, _)| *k)
        .collect();
    false_minutes.sort_unstable();
    let episodes = false_minutes
        .windows(2)
        .filter(|p| p[0].0 != p[1].0 || p[1].1 - p[0].1 >= EPISODE_GAP_MINUTES)
        .count()
        + usize::from(!false_minutes.is_empty());

    let with_health = samples.iter().any(|s| s.health.is_some());
    let false_health = with_health.then(|| {
        let mut incident: HashSet<(&str, i64)> = HashSet::new();
        let mut high: HashSet<(&str, i64)> = HashSet::new();
        for s in samples {
            let key = (s.destination.as_str(), minute(s.t));
            if s.label.is_some_and(|l| l.class != Class::Attack) {
                incident.insert(key);
            }
            if s.health.unwrap_or(0.0) >= ALERT {
                high.insert(key);
            }
        }
        high.difference(&incident).count() as f64 / hours
    });

    let mut of: BTreeMap<(Class, &'static str), Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        if let Some(l) = s.label {
            of.entry((l.class, l.name)).or_default().push(s);
        }
    }
    let incidents = of
        .into_iter()
        .map(|(key, list)| {
            let signal = |s: &Sample| match key.0 {
                Class::Operational => s.health.unwrap_or(0.0),
                _ => s.score,
            };
            let first = list.first().map_or(0.0, |s| s.t);
            let delay = list
                .iter()
                .find(|s| signal(s) >= ALERT)
                .map(|s| s.t - first);
            let share = list.iter().filter(|s| signal(s) >= ALERT).count() as f64
                / list.len().max(1) as f64;
            (key, Seen { delay, share })
        })
        .collect();
    let at_alert = |x: f64| if calibrated { x } else { f64::NAN };
    Report {
        records: samples.len(),
        attack_records: positives,
        record_roc_auc: roc_auc(&records),
        record_pr_auc: pr_auc(&records),
        window_pr_auc: pr_auc(&window_points),
        precision: at_alert(if tp + fp > 0.0 {
            tp / (tp + fp)
        } else {
            f64::NAN
        }),
        recall: at_alert(tp / (positives as f64).max(1.0)),
        false_alert_minutes_per_hour: at_alert(false_minutes.len() as f64 / hours),
        false_episodes_per_hour: at_alert(episodes as f64 / hours),
        false_health_minutes_per_hour: false_health,
        incidents: if calibrated {
            incidents
        } else {
            BTreeMap::new()
        },
        records_per_sec: f64::NAN,
    }
}

/// Scores `traffic` once with every detector side by side (each judged on
/// the records after its own warm-up).
pub fn compare(
    traffic: impl Iterator<Item = Labeled>,
    detectors: &mut [Box<dyn Detector>],
) -> Vec<Report> {
    let mut runs: Vec<Vec<Sample>> = detectors.iter().map(|_| Vec::new()).collect();
    for labeled in traffic {
        let obs = Observation::from(&labeled.record);
        let Some(t) = obs.time() else { continue };
        for (detector, samples) in detectors.iter_mut().zip(&mut runs) {
            let v = detector.verdict(t, &obs);
            if !v.warmup {
                samples.push(Sample {
                    score: v.score,
                    health: v.health,
                    label: labeled.label,
                    t,
                    key: obs.key().to_owned(),
                    destination: obs.destination_workload.to_string(),
                });
            }
        }
    }
    runs.iter()
        .zip(detectors.iter())
        .map(|(samples, d)| evaluate(samples, d.calibrated()))
        .collect()
}

/// Nanoseconds this thread has spent on a CPU (Linux), so that throughput
/// on a machine busy with other work is not its share of the wall clock.
fn thread_cpu_nanos() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Records per second of CPU time (of wall time where the CPU time cannot
/// be read) of a fresh scorer with `config` over `records`, scoring only.
pub fn throughput(records: &[(f64, Observation<'_>)], config: &ScoreConfig) -> f64 {
    let mut scorer = Scorer::new(config.clone());
    let (cpu, wall) = (thread_cpu_nanos(), Instant::now());
    let mut sum = 0.0;
    for (t, obs) in records {
        sum += scorer.score(*t, obs).score;
    }
    let secs = match (cpu, thread_cpu_nanos()) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e9,
        _ => wall.elapsed().as_secs_f64(),
    };
    // Keeps the scores alive, so none of the work is optimised away.
    std::hint::black_box(sum);
    records.len() as f64 / secs.max(1e-9)
}

fn fmt0(x: f64) -> String {
    if x.is_nan() {
        "–".to_owned()
    } else {
        format!("{x:.0}")
    }
}

fn fmt1(x: f64) -> String {
    if x.is_nan() {
        "–".to_owned()
    } else {
        format!("{x:.1}")
    }
}

fn fmt3(x: f64) -> String {
    if x.is_nan() {
        "–".to_owned()
    } else {
        format!("{x:.3}")
    }
}

/// The reports as a Markdown table, one column per named run and detector.
pub fn table(named: &[(String, &Report)]) -> String {
    let mut out = String::from("| metric |");
    let mut sep = String::from("| --- |");
    for (name, _) in named {
        let _ = write!(out, " {name} |");
        sep.push_str(" --- |");
    }
    let _ = write!(out, "\n{sep}\n");
    let mut row = |metric: &str, cell: &dyn Fn(&Report) -> String| {
        let _ = write!(out, "| {metric} |");
        for (_, r) in named {
            let _ = write!(out, " {} |", cell(r));
        }
        out.push('\n');
    };
    row("records judged (after warm-up) / attack records", &|r| {
        format!("{} / {}", r.records, r.attack_records)
    });
    row("PR-AUC per record", &|r| fmt3(r.record_pr_auc));
    row("ROC-AUC per record", &|r| fmt3(r.record_roc_auc));
    row("PR-AUC per principal-minute", &|r| fmt3(r.window_pr_auc));
    row("precision / recall at 0.85 (records)", &|r| {
        format!("{} / {}", fmt3(r.precision), fmt3(r.recall))
    });
    row(
        "false alert principal-minutes/hour (≥ 0.85, no attack)",
        &|r| fmt1(r.false_alert_minutes_per_hour),
    );
    row("false alert episodes/hour", &|r| {
        fmt1(r.false_episodes_per_hour)
    });
    row("false service-health minutes/hour", &|r| {
        r.false_health_minutes_per_hour
            .map_or("–".to_owned(), |x| format!("{x:.1}"))
    });
    let mut keys: Vec<(Class, &'static str)> = named
        .iter()
        .flat_map(|(_, r)| r.incidents.keys().copied())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let what = match key.0 {
            Class::Attack => "delay / records ≥ 0.85",
            Class::Operational => "health delay / records",
            Class::Benign => "records paged (should be 0)",
        };
        row(
            &format!("{}: {what}", key.1),
            &|r| match r.incidents.get(&key) {
                None if r.false_alert_minutes_per_hour.is_nan() => "–".to_owned(),
                None => "not in run".to_owned(),
                Some(s) if key.0 == Class::Benign => format!("{:.1} %", s.share * 100.0),
                Some(Seen { delay: None, .. }) => "missed".to_owned(),
                Some(Seen {
                    delay: Some(d),
                    share,
                }) => format!("{d:.0} s / {:.0} %", share * 100.0),
            },
        );
    }
    row("throughput (records/s of CPU time, one core)", &|r| {
        fmt0(r.records_per_sec)
    });
    out
}

/// Seconds within which an attack must page: a minute, ten for a slow leak.
pub fn attack_deadline(name: &str) -> f64 {
    if name.starts_with("slow_exfiltration") {
        600.0
    } else {
        60.0
    }
}

/// Where a calibrated report misses the targets: record PR-AUC ≥ 0.9, at
/// most one false alert episode an hour, every attack paged by its
/// [`attack_deadline`], every service health incident seen as health within
/// 15 minutes, no benign surprise paged (≤ 1 % of its records).
pub fn misses(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if r.record_pr_auc.is_nan() || r.record_pr_auc < 0.9 {
        out.push(format!("record PR-AUC {:.3} < 0.9", r.record_pr_auc));
    }
    if r.false_episodes_per_hour.is_nan() || r.false_episodes_per_hour > 1.0 {
        out.push(format!(
            "{:.1} false alert episodes/hour > 1",
            r.false_episodes_per_hour
        ));
    }
    for ((class, name), seen) in &r.incidents {
        let (ok, what) = match class {
            Class::Attack => (
                seen.delay.is_some_and(|d| d <= attack_deadline(name)),
                "paged late or never",
            ),
            Class::Operational => (
                seen.delay.is_some_and(|d| d <= 900.0),
                "health not seen within 15 min",
            ),
            Class::Benign => (seen.share <= 0.01, "benign but paged"),
        };
        if !ok {
            out.push(format!("{name}: {what} ({seen:?})"));
        }
    }
    out
}

/// Streams side by side: one row each with its reports in the order
/// scorer, naive max z, isolation forest.
pub fn summary(rows: &[(String, Vec<Report>)]) -> String {
    let mut out = String::from(
        "| stream | PR-AUC per record: scorer / max z / forest | false alert principal-minutes/h: scorer / max z / forest | scorer: false episodes/h | scorer: attacks paged (≤ 60 s; slow leak ≤ 10 min) | scorer: slowest attack | scorer: health incidents seen (delay) | scorer: benign records paged | scorer: false health minutes/h | records/s of CPU: scorer / max z |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (name, reports) in rows {
        let [r, n, f] = reports.as_slice() else {
            continue;
        };
        let attacks: Vec<(&str, Option<f64>)> = r
            .incidents
            .iter()
            .filter(|(k, _)| k.0 == Class::Attack)
            .map(|(k, s)| (k.1, s.delay))
            .collect();
        let in_time = attacks
            .iter()
            .filter(|(name, d)| d.is_some_and(|d| d <= attack_deadline(name)))
            .count();
        let slowest = attacks
            .iter()
            .max_by(|a, b| {
                a.1.unwrap_or(f64::INFINITY)
                    .total_cmp(&b.1.unwrap_or(f64::INFINITY))
            })
            .map_or("–".to_owned(), |(name, d)| match d {
                Some(d) => format!("{name} {d:.0} s"),
                None => format!("{name} missed"),
            });
        let health: Vec<String> = r
            .incidents
            .iter()
            .filter(|(k, _)| k.0 == Class::Operational)
            .map(|(k, s)| match s.delay {
                Some(d) => format!("{} {d:.0} s", k.1),
                None => format!("{} missed", k.1),
            })
            .collect();
        let benign: Vec<String> = r
            .incidents
            .iter()
            .filter(|(k, _)| k.0 == Class::Benign)
            .map(|(k, s)| format!("{} {:.1} %", k.1, s.share * 100.0))
            .collect();
        let _ = writeln!(
            out,
            "| {name} | {} / {} / {} | {} / {} / {} | {} | {in_time} of {} | {slowest} | {} | {} | {} | {} / {} |",
            fmt3(r.record_pr_auc),
            fmt3(n.record_pr_auc),
            fmt3(f.record_pr_auc),
            fmt1(r.false_alert_minutes_per_hour),
            fmt1(n.false_alert_minutes_per_hour),
            fmt1(f.false_alert_minutes_per_hour),
            fmt1(r.false_episodes_per_hour),
            attacks.len(),
            health.join(", "),
            benign.join(", "),
            r.false_health_minutes_per_hour
                .map_or("–".to_owned(), |x| format!("{x:.1}")),
            fmt0(r.records_per_sec),
            fmt0(n.records_per_sec),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_inverted() {
        let perfect = [(0.9, true), (0.8, true), (0.1, false), (0.2, false)];
        assert_eq!(roc_auc(&perfect), 1.0);
        assert_eq!(pr_auc(&perfect), 1.0);
        let tied = [(0.5, true), (0.5, false)];
        assert_eq!(roc_auc(&tied), 0.5);
        let inverted = [(0.1, true), (0.9, false)];
        assert_eq!(roc_auc(&inverted), 0.0);
        assert_eq!(pr_auc(&inverted), 0.5);
        assert!(roc_auc(&[(0.1, true)]).is_nan());
    }

    fn sample(key: &str, t: f64, score: f64, label: Option<Label>) -> Sample {
        Sample {
            score,
            health: Some(0.0),
            label,
            t,
            key: key.to_owned(),
            destination: "d".to_owned(),
        }
    }

    #[test]
    fn aftermath_pages_are_false_alerts_and_episodes_merge() {
        let attack = Some(Label::attack("a"));
        let samples = [
            sample("p", 0.0, 0.9, attack),
            // Its aftermath: two false minutes, one episode.
            sample("p", 70.0, 0.9, None),
            sample("p", 130.0, 0.9, None),
            // Much later: a second episode.
            sample("p", 1000.0, 0.9, None),
            sample("q", 3600.0, 0.1, None),
        ];
        let r = evaluate(&samples, true);
        assert_eq!(r.false_alert_minutes_per_hour, 3.0);
        assert_eq!(r.false_episodes_per_hour, 2.0);
        assert_eq!(r.incidents[&(Class::Attack, "a")].delay, Some(0.0));
    }
}
