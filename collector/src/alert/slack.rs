//! Slack incoming-webhook messages: `text` (the notification and fallback)
//! and Block Kit `blocks` with the principal, destination, score, top
//! reasons, example correlation ids and a Grafana Explore button.

use serde_json::{json, Value};

use super::dedupe::Notice;
use super::{explore_link, reason_line, rfc3339};

/// The message for `notice`.
pub fn message(notice: &Notice, explore: Option<&str>) -> Value {
    let (event, reason, title, emoji) = match notice {
        Notice::Firing { event, reason, .. } => (event, reason, "Anomaly", ":rotating_light:"),
        Notice::Resolved { event, reason, .. } => (event, reason, "Resolved", ":white_check_mark:"),
    };
    let text = format!(
        "{emoji} {title} ({}): {} → {} scored {:.2}",
        reason.name(),
        event.principal,
        event.destination,
        event.score
    );
    let mut fields = vec![
        json!({"type": "mrkdwn", "text": format!("*Principal*\n`{}`", event.principal)}),
        json!({"type": "mrkdwn", "text": format!("*Destination*\n`{}`", event.destination)}),
        json!({"type": "mrkdwn", "text": format!("*Score*\n{:.2}", event.score)}),
        json!({"type": "mrkdwn", "text": format!("*Reason*\n{}", reason.name())}),
    ];
    if let Notice::Resolved { started, ended, .. } = notice {
        fields.push(json!({"type": "mrkdwn", "text": format!("*From*\n{}", rfc3339(*started))}));
        fields.push(json!({"type": "mrkdwn", "text": format!("*To*\n{}", rfc3339(*ended))}));
    }
    let reasons: Vec<String> = event
        .reasons
        .iter()
        .map(|r| format!("• {}", reason_line(r)))
        .collect();
    let ids: Vec<String> = event
        .correlation_ids
        .iter()
        .map(|id| format!("`{id}`"))
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": format!("{title}: {}", event.principal)}}),
        json!({"type": "section", "fields": fields}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": format!("*Top reasons*\n{}", reasons.join("\n"))}}),
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("Example correlation ids: {}", ids.join(", "))}]}),
    ];
    if let Some(link) = explore.map(|t| explore_link(t, notice)) {
        blocks.push(json!({"type": "actions", "elements": [{
            "type": "button",
            "text": {"type": "plain_text", "text": "Explore in Grafana"},
            "url": link,
        }]}));
    }
    json!({"text": text, "blocks": blocks})
}
