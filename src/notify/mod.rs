//! Publishing: alerts and reports become channel-neutral messages, are written to the
//! store's outbox (one row per channel) before any attempt, and are delivered from there
//! with retries, back-off and dead letters. Nothing is sent that was not kept first, and
//! nothing kept is forgotten: a restart picks up where the outbox stands.

pub mod channels;
pub mod config;
mod email;
pub mod message;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Datelike, Days, TimeZone, Utc};
use rand::Rng;

use crate::analyse::budgets::BudgetConfig;
use crate::detect::Severity;
use crate::focus::BillingPeriod;
use crate::report::{ReportError, ShowbackRequest, showback_report};
use crate::store::{AttemptOutcome, OutboxMessage, Store, StoreError};
use channels::SendError;
use config::{ChannelConfig, Digest, NotifyConfig, RetryConfig};
use message::{
    Fact, Message, MessageEvent, MessageKind, anomaly_message, budget_message, budget_subject, showback_message,
};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a channel secret is missing: set the {0}")]
    MissingSecret(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("outbox message {id} holds a message that cannot be read: {problem}")]
    Corrupt { id: i64, problem: String },
}

/// Queues a message for every channel that routes it, unless that channel already has it.
pub async fn queue_message(
    store: &Store,
    channels: &[ChannelConfig],
    message: &Message,
    key: &str,
    now: DateTime<Utc>,
) -> Result<usize, NotifyError> {
    let json = serde_json::to_string(message).expect("a message serialises");
    let mut queued = 0;
    for channel in channels.iter().filter(|c| c.routes(message)) {
        let due = next_digest(channel, now);
        queued += usize::from(store.enqueue_message(&channel.name, key, message.kind.as_str(), &json, due).await?);
    }
    Ok(queued)
}

/// Queues the store's alerts: each alerting anomaly once per channel, again when its
/// severity rises, and its resolution for PagerDuty (which keeps an incident open until
/// told); each budget threshold crossed once. Returns how many outbox rows (message ×
/// channel) are new.
pub async fn queue_alerts(
    store: &Store,
    config: &NotifyConfig,
    budgets: &[BudgetConfig],
    now: DateTime<Utc>,
) -> Result<usize, NotifyError> {
    let mut queued = 0;
    if config.channels.is_empty() {
        return Ok(queued);
    }
    // Per channel and anomaly id, what was queued before: the highest severity, and
    // whether the resolution was. Keys are `anomaly:<id>:<severity or "resolved">`.
    let mut sent: BTreeMap<&str, HashMap<String, (Option<Severity>, bool)>> = BTreeMap::new();
    for channel in &config.channels {
        let mut anomalies: HashMap<String, (Option<Severity>, bool)> = HashMap::new();
        for key in store.outbox_keys(&channel.name, "anomaly:").await? {
            let Some((id, what)) = key.trim_start_matches("anomaly:").rsplit_once(':') else { continue };
            let state = anomalies.entry(id.to_string()).or_default();
            match Severity::from_name(what) {
                Some(severity) => state.0 = state.0.max(Some(severity)),
                None => state.1 |= what == "resolved",
            }
        }
        sent.insert(&channel.name, anomalies);
    }
    // Oldest first, so the outbox (and a digest) reads in the order things happened.
    let mut anomalies = store.anomalies(None).await?;
    anomalies.reverse();
    // Anomalies long over when first judged (a first run over a year of history) are kept
    // and listed, not sent.
    for anomaly in anomalies.iter().filter(|a| a.severity.is_some() && a.current) {
        let severity = anomaly.severity.as_deref().and_then(Severity::from_name);
        let prefix = format!("anomaly:{}:", anomaly.id);
        let before =
            |channel: &ChannelConfig| sent[channel.name.as_str()].get(&anomaly.id).copied().unwrap_or_default();
        for channel in &config.channels {
            let event = match before(channel).0 {
                None => MessageEvent::Trigger,
                Some(was) if severity.is_some_and(|now| now > was) => MessageEvent::Escalate,
                Some(_) => continue,
            };
            let message = anomaly_message(anomaly, event);
            let key = format!("{prefix}{}", anomaly.severity.as_deref().unwrap_or("low"));
            queued += queue_message(store, std::slice::from_ref(channel), &message, &key, now).await?;
        }
        if anomaly.status == "resolved" {
            let pagerduty: Vec<ChannelConfig> =
                config.channels.iter().filter(|c| c.is_pagerduty() && !before(c).1).cloned().collect();
            let message = anomaly_message(anomaly, MessageEvent::Resolve);
            queued += queue_message(store, &pagerduty, &message, &format!("{prefix}resolved"), now).await?;
        }
    }
    for alert in store.budget_alerts().await? {
        // A budget no longer configured has nobody to tell.
        let Some(budget) = budgets.iter().find(|b| b.name == alert.budget) else { continue };
        let message = budget_message(&alert, &budget.dimension, &budget.value);
        let key = format!("budget:{}", budget_subject(&alert));
        queued += queue_message(store, &config.channels, &message, &key, now).await?;
    }
    Ok(queued)
}

/// Queues last month's showback reports once `now` reaches the configured day: one per
/// dimension, and each value's own when asked. Nothing is queued for a month with no
/// allocated spend yet, so a late export still gets its report.
pub async fn queue_showback(
    store: &Store,
    config: &NotifyConfig,
    budgets: &[BudgetConfig],
    now: DateTime<Utc>,
) -> Result<usize, NotifyError> {
    let Some(schedule) = &config.showback else { return Ok(0) };
    let today = now.date_naive();
    if today.day() < schedule.day {
        return Ok(0);
    }
    let month = BillingPeriod::containing(today).previous();
    let mut queued = 0;
    for dimension in &schedule.by {
        let key = format!("showback:{month}:{dimension}");
        let mut pending = false;
        for channel in config.channels.iter().filter(|c| c.kinds.contains(&MessageKind::Showback)) {
            pending |= !store.outbox_keys(&channel.name, &key).await?.contains(&key);
        }
        if !pending {
            continue;
        }
        let request = ShowbackRequest { month, dimension: dimension.clone(), value: None, budgets };
        let report = match showback_report(store, &request).await {
            Ok(report) if !report.currencies.is_empty() => report,
            Ok(_) | Err(ReportError::NotAllocated) => continue,
            Err(err) => return Err(err.into()),
        };
        let message = showback_message(&report);
        queued += queue_message(store, &config.channels, &message, &message.subject, now).await?;
        if schedule.per_value {
            let values: std::collections::BTreeSet<&str> =
                report.currencies.iter().flat_map(|c| c.values.iter().map(|v| v.value.as_str())).collect();
            for value in values {
                let request = ShowbackRequest { value: Some(value.to_string()), ..request.clone() };
                let message = showback_message(&showback_report(store, &request).await?);
                queued += queue_message(store, &config.channels, &message, &message.subject, now).await?;
            }
        }
    }
    Ok(queued)
}

/// When a message queued at `now` is due on `channel`: now, or at its next digest.
fn next_digest(channel: &ChannelConfig, now: DateTime<Utc>) -> DateTime<Utc> {
    let at_hour = |day: chrono::NaiveDate| {
        Utc.from_utc_datetime(&day.and_hms_opt(channel.digest_hour, 0, 0).expect("validated hour"))
    };
    match channel.digest {
        Digest::Immediate => now,
        Digest::Daily => {
            let today = at_hour(now.date_naive());
            if today > now { today } else { at_hour(now.date_naive() + Days::new(1)) }
        }
        Digest::Weekly => {
            let days_to_monday = (7 - now.weekday().num_days_from_monday()) % 7;
            let monday = at_hour(now.date_naive() + Days::new(u64::from(days_to_monday)));
            if monday > now { monday } else { monday + chrono::Duration::days(7) }
        }
    }
}

/// What one delivery pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliverySummary {
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
}

/// Delivers the outbox messages due at `now`: each channel's in order, a digest channel's
/// together as one message.
pub async fn deliver_outbox(
    store: &Store,
    config: &NotifyConfig,
    now: DateTime<Utc>,
) -> Result<DeliverySummary, NotifyError> {
    let retry = &config.retry;
    let timeout = Duration::from_secs(retry.timeout_secs);
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("finopsd/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| NotifyError::Client(err.to_string()))?;
    let lease = chrono::Duration::seconds(retry.lease_secs as i64);
    let mut summary = DeliverySummary::default();
    loop {
        let due = store.claim_due_messages(now, lease, 100).await?;
        if due.is_empty() {
            return Ok(summary);
        }
        let mut by_channel: BTreeMap<&str, Vec<&OutboxMessage>> = BTreeMap::new();
        for message in &due {
            by_channel.entry(&message.channel).or_default().push(message);
        }
        for (name, messages) in by_channel {
            let Some(channel) = config.channels.iter().find(|c| c.name == name) else {
                // Its channel left the config: say so once per message, keep it visible.
                for message in messages {
                    let error =
                        format!("channel `{name}` is no longer in the config; `finopsd outbox retry` after adding it");
                    store.record_attempt(message.id, &AttemptOutcome::Dead { error }).await?;
                    summary.dead += 1;
                }
                continue;
            };
            let batches: Vec<Vec<&OutboxMessage>> = if channel.digest == Digest::Immediate {
                messages.into_iter().map(|m| vec![m]).collect()
            } else {
                vec![messages]
            };
            for batch in batches {
                let (message, key) = batch_message(&batch)?;
                let result = channels::send(&http, timeout, channel, &message, &key).await;
                for member in &batch {
                    let outcome = outcome(retry, member.attempts, &result, Utc::now());
                    match &outcome {
                        AttemptOutcome::Delivered => summary.delivered += 1,
                        AttemptOutcome::Retry { error, .. } => {
                            tracing::warn!(channel = name, outbox_id = member.id, attempt = member.attempts + 1, %error, "delivery failed; will retry");
                            summary.retrying += 1;
                        }
                        AttemptOutcome::Dead { error } => {
                            tracing::error!(channel = name, outbox_id = member.id, %error, "delivery given up: dead-lettered (see `finopsd outbox list --status dead`)");
                            summary.dead += 1;
                        }
                    }
                    store.record_attempt(member.id, &outcome).await?;
                }
            }
        }
    }
}

/// The one message a batch sends and its idempotency key: a single message as kept, or a
/// digest of several keyed by its members.
fn batch_message(batch: &[&OutboxMessage]) -> Result<(Message, String), NotifyError> {
    let read = |m: &OutboxMessage| {
        serde_json::from_str::<Message>(&m.message)
            .map_err(|err| NotifyError::Corrupt { id: m.id, problem: err.to_string() })
    };
    if let [single] = batch {
        return Ok((read(single)?, single.idempotency_key.clone()));
    }
    let messages: Vec<Message> = batch.iter().map(|m| read(m)).collect::<Result<_, _>>()?;
    let first = &messages[0];
    let ids: Vec<String> = batch.iter().map(|m| m.id.to_string()).collect();
    let digest = Message {
        kind: first.kind,
        event: MessageEvent::Trigger,
        subject: format!("digest:{}", ids.join(",")),
        severity: messages.iter().filter_map(|m| m.severity.clone()).max_by_key(|s| Severity::from_name(s)),
        dimension: None,
        value: None,
        title: format!("finopsd digest: {} alerts", messages.len()),
        summary: messages.iter().map(|m| format!("• {}", m.title)).collect::<Vec<_>>().join("\n"),
        facts: messages.iter().map(|m| Fact { label: m.title.clone(), value: m.summary.clone() }).collect(),
        causes: Vec::new(),
        feedback: messages.iter().find_map(|m| m.feedback.as_ref()).map(|_| {
            "Was one of these expected? `finopsd anomalies feedback <id> expected|unexpected|planned` teaches the \
             detector."
                .to_string()
        }),
        report: None,
    };
    Ok((digest, format!("digest:{}", ids.join(","))))
}

/// The outcome of an attempt that was the `attempts + 1`-th.
fn outcome(retry: &RetryConfig, attempts: i64, result: &Result<(), SendError>, now: DateTime<Utc>) -> AttemptOutcome {
    match result {
        Ok(()) => AttemptOutcome::Delivered,
        Err(SendError::Refused(error)) => AttemptOutcome::Dead { error: error.clone() },
        Err(SendError::Retry { .. }) if attempts + 1 >= i64::from(retry.max_attempts) => AttemptOutcome::Dead {
            error: format!("{} attempts failed; the last: {}", attempts + 1, retry_error(result)),
        },
        Err(SendError::Retry { after, error }) => {
            let wait = after.unwrap_or_else(|| backoff(retry, attempts));
            AttemptOutcome::Retry {
                at: now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1)),
                error: error.clone(),
            }
        }
    }
}

fn retry_error(result: &Result<(), SendError>) -> &str {
    match result {
        Err(SendError::Retry { error, .. } | SendError::Refused(error)) => error,
        Ok(()) => "",
    }
}

/// Exponential back-off with jitter: `first · 2^attempts`, capped, then a random 50–100% of
/// it, so many messages failing together do not come back together.
fn backoff(retry: &RetryConfig, attempts: i64) -> Duration {
    let exponent = attempts.clamp(0, 20) as u32;
    let full = retry.first_delay_secs.saturating_mul(1 << exponent).min(retry.max_delay_secs).max(1);
    let millis = full * 1000;
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_to_its_cap_with_jitter() {
        let retry = RetryConfig::default();
        for _ in 0..50 {
            let first = backoff(&retry, 0).as_secs_f64();
            assert!((15.0..=30.0).contains(&first), "{first}");
            let capped = backoff(&retry, 12).as_secs_f64();
            assert!((300.0..=600.0).contains(&capped), "{capped}");
        }
    }

    #[test]
    fn the_last_attempt_dead_letters_and_a_refusal_at_once() {
        let retry = RetryConfig { max_attempts: 3, ..RetryConfig::default() };
        let now = Utc::now();
        let failed = Err(SendError::Retry { after: Some(Duration::from_secs(90)), error: "HTTP 429".into() });
        assert_eq!(
            outcome(&retry, 0, &failed, now),
            AttemptOutcome::Retry { at: now + chrono::Duration::seconds(90), error: "HTTP 429".into() },
            "Retry-After decides the wait"
        );
        assert!(matches!(outcome(&retry, 2, &failed, now), AttemptOutcome::Dead { .. }));
        let refused = Err(SendError::Refused("HTTP 404".into()));
        assert!(matches!(outcome(&retry, 0, &refused, now), AttemptOutcome::Dead { .. }));
    }

    #[test]
    fn digests_wait_for_their_hour() {
        let mut channel = ChannelConfig::directory("d", "x".into());
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
        let now = at("2025-06-04T10:00:00Z"); // a Wednesday
        assert_eq!(next_digest(&channel, now), now);
        channel.digest = Digest::Daily;
        assert_eq!(next_digest(&channel, now), at("2025-06-05T08:00:00Z"));
        assert_eq!(next_digest(&channel, at("2025-06-04T07:00:00Z")), at("2025-06-04T08:00:00Z"));
        channel.digest = Digest::Weekly;
        assert_eq!(next_digest(&channel, now), at("2025-06-09T08:00:00Z"));
    }
}
