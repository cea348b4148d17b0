//! What an alert says, once, before any channel shapes it: every channel renders the same
//! title, facts, causes and feedback line, so Slack and email never disagree.

use serde::{Deserialize, Serialize};

use crate::detect::monitor::root_cause_label;
use crate::focus::Money;
use crate::store::{BudgetAlert, StoredAnomaly};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Anomaly,
    Budget,
    Showback,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Anomaly => "anomaly",
            MessageKind::Budget => "budget",
            MessageKind::Showback => "showback",
        }
    }
}

/// Whether a message opens, raises or closes what it is about (PagerDuty's event action).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageEvent {
    Trigger,
    /// The same anomaly, now of a higher severity.
    Escalate,
    Resolve,
}

/// A labelled fact: `Impact` → `+2,086.30 USD (+243.5%)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub label: String,
    pub value: String,
}

/// One alert or report, channel-neutral.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub kind: MessageKind,
    pub event: MessageEvent,
    /// What the message is about, stable across re-detection: the anomaly id, the budget
    /// alert, the report's month and dimension. PagerDuty's dedup key.
    pub subject: String,
    /// `low`, `medium` or `high` for anomalies.
    pub severity: Option<String>,
    /// The dimension and value it concerns, for routing (`team`, `payments`).
    pub dimension: Option<String>,
    pub value: Option<String>,
    pub title: String,
    /// One sentence with the essentials, for notifications and plain-text bodies.
    pub summary: String,
    pub facts: Vec<Fact>,
    /// The top root causes, largest first.
    pub causes: Vec<String>,
    /// How to tell finopsd whether this was expected.
    pub feedback: Option<String>,
    /// A showback report's renderings.
    pub report: Option<ReportFiles>,
}

/// A rendered showback report carried by a message: an email's body and attachment, a
/// directory sink's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFiles {
    /// File names without extension, e.g. `showback-team-2025-06`.
    pub name: String,
    pub html: String,
    pub csv: String,
}

fn fact(label: &str, value: impl Into<String>) -> Fact {
    Fact { label: label.into(), value: value.into() }
}

/// The message for an alerting anomaly: what moved, by how much money and percent, since
/// when, against what expectation, the top causes, and how to give feedback.
pub fn anomaly_message(anomaly: &StoredAnomaly, event: MessageEvent) -> Message {
    let (dimension, value) = anomaly.series_key().unwrap_or_default();
    let c = &anomaly.currency;
    let days = (anomaly.end - anomaly.start).num_days() + 1;
    let direction = if anomaly.impact >= Money::ZERO { "up" } else { "down" };
    let severity = anomaly.severity.clone().unwrap_or_else(|| "low".into());
    let title = match event {
        MessageEvent::Resolve => format!("Resolved: {dimension} {value} spend ({c}) is back to normal"),
        MessageEvent::Escalate => format!(
            "Now {severity}: {dimension} {value} spend {direction} {} {c} ({:+.0}%) since {}",
            anomaly.impact.abs().display_cents(),
            anomaly.impact_pct,
            anomaly.start
        ),
        MessageEvent::Trigger => format!(
            "{dimension} {value} spend {direction} {} {c} ({:+.0}%) since {}",
            anomaly.impact.abs().display_cents(),
            anomaly.impact_pct,
            anomaly.start
        ),
    };
    let causes: Vec<serde_json::Value> = serde_json::from_str(&anomaly.root_causes).unwrap_or_default();
    let causes: Vec<String> = causes.iter().take(3).map(|cause| root_cause_label(cause, c)).collect();
    let summary = format!(
        "{dimension} {value} cost {} {c} against {} {c} expected over {days} day{} from {} to {} ({} {c}, {:+.1}%); \
         severity {severity}, {}.",
        anomaly.actual.display_cents(),
        anomaly.expected.display_cents(),
        if days == 1 { "" } else { "s" },
        anomaly.start,
        anomaly.end,
        anomaly.impact.display_signed_cents(),
        anomaly.impact_pct,
        anomaly.status,
    );
    Message {
        kind: MessageKind::Anomaly,
        event,
        subject: anomaly.id.clone(),
        severity: Some(severity.clone()),
        dimension: Some(dimension.clone()),
        value: Some(value.clone()),
        title,
        summary,
        facts: vec![
            fact("What moved", format!("{dimension} {value} ({c}, monitor {})", anomaly.monitor)),
            fact("Impact", format!("{} {c} ({:+.1}%)", anomaly.impact.display_signed_cents(), anomaly.impact_pct)),
            fact(
                "Since",
                format!("{} to {} ({days} day{})", anomaly.start, anomaly.end, if days == 1 { "" } else { "s" }),
            ),
            fact("Expected", format!("{} {c}", anomaly.expected.display_cents())),
            fact("Actual", format!("{} {c}", anomaly.actual.display_cents())),
            fact("Severity", severity),
            fact("Status", anomaly.status.clone()),
        ],
        causes,
        feedback: Some(format!(
            "Was this expected? `finopsd anomalies feedback {} expected|unexpected|planned --note \"why\"` teaches \
             the detector.",
            anomaly.id
        )),
        report: None,
    }
}

/// The message for a budget threshold crossed: actual, forecast and threshold.
pub fn budget_message(alert: &BudgetAlert, dimension: &str, value: &str) -> Message {
    let c = &alert.currency;
    let pct = |part: Money| part.fraction_of(alert.amount).unwrap_or(0.0) * 100.0;
    let reached = if alert.kind == "actual" { alert.actual } else { alert.forecast };
    let title = format!(
        "Budget {} ({c}): {} at {:.0}% of {} {c} (threshold {} ≥ {}%)",
        alert.budget,
        alert.kind,
        pct(reached),
        alert.amount.display_cents(),
        alert.kind,
        alert.threshold_pct
    );
    Message {
        kind: MessageKind::Budget,
        event: MessageEvent::Trigger,
        subject: budget_subject(alert),
        severity: None,
        dimension: Some(dimension.into()),
        value: Some(value.into()),
        summary: format!(
            "{} spent {} {c} of its {} {c} budget by {} ({:.0}%); the period is forecast to end at {} {c} ({:.0}%).",
            alert.budget,
            alert.actual.display_cents(),
            alert.amount.display_cents(),
            alert.as_of,
            pct(alert.actual),
            alert.forecast.display_cents(),
            pct(alert.forecast),
        ),
        title,
        facts: vec![
            fact("Budget", format!("{} ({dimension} {value}), period from {}", alert.budget, alert.period_start)),
            fact("Threshold", format!("{} ≥ {}%", alert.kind, alert.threshold_pct)),
            fact(
                "Actual",
                format!("{} {c} ({:.0}%) by {}", alert.actual.display_cents(), pct(alert.actual), alert.as_of),
            ),
            fact("Forecast", format!("{} {c} ({:.0}%)", alert.forecast.display_cents(), pct(alert.forecast))),
            fact("Amount", format!("{} {c}", alert.amount.display_cents())),
        ],
        causes: Vec::new(),
        feedback: None,
        report: None,
    }
}

/// A budget alert's stable name: one per budget, period, currency and threshold.
pub fn budget_subject(alert: &BudgetAlert) -> String {
    format!("{}:{}:{}:{}:{}", alert.budget, alert.period_start, alert.currency, alert.kind, alert.threshold_pct)
}

/// The message carrying a month's showback report: totals per currency in the text, the
/// report itself as HTML and CSV.
pub fn showback_message(report: &crate::report::ShowbackReport) -> Message {
    use crate::report::ReportFormat;
    let mut facts: Vec<Fact> = report
        .currencies
        .iter()
        .map(|section| {
            let top = section.values.first().map_or(String::new(), |v| {
                format!("; largest {} {} ({})", report.dimension, v.value, v.effective_cost.display_cents())
            });
            fact(
                &section.currency,
                format!(
                    "{} EffectiveCost ({} against {}){top}; {}",
                    section.effective_cost.display_cents(),
                    (section.effective_cost - section.previous_effective_cost).display_signed_cents(),
                    report.month.previous(),
                    if section.reconciliation.balances { "reconciled to the invoice" } else { "NOT reconciled" }
                ),
            )
        })
        .collect();
    facts.push(fact("Anomalies", format!("{} alerted this month", report.anomalies.len())));
    let name = format!("showback-{}-{}", report.subject().replace(' ', "-"), report.month);
    Message {
        kind: MessageKind::Showback,
        event: MessageEvent::Trigger,
        subject: format!("showback:{}:{}", report.month, report.subject()),
        severity: None,
        dimension: Some(report.dimension.clone()),
        value: report.value.clone(),
        title: format!("Showback by {} — {}", report.subject(), report.month),
        summary: format!(
            "The showback of {} by {} is ready: {}.",
            report.month,
            report.subject(),
            facts.iter().map(|f| format!("{} {}", f.label, f.value)).collect::<Vec<_>>().join("; ")
        ),
        facts,
        causes: Vec::new(),
        feedback: None,
        report: Some(ReportFiles {
            name,
            html: report.render(ReportFormat::Html),
            csv: report.render(ReportFormat::Csv),
        }),
    }
}
