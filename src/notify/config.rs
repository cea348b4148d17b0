//! `[notify]`: the channels messages go to, what each one receives, and the retry policy.
//! Secrets (webhook URLs, routing keys, signing secrets) are named, never written: each is
//! `{ env = "NAME" }` or `{ file = "/run/secrets/name" }`, read at delivery.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::NotifyError;
use super::message::{Message, MessageKind};
use crate::detect::Severity;

pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelConfig>,
    pub retry: RetryConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub showback: Option<ShowbackSchedule>,
}

/// The monthly showback report: queued on `day` of the following month, once the month's
/// invoices have settled, to every channel that takes reports.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ShowbackSchedule {
    /// Day of the following month, 1-28.
    #[serde(default = "default_showback_day")]
    pub day: u32,
    /// The dimensions to report by, one report each.
    #[serde(default = "default_showback_by")]
    pub by: Vec<String>,
    /// Also each value's own report, to the channels routed to that value.
    #[serde(default)]
    pub per_value: bool,
}

fn default_showback_day() -> u32 {
    5
}

fn default_showback_by() -> Vec<String> {
    vec!["team".into()]
}

/// How often and how long an undeliverable message is retried before it is dead-lettered.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub max_attempts: u32,
    /// The wait after the first failure; it doubles per attempt up to `max_delay_secs`, with
    /// jitter, unless the receiver says when (429 `Retry-After`).
    pub first_delay_secs: u64,
    pub max_delay_secs: u64,
    /// How long a delivering process holds a message before another may take it.
    pub lease_secs: u64,
    pub timeout_secs: u64,
}

impl Default for RetryConfig {
    /// 20 attempts, 30 s doubling to 10 min: about 2.7 hours, so a receiver down for an hour
    /// still gets every message, within ten minutes of coming back.
    fn default() -> Self {
        RetryConfig { max_attempts: 20, first_delay_secs: 30, max_delay_secs: 600, lease_secs: 120, timeout_secs: 15 }
    }
}

/// Where a secret is read from at delivery.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum Secret {
    Env(String),
    File(PathBuf),
}

impl Secret {
    /// The secret's value; errors name where it was looked for, never what it holds.
    pub fn resolve(&self) -> Result<String, NotifyError> {
        let value = match self {
            Secret::Env(name) => {
                std::env::var(name).map_err(|_| NotifyError::MissingSecret(format!("environment variable {name}")))?
            }
            Secret::File(path) => std::fs::read_to_string(path)
                .map_err(|err| NotifyError::MissingSecret(format!("file {} ({err})", path.display())))?,
        };
        let value = value.trim().to_string();
        if value.is_empty() {
            return Err(NotifyError::MissingSecret(match self {
                Secret::Env(name) => format!("environment variable {name} (empty)"),
                Secret::File(path) => format!("file {} (empty)", path.display()),
            }));
        }
        Ok(value)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UrlTarget {
    pub url: Secret,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    pub url: Secret,
    /// Signs every request (`X-Finopsd-Signature`) when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<Secret>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyTarget {
    /// The integration's routing key.
    pub routing_key: Secret,
    #[serde(default = "pagerduty_url")]
    pub url: String,
}

fn pagerduty_url() -> String {
    PAGERDUTY_EVENTS_URL.into()
}

/// Email through an SMTP relay. The connection is always upgraded with STARTTLS before
/// anything is sent; a relay that does not offer it is refused.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailTarget {
    pub host: String,
    #[serde(default = "submission_port")]
    pub port: u16,
    /// e.g. `finopsd <finops@example.com>`.
    pub from: String,
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// A PEM certificate authority to trust besides the system's (a private relay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

fn submission_port() -> u16 {
    587
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirectoryTarget {
    pub path: PathBuf,
}

/// When a channel's messages go out.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Digest {
    /// Each message as soon as it is queued.
    #[default]
    Immediate,
    /// Together, once a day at `digest_hour` UTC.
    Daily,
    /// Together, on Mondays at `digest_hour` UTC.
    Weekly,
}

fn all_kinds() -> Vec<MessageKind> {
    vec![MessageKind::Anomaly, MessageKind::Budget, MessageKind::Showback]
}

fn default_digest_hour() -> u32 {
    8
}

/// One destination, with what it receives. Exactly one of `slack`, `teams`, `pagerduty`,
/// `webhook`, `email` and `directory` says where.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<UrlTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teams: Option<UrlTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagerduty: Option<PagerDutyTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailTarget>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryTarget>,
    /// Which messages: `anomaly`, `budget`, `showback` (all by default).
    #[serde(default = "all_kinds")]
    pub kinds: Vec<MessageKind>,
    /// Anomalies below this severity are not sent here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    /// Only messages about these values, e.g. `{ team = ["payments"] }`: each team's alerts
    /// to its own channel. Empty: every value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub digest: Digest,
    #[serde(default = "default_digest_hour")]
    pub digest_hour: u32,
}

/// A channel's destination.
pub enum Target<'a> {
    Slack(&'a UrlTarget),
    Teams(&'a UrlTarget),
    PagerDuty(&'a PagerDutyTarget),
    Webhook(&'a WebhookTarget),
    Email(&'a EmailTarget),
    Directory(&'a DirectoryTarget),
}

impl ChannelConfig {
    /// A directory sink receiving everything.
    pub fn directory(name: &str, path: PathBuf) -> ChannelConfig {
        ChannelConfig {
            name: name.into(),
            slack: None,
            teams: None,
            pagerduty: None,
            webhook: None,
            email: None,
            directory: Some(DirectoryTarget { path }),
            kinds: all_kinds(),
            min_severity: None,
            values: BTreeMap::new(),
            digest: Digest::Immediate,
            digest_hour: default_digest_hour(),
        }
    }

    pub fn target(&self) -> Result<Target<'_>, String> {
        let targets: Vec<Target<'_>> = [
            self.slack.as_ref().map(Target::Slack),
            self.teams.as_ref().map(Target::Teams),
            self.pagerduty.as_ref().map(Target::PagerDuty),
            self.webhook.as_ref().map(Target::Webhook),
            self.email.as_ref().map(Target::Email),
            self.directory.as_ref().map(Target::Directory),
        ]
        .into_iter()
        .flatten()
        .collect();
        match targets.len() {
            1 => Ok(targets.into_iter().next().expect("one")),
            0 => Err(format!(
                "notify channel `{}` says nowhere to send: give one of slack, teams, pagerduty, webhook, email, directory",
                self.name
            )),
            _ => Err(format!(
                "notify channel `{}` has more than one of slack, teams, pagerduty, webhook, email, directory",
                self.name
            )),
        }
    }

    pub fn is_pagerduty(&self) -> bool {
        self.pagerduty.is_some()
    }

    /// Whether `message` is for this channel: its kind, severity and value. PagerDuty pages
    /// people: it never gets reports. A whole report goes to channels of no value in
    /// particular, a value's own report only to that value's channels.
    pub fn routes(&self, message: &Message) -> bool {
        if !self.kinds.contains(&message.kind) {
            return false;
        }
        if message.kind == MessageKind::Showback
            && (self.is_pagerduty() || self.values.is_empty() != message.value.is_none())
        {
            return false;
        }
        if let (Some(min), MessageKind::Anomaly) = (self.min_severity, message.kind)
            && message.severity.as_deref().and_then(Severity::from_name).is_none_or(|s| s < min)
        {
            return false;
        }
        if self.values.is_empty() {
            return true;
        }
        match (&message.dimension, &message.value) {
            (Some(dimension), Some(value)) => self.values.get(dimension).is_some_and(|values| values.contains(value)),
            // A whole report is about every value: it goes to channels of none in particular.
            _ => false,
        }
    }
}

/// Channel names are unique and each says exactly one place; the showback schedule names
/// allocation dimensions.
pub fn validate(config: &NotifyConfig, dimensions: &[&str]) -> Result<(), String> {
    if let Some(schedule) = &config.showback {
        if !(1..=28).contains(&schedule.day) {
            return Err(format!("notify.showback.day is {}; it must be 1-28 (a day every month has)", schedule.day));
        }
        if let Some(unknown) = schedule.by.iter().find(|d| !dimensions.contains(&d.as_str())) {
            return Err(format!(
                "notify.showback.by names `{unknown}`, which is not an allocation dimension; the config has: {}",
                dimensions.join(", ")
            ));
        }
    }
    for (i, channel) in config.channels.iter().enumerate() {
        if channel.name.trim().is_empty() {
            return Err("a notify channel has an empty name".into());
        }
        if config.channels[..i].iter().any(|c| c.name == channel.name) {
            return Err(format!(
                "notify channel `{}` is named twice; messages are kept per channel name",
                channel.name
            ));
        }
        if let Target::Email(email) = channel.target()? {
            let address = |text: &str| {
                text.parse::<lettre::message::Mailbox>().map(|_| ()).map_err(|err| {
                    format!("notify channel `{}`: `{text}` is not an email address: {err}", channel.name)
                })
            };
            address(&email.from)?;
            if email.to.is_empty() {
                return Err(format!("notify channel `{}`: email.to names nobody", channel.name));
            }
            email.to.iter().try_for_each(|to| address(to))?;
        }
        if channel.digest_hour > 23 {
            return Err(format!("notify channel `{}`: digest_hour must be 0-23 (UTC)", channel.name));
        }
    }
    if config.retry.max_attempts == 0 {
        return Err("notify.retry.max_attempts must be at least 1".into());
    }
    Ok(())
}
