//! Alertmanager's `POST /api/v2/alerts` body: a list of one alert. Labels
//! identify it (the same for firing and resolve, so Alertmanager matches
//! them); a resolve carries `endsAt`.

use serde_json::{json, Value};

use super::dedupe::Notice;
use super::{explore_link, reason_line, rfc3339};

pub const ALERT_NAME: &str = "ObservatoryAnomaly";

/// The body for `notice`.
pub fn body(notice: &Notice, explore: Option<&str>) -> Value {
    let (event, reason, started, ended) = match notice {
        Notice::Firing {
            event,
            reason,
            started,
        } => (event, reason, started, None),
        Notice::Resolved {
            event,
            reason,
            started,
            ended,
        } => (event, reason, started, Some(ended)),
    };
    let reasons: Vec<String> = event.reasons.iter().map(reason_line).collect();
    let mut alert = json!({
        "labels": {
            "alertname": ALERT_NAME,
            "principal": event.principal,
            "reason": reason.name(),
            "severity": "page",
        },
        "annotations": {
            "summary": format!(
                "{} → {} scored {:.2} ({})",
                event.principal, event.destination, event.score, reason.name()
            ),
            "description": reasons.join("\n"),
            "destination": event.destination,
            "score": format!("{:.4}", event.score),
            "correlation_ids": event.correlation_ids.join(","),
        },
        "startsAt": rfc3339(*started),
    });
    if let Some(ended) = ended {
        alert["endsAt"] = json!(rfc3339(*ended));
    }
    if let Some(link) = explore.map(|t| explore_link(t, notice)) {
        alert["generatorURL"] = json!(link);
    }
    json!([alert])
}
