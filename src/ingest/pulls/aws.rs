//! AWS Cost Explorer: `GetCostAndUsage` daily, grouped by service and a linked account or a
//! tag, every page; unblended cost as BilledCost and amortised cost as EffectiveCost.

use std::path::{Path, PathBuf};

use aws_sdk_costexplorer::types::{DateInterval, Granularity, GroupDefinition, GroupDefinitionType};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{BillingIdentity, PullError, PullOutcome, PullSchedule, PulledCost, pull_due, pull_folder};

/// A `[[daemon.cost_explorer]]` pull.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CostExplorerPull {
    /// Names the pull in logs and its folder.
    pub name: String,
    /// The management (payer) account whose bill this is: the facts' billing account.
    pub account_id: String,
    /// At most two of `SERVICE`, `LINKED_ACCOUNT`, `REGION` and `TAG:<key>` (a Cost Explorer
    /// limit).
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// The first day fetched when nothing was fetched before (at most 13 months back).
    pub start: NaiveDate,
    /// Days before the last one fetched that are fetched again.
    #[serde(default = "default_restatement_days")]
    pub restatement_days: u32,
    /// Seconds between two pulls.
    #[serde(default = "default_pull_every_secs")]
    pub pull_every_secs: u64,
    #[serde(default = "default_region")]
    pub region: String,
    /// Another endpoint than AWS's (a VPC endpoint; a local test server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

fn default_group_by() -> Vec<String> {
    vec!["SERVICE".into(), "LINKED_ACCOUNT".into()]
}

fn default_restatement_days() -> u32 {
    3
}

fn default_pull_every_secs() -> u64 {
    6 * 3600
}

fn default_region() -> String {
    "us-east-1".into()
}

impl CostExplorerPull {
    /// Checks the settings at config load.
    pub fn validate(&self) -> Result<(), String> {
        let at = format!("daemon.cost_explorer {:?}", self.name);
        if self.account_id.len() != 12 || !self.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{at}: account_id must be the 12-digit management account id"));
        }
        if self.group_by.is_empty() || self.group_by.len() > 2 {
            return Err(format!("{at}: group_by takes one or two groupings (a Cost Explorer limit)"));
        }
        for group in &self.group_by {
            self.group_definition(group)?;
        }
        if self.pull_every_secs < 60 {
            return Err(format!("{at}: pull_every_secs below 60 only runs up the Cost Explorer bill"));
        }
        Ok(())
    }

    fn group_definition(&self, group: &str) -> Result<GroupDefinition, String> {
        let (kind, key) = match group.split_once(':') {
            Some(("TAG", key)) if !key.is_empty() => (GroupDefinitionType::Tag, key),
            None if ["SERVICE", "LINKED_ACCOUNT", "REGION"].contains(&group) => (GroupDefinitionType::Dimension, group),
            _ => {
                return Err(format!(
                    "daemon.cost_explorer {:?}: group_by {group:?} is not SERVICE, LINKED_ACCOUNT, REGION or TAG:<key>",
                    self.name
                ));
            }
        };
        Ok(GroupDefinition::builder().r#type(kind).key(key).build())
    }

    /// Where the fetched days are kept, under `root`.
    pub fn folder(&self, root: &Path) -> PathBuf {
        pull_folder(root, "cost-explorer", &self.name)
    }

    /// The source the facts are stored under: its own, so a pull never replaces an export's
    /// billing periods (an account should be pulled or exported, not both).
    pub fn source(&self) -> String {
        format!("aws-cost-explorer:{}", self.account_id)
    }

    /// Pulls the days due, when a pull is due at `now`, into the month files under `root`.
    pub async fn pull(&self, root: &Path, now: DateTime<Utc>) -> Result<PullOutcome, PullError> {
        let schedule = PullSchedule {
            name: &self.name,
            start: self.start,
            restatement_days: self.restatement_days,
            pull_every_secs: self.pull_every_secs,
        };
        let identity = BillingIdentity { provider: "AWS", account_id: self.account_id.clone() };
        pull_due(schedule, self.folder(root), identity, now, |(from, until)| self.request(from, until)).await
    }

    /// Every page of `GetCostAndUsage` for the days `[from, until)`.
    async fn request(&self, from: NaiveDate, until: NaiveDate) -> Result<(Vec<PulledCost>, u64), PullError> {
        let failed = |message: String| PullError::Request {
            name: self.name.clone(),
            message: format!("GetCostAndUsage failed: {message}"),
        };
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(http)
            .region(aws_config::Region::new(self.region.clone()));
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let client = aws_sdk_costexplorer::Client::new(&loader.load().await);
        let period = DateInterval::builder()
            .start(from.to_string())
            .end(until.to_string())
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let groups = self.group_by.iter().map(|g| self.group_definition(g)).collect::<Result<Vec<_>, _>>();
        let groups = groups.map_err(failed)?;
        let (mut days, mut requests, mut token) = (Vec::new(), 0, None::<String>);
        loop {
            let answer = client
                .get_cost_and_usage()
                .time_period(period.clone())
                .granularity(Granularity::Daily)
                .metrics("UnblendedCost")
                .metrics("AmortizedCost")
                .set_group_by(Some(groups.clone()))
                .set_next_page_token(token.take())
                .send()
                .await
                .map_err(|e| failed(aws_sdk_costexplorer::error::DisplayErrorContext(e).to_string()))?;
            requests += 1;
            for result in answer.results_by_time() {
                let start = result.time_period().map(|p| p.start()).unwrap_or_default();
                let day = NaiveDate::parse_from_str(start, "%Y-%m-%d")
                    .map_err(|_| failed(format!("a result's TimePeriod.Start {start:?} is not a date")))?;
                for group in result.groups() {
                    let metric = |name: &str| {
                        let value = group.metrics().and_then(|m| m.get(name));
                        let amount = value.and_then(|v| v.amount()).unwrap_or("0").to_string();
                        (amount, value.and_then(|v| v.unit()).unwrap_or_default().to_string())
                    };
                    let ((unblended, currency), (amortised, amortised_currency)) =
                        (metric("UnblendedCost"), metric("AmortizedCost"));
                    if currency != amortised_currency || currency.len() != 3 {
                        return Err(failed(format!(
                            "{day} {:?}: UnblendedCost in {currency:?} but AmortizedCost in {amortised_currency:?}",
                            group.keys()
                        )));
                    }
                    let mut cost =
                        PulledCost { day, currency, billed: unblended, effective: amortised, ..PulledCost::default() };
                    for (group, key) in self.group_by.iter().zip(group.keys()) {
                        match group.as_str() {
                            "SERVICE" => cost.service = key.clone(),
                            "LINKED_ACCOUNT" => cost.sub_account = key.clone(),
                            "REGION" => cost.region = key.clone(),
                            tag => {
                                // Tag keys come back as `team$payments` (`team$` when untagged).
                                let tag = tag.strip_prefix("TAG:").unwrap_or(tag);
                                let value = key.strip_prefix(&format!("{tag}$")).unwrap_or(key);
                                if !value.is_empty() {
                                    cost.tags.insert(tag.to_string(), value.to_string());
                                }
                            }
                        }
                    }
                    days.push(cost);
                }
            }
            match answer.next_page_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => return Ok((days, requests)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_at_config_load() {
        let pull = CostExplorerPull {
            name: "payer".into(),
            account_id: "111122223333".into(),
            group_by: vec!["SERVICE".into(), "TAG:team".into()],
            start: "2026-11-01".parse().unwrap(),
            restatement_days: 3,
            pull_every_secs: 3600,
            region: "us-east-1".into(),
            endpoint: None,
        };
        assert!(pull.validate().is_ok());
        let three = CostExplorerPull { group_by: vec!["SERVICE".into(); 3], ..pull.clone() };
        assert!(three.validate().unwrap_err().contains("one or two groupings"));
        let typo = CostExplorerPull { group_by: vec!["SERVCE".into()], ..pull.clone() };
        assert!(typo.validate().unwrap_err().contains("\"SERVCE\" is not SERVICE"));
        let account = CostExplorerPull { account_id: "1111".into(), ..pull };
        assert!(account.validate().unwrap_err().contains("12-digit"));
    }
}
