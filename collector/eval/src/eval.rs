//! Detection quality of scorers on [`crate::sim`] traffic: ranking quality
//! per record and per principal-minute, precision/recall at the alert
//! threshold, detection delay per incident, false alerts per hour.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use observatory_collector::score::model::{ScoreConfig, ALERT};
use observatory_collector::score::{Observation, Scorer};

use crate::sim::{Scenario, SimConfig, Traffic};

/// A record's score with its ground truth (warm-up records are left out).
#[derive(Debug, Clone)]
struct Sample {
    score: f64,
    label: Option<Scenario>,
    t: f64,
    key: String,
}

impl Sample {
    fn attack(&self) -> bool {
        self.label.is_some_and(Scenario::is_attack)
    }
}

/// Quality of one scorer on one run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub records: usize,
    /// Records left out as incident aftermath (see [`AFTERMATH_SECS`]).
    pub aftermath: usize,
    pub record_roc_auc: f64,
    pub record_pr_auc: f64,
    pub window_roc_auc: f64,
    pub window_pr_auc: f64,
    /// Per record, at [`ALERT`].
    pub precision: f64,
    pub recall: f64,
    /// Principal-minutes with no incident that reached [`ALERT`], per hour.
    pub false_alerts_per_hour: f64,
    /// Per scenario: seconds from its first record to its first alert
    /// (`None`: never), and the share of its records at [`ALERT`].
    pub scenarios: BTreeMap<Scenario, (Option<f64>, f64)>,
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

/// How long after an incident (attack or benign) a principal's unlabelled
/// records are not judged: its 15-minute windows still hold the incident,
/// so they rightly stay elevated; they are neither hits nor false alerts.
const AFTERMATH_SECS: f64 = 900.0;

/// Drops unlabelled records of a principal during or up to
/// [`AFTERMATH_SECS`] after one of its incidents; returns how many.
fn drop_aftermath(samples: &mut Vec<Sample>) -> usize {
    let mut spans: HashMap<(String, Scenario), (f64, f64)> = HashMap::new();
    for s in samples.iter() {
        if let Some(scenario) = s.label {
            let span = spans.entry((s.key.clone(), scenario)).or_insert((s.t, s.t));
            span.1 = s.t;
        }
    }
    let before = samples.len();
    samples.retain(|s| {
        s.label.is_some()
            || !spans.iter().any(|((key, _), (from, to))| {
                *key == s.key && (*from..=to + AFTERMATH_SECS).contains(&s.t)
            })
    });
    before - samples.len()
}

fn evaluate(mut samples: Vec<Sample>, elapsed: Duration) -> Report {
    let scored = samples.len();
    let aftermath = drop_aftermath(&mut samples);
    let samples = samples.as_slice();
    let records: Vec<(f64, bool)> = samples.iter().map(|s| (s.score, s.attack())).collect();
    // Principal-minute: the highest score, attack if any record was one,
    // benign-surprise if any was (and none was an attack).
    let mut windows: HashMap<(&str, i64), (f64, bool, bool)> = HashMap::new();
    for s in samples {
        let w = windows
            .entry((&s.key, (s.t / 60.0).floor() as i64))
            .or_default();
        *w = (
            w.0.max(s.score),
            w.1 || s.attack(),
            w.2 || s.label.is_some(),
        );
    }
    let window_points: Vec<(f64, bool)> = windows.values().map(|w| (w.0, w.1)).collect();
    let alerts = |p: &[(f64, bool)], attack: bool| {
        p.iter().filter(|p| p.0 >= ALERT && p.1 == attack).count() as f64
    };
    let (tp, fp) = (alerts(&records, true), alerts(&records, false));
    let positives = records.iter().filter(|p| p.1).count() as f64;
    let hours = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => ((b.t - a.t) / 3600.0).max(1e-9),
        _ => 1e-9,
    };
    let clean_alerts = windows.values().filter(|w| w.0 >= ALERT && !w.2).count() as f64;
    let mut scenarios = BTreeMap::new();
    for scenario in Scenario::ALL {
        let of: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.label == Some(scenario))
            .collect();
        let Some(first) = of.first() else { continue };
        let delay = of.iter().find(|s| s.score >= ALERT).map(|s| s.t - first.t);
        let share = of.iter().filter(|s| s.score >= ALERT).count() as f64 / of.len() as f64;
        scenarios.insert(scenario, (delay, share));
    }
    Report {
        records: scored,
        aftermath,
        record_roc_auc: roc_auc(&records),
        record_pr_auc: pr_auc(&records),
        window_roc_auc: roc_auc(&window_points),
        window_pr_auc: pr_auc(&window_points),
        precision: if tp + fp > 0.0 {
            tp / (tp + fp)
        } else {
            f64::NAN
        },
        recall: tp / positives.max(1.0),
        false_alerts_per_hour: clean_alerts / hours,
        scenarios,
        records_per_sec: scored as f64 / elapsed.as_secs_f64().max(1e-9),
    }
}

/// Generates `sim` traffic once and scores it with every config side by
/// side (warm-up records excluded from the report).
pub fn compare(sim: SimConfig, configs: &[ScoreConfig]) -> Vec<Report> {
    let mut scorers: Vec<(Scorer, Vec<Sample>, Duration)> = configs
        .iter()
        .map(|c| (Scorer::new(c.clone()), Vec::new(), Duration::ZERO))
        .collect();
    for labeled in Traffic::new(sim) {
        let obs = Observation::from(&labeled.record);
        let Some(t) = obs.time() else { continue };
        for (scorer, samples, elapsed) in &mut scorers {
            let started = Instant::now();
            let scored = scorer.score(t, &obs);
            *elapsed += started.elapsed();
            if !scored.warmup {
                samples.push(Sample {
                    score: scored.score,
                    label: labeled.label,
                    t,
                    key: obs.key().to_owned(),
                });
            }
        }
    }
    scorers
        .into_iter()
        .map(|(_, samples, elapsed)| evaluate(samples, elapsed))
        .collect()
}

/// The reports as a Markdown table, one column per named scorer.
pub fn table(named: &[(&str, &Report)]) -> String {
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
    row("records scored (after warm-up)", &|r| r.records.to_string());
    row("of which incident aftermath, not judged", &|r| {
        r.aftermath.to_string()
    });
    row("ROC-AUC per record", &|r| {
        format!("{:.3}", r.record_roc_auc)
    });
    row("PR-AUC per record", &|r| format!("{:.3}", r.record_pr_auc));
    row("ROC-AUC per principal-minute", &|r| {
        format!("{:.3}", r.window_roc_auc)
    });
    row("PR-AUC per principal-minute", &|r| {
        format!("{:.3}", r.window_pr_auc)
    });
    row("precision at 0.85 (records)", &|r| {
        format!("{:.3}", r.precision)
    });
    row("recall at 0.85 (records)", &|r| format!("{:.3}", r.recall));
    row(
        "false alerts/hour (clean principal-minutes ≥ 0.85)",
        &|r| format!("{:.2}", r.false_alerts_per_hour),
    );
    for scenario in Scenario::ALL {
        row(
            &format!("{}: delay / records ≥ 0.85", scenario.label()),
            &|r| match r.scenarios.get(&scenario) {
                Some((Some(d), share)) => format!("{d:.0} s / {:.0} %", share * 100.0),
                Some((None, _)) => "missed".to_owned(),
                None => "not in run".to_owned(),
            },
        );
    }
    row("throughput (records/s)", &|r| {
        format!("{:.0}", r.records_per_sec)
    });
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
}
