//! One check: read the range with its margins, look up what is still
//! missing around it, judge the chains, report.

use observatory_proto::json::format_ts;

use super::analysis::{self, Judge};
use super::args::Params;
use super::error::VerifyError;
use super::line::Kind;
use super::logql::LogQl;
use super::report::{Notice, NoticeKind, Report, Summary, Verdict};
use super::source::Source;
use super::trail::{Auth, Seqs, Trail};

/// Seqs looked up one by one in a range of missing ones; of a longer range
/// only its ends.
const LOOKUP_EACH: u64 = 8;
/// Look-ups at most (each is two Loki queries).
const MAX_LOOKUPS: usize = 500;

/// A check's report, and the trail as read (for an evidence bundle).
pub struct Checked {
    pub report: Report,
    pub trail: Trail,
}

/// Reads what `params` asks for from `source`, looks up what is missing
/// around it and judges it.
pub async fn check(
    source: &mut Source,
    params: &Params,
    describe: String,
) -> Result<Checked, VerifyError> {
    let mut trail = Trail::new(params.window, params.proxy.clone(), params.key.clone());
    let read = params.read_range();
    trail.add_all(source.read(read).await?);
    let mut unchecked = Vec::new();
    if let Some(range) = read {
        for tail in trail.tails() {
            trail.add_all(
                source
                    .extend(&tail.proxy, tail.to, range.1, params.now)
                    .await?,
            );
        }
        let wanted: Vec<Seqs> = trail.heads().into_iter().chain(trail.holes()).collect();
        let (mut lookups, mut skipped) = (0, 0);
        for seqs in wanted {
            for seq in lookup_seqs(&seqs) {
                if lookups == MAX_LOOKUPS {
                    skipped += 1;
                    continue;
                }
                lookups += 1;
                let found = source
                    .find_seq(&seqs.proxy, seq, range, params.lookback, params.now)
                    .await?;
                trail.add_all(found);
            }
        }
        if skipped > 0 {
            unchecked.push(format!(
                "{skipped} seqs not looked up outside the range read (over {MAX_LOOKUPS} look-ups): \
                 they are reported missing, but may be elsewhere"
            ));
        }
    }
    let (queries, unread) = source.queries();
    unchecked.extend(unread);
    let judge = Judge {
        now: params.now,
        settle: params.settle,
        tail_grace: params.tail_grace,
        logql: params.loki.then(|| LogQl {
            selector: params.selector.clone(),
        }),
    };
    let judgement = analysis::judge(&trail, &judge);
    let mut report = Report {
        source: describe,
        read_at: format_ts(params.now),
        key_id: params.key.as_ref().map(|k| k.id.clone()),
        summary: summary(&trail, queries),
        proxies: judgement.proxies,
        findings: judgement.findings,
        notices: judgement.notices,
        unchecked,
        verdict: Verdict::Clean,
        exit: 0,
    };
    for p in &report.proxies {
        report.summary.in_range += p.in_range;
        report.summary.proven += p.proven;
        report.summary.tail += p.tail;
    }
    if params.key.is_none() && report.summary.checkpoints > 0 {
        report.notices.push(Notice::new(
            NoticeKind::NoKey,
            "no --key-file: checkpoints are taken at their word, so what they cover is consistent, not proven against forgery",
        ));
    }
    report
        .findings
        .sort_by(|a, b| (a.kind, &a.proxy, a.seq).cmp(&(b.kind, &b.proxy, b.seq)));
    report.decide(false);
    Ok(Checked { report, trail })
}

/// The seqs of a range to look up: each of a short range, the ends of a
/// long one.
fn lookup_seqs(seqs: &Seqs) -> Vec<u64> {
    match seqs.to - seqs.from < LOOKUP_EACH {
        true => (seqs.from..=seqs.to).collect(),
        false => vec![seqs.from, seqs.to],
    }
}

fn summary(trail: &Trail, queries: u64) -> Summary {
    let kinds = trail.kinds();
    let count = |kind: &Kind| kinds.get(kind).copied().unwrap_or(0);
    let checkpoints = trail.proxies.values().flat_map(|p| &p.checkpoints);
    Summary {
        entries: trail.read,
        queries,
        records: count(&Kind::Record),
        gaps: count(&Kind::Gap),
        invalid: count(&Kind::Invalid),
        derived: trail.derived,
        duplicates: trail.duplicates,
        checkpoints: checkpoints.clone().count() as u64,
        checkpoints_verified: checkpoints.filter(|c| c.auth == Auth::Signed).count() as u64,
        injected: trail.injected.len() as u64,
        ..Summary::default()
    }
}
