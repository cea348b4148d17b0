//! AWS Cost Explorer pulls, for accounts that have no billing export: `GetCostAndUsage`
//! daily, grouped by service and a linked account or a tag, unblended cost as BilledCost and
//! amortised cost as EffectiveCost (Cost Explorer gives no list cost: ListCost is 0).
//!
//! Every request is billed by AWS, so only the days not fetched yet are asked for, plus a
//! restatement window (AWS revises recent days for a while), and no more often than
//! `pull_every_secs`. The days fetched are kept as one FOCUS file per month in a local folder,
//! which is what gets ingested: a month's file is always complete, so replacing the billing
//! period with it never drops the days fetched earlier. The folder also records how far the
//! pulls got, so a restart resumes there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_costexplorer::types::{DateInterval, Granularity, GroupDefinition, GroupDefinitionType};
use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::focus::BillingPeriod;

/// Cost Explorer keeps 14 months of daily data; older days are refused.
const HISTORY_MONTHS: u32 = 13;
const STATE_FILE: &str = ".finopsd-cost-explorer.json";
const HEADER: &str = "ChargePeriodStart,ChargePeriodEnd,BillingPeriodStart,ProviderName,BillingAccountId,SubAccountId,\
ServiceName,RegionId,ServiceSubcategory,ChargeCategory,BillingCurrency,BilledCost,EffectiveCost,ListCost,InvoiceId,Tags";

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

#[derive(Debug, thiserror::Error)]
pub enum CostExplorerError {
    #[error("cost_explorer {name:?}: GetCostAndUsage failed: {message}")]
    Request { name: String, message: String },
    #[error("cost_explorer {name:?}: cannot keep the fetched days in {path}: {source}")]
    Folder { name: String, path: PathBuf, source: std::io::Error },
}

/// How far the pulls got.
#[derive(Debug, Default, Deserialize, Serialize)]
struct PullState {
    /// The day after the last day fetched.
    fetched_until: Option<NaiveDate>,
    last_pull: Option<DateTime<Utc>>,
}

/// What one pull did.
#[derive(Debug, Default)]
pub struct PullOutcome {
    /// `GetCostAndUsage` requests made (pages).
    pub requests: u64,
    /// Month files rewritten.
    pub months: usize,
}

/// One group of one day, as Cost Explorer answers it: the fields it was grouped by are set,
/// the others empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct DayCost {
    day: NaiveDate,
    linked_account: String,
    service: String,
    region: String,
    tags: BTreeMap<String, String>,
    currency: String,
    unblended: String,
    amortised: String,
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
        let name: String =
            self.name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
        root.join(format!("cost-explorer-{name}"))
    }

    /// The source the facts are stored under: its own, so a pull never replaces an export's
    /// billing periods (an account should be pulled or exported, not both).
    pub fn source(&self) -> String {
        format!("aws-cost-explorer:{}", self.account_id)
    }

    /// Pulls the days due, when a pull is due at `now`, into the month files under `root`.
    pub async fn pull(&self, root: &Path, now: DateTime<Utc>) -> Result<PullOutcome, CostExplorerError> {
        let folder = self.folder(root);
        let folder_error = |path: &Path, source| CostExplorerError::Folder {
            name: self.name.clone(),
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&folder).map_err(|e| folder_error(&folder, e))?;
        let state_path = folder.join(STATE_FILE);
        let mut state: PullState =
            std::fs::read(&state_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        if state.last_pull.is_some_and(|at| (now - at).num_seconds() < self.pull_every_secs as i64) {
            return Ok(PullOutcome::default());
        }
        let today = now.date_naive();
        let Some((from, until)) = fetch_range(self.start, state.fetched_until, self.restatement_days, today) else {
            return Ok(PullOutcome::default());
        };
        let (days, requests) = self.request(from, until).await?;
        let mut months = 0;
        let mut month = BillingPeriod::containing(from);
        while month.first_day() < until {
            let path = folder.join(format!("{month}.csv"));
            let kept = read_month(&path).map_err(|e| folder_error(&path, e))?;
            let kept = kept.into_iter().filter(|d| d.day < from || d.day >= until);
            let fetched = days.iter().filter(|d| BillingPeriod::containing(d.day) == month).cloned();
            let mut all: Vec<DayCost> = kept.chain(fetched).collect();
            all.sort();
            write_month(&path, &self.month_file(&all)).map_err(|e| folder_error(&path, e))?;
            months += 1;
            month = BillingPeriod::containing(month.end());
        }
        state.fetched_until = Some(until);
        state.last_pull = Some(now);
        let temporary = folder.join(format!("{STATE_FILE}.partial"));
        std::fs::write(&temporary, serde_json::to_vec(&state).expect("state serialises"))
            .and_then(|()| std::fs::rename(&temporary, &state_path))
            .map_err(|e| folder_error(&state_path, e))?;
        tracing::info!(pull = %self.name, %from, %until, requests, groups = days.len(), months, "Cost Explorer days fetched");
        Ok(PullOutcome { requests, months })
    }

    /// Every page of `GetCostAndUsage` for the days `[from, until)`.
    async fn request(&self, from: NaiveDate, until: NaiveDate) -> Result<(Vec<DayCost>, u64), CostExplorerError> {
        let failed = |message: String| CostExplorerError::Request { name: self.name.clone(), message };
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
                    let mut cost = DayCost { day, currency, unblended, amortised, ..DayCost::default() };
                    for (group, key) in self.group_by.iter().zip(group.keys()) {
                        match group.as_str() {
                            "SERVICE" => cost.service = key.clone(),
                            "LINKED_ACCOUNT" => cost.linked_account = key.clone(),
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

    /// A month's days as a FOCUS 1.2 file.
    fn month_file(&self, days: &[DayCost]) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(HEADER.split(',')).expect("in memory");
        for day in days {
            let service = if day.service.is_empty() { "All services" } else { day.service.as_str() };
            let category = if service == "Tax" { "Tax" } else { "Usage" };
            let next = day.day.succ_opt().expect("a day after");
            let month = BillingPeriod::containing(day.day).first_day();
            writer
                .write_record([
                    format!("{}T00:00:00Z", day.day),
                    format!("{next}T00:00:00Z"),
                    format!("{month}T00:00:00Z"),
                    "AWS".into(),
                    self.account_id.clone(),
                    day.linked_account.clone(),
                    service.into(),
                    day.region.clone(),
                    String::new(),
                    category.into(),
                    day.currency.clone(),
                    day.unblended.clone(),
                    day.amortised.clone(),
                    String::new(),
                    String::new(),
                    serde_json::to_string(&day.tags).expect("tags serialise"),
                ])
                .expect("in memory");
        }
        String::from_utf8(writer.into_inner().expect("in memory")).expect("UTF-8 in, UTF-8 out")
    }
}

/// The days to fetch: from the day after the last one fetched, less the restatement window
/// (or from `start`), to yesterday; never older than Cost Explorer keeps. `None` when there
/// is nothing to fetch.
fn fetch_range(
    start: NaiveDate,
    fetched_until: Option<NaiveDate>,
    restatement_days: u32,
    today: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    let oldest = (today - Months::new(HISTORY_MONTHS)).with_day(1).expect("the first of a month");
    let from = match fetched_until {
        Some(until) => (until - chrono::Days::new(restatement_days.into())).max(start),
        None => start,
    };
    let from = from.max(oldest);
    (from < today).then_some((from, today))
}

/// The days a month file holds (none when it does not exist yet).
fn read_month(path: &Path) -> std::io::Result<Vec<DayCost>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut days = Vec::new();
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidData, message);
    for record in csv::Reader::from_reader(file).records() {
        let record = record.map_err(|e| invalid(e.to_string()))?;
        let day = record[0].get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let day = day.ok_or_else(|| invalid(format!("{:?} is not a day", &record[0])))?;
        let service = if &record[6] == "All services" { String::new() } else { record[6].to_string() };
        days.push(DayCost {
            day,
            linked_account: record[5].to_string(),
            service,
            region: record[7].to_string(),
            tags: serde_json::from_str(&record[15]).map_err(|e| invalid(e.to_string()))?,
            currency: record[10].to_string(),
            unblended: record[11].to_string(),
            amortised: record[12].to_string(),
        });
    }
    Ok(days)
}

fn write_month(path: &Path, text: &str) -> std::io::Result<()> {
    let name = path.file_name().expect("a month file").to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn only_days_not_fetched_and_the_restatement_window_are_asked_for() {
        let today = day("2026-12-04");
        // Nothing fetched: from the start, to yesterday (the end is exclusive).
        assert_eq!(fetch_range(day("2026-11-01"), None, 3, today), Some((day("2026-11-01"), today)));
        // Fetched up to yesterday: the last three days again.
        assert_eq!(fetch_range(day("2026-11-01"), Some(today), 3, today), Some((day("2026-12-01"), today)));
        // Never before the start, never older than Cost Explorer keeps.
        assert_eq!(fetch_range(day("2026-12-03"), Some(day("2026-12-04")), 3, today), Some((day("2026-12-03"), today)));
        assert_eq!(fetch_range(day("2020-01-01"), None, 3, today), Some((day("2025-11-01"), today)));
        assert_eq!(fetch_range(day("2026-12-04"), None, 3, today), None);
    }

    #[test]
    fn a_month_file_reads_back_as_written() {
        let pull = CostExplorerPull {
            name: "payer".into(),
            account_id: "111122223333".into(),
            group_by: vec!["SERVICE".into(), "TAG:team".into()],
            start: day("2026-11-01"),
            restatement_days: 3,
            pull_every_secs: 3600,
            region: "us-east-1".into(),
            endpoint: None,
        };
        let days = vec![
            DayCost {
                day: day("2026-11-01"),
                service: "Amazon Elastic Compute Cloud - Compute".into(),
                tags: [("team".to_string(), "pay, \"ments\"".to_string())].into(),
                currency: "USD".into(),
                unblended: "10.0000012345".into(),
                amortised: "9.5".into(),
                ..DayCost::default()
            },
            DayCost {
                day: day("2026-11-02"),
                linked_account: "444455556666".into(),
                currency: "USD".into(),
                unblended: "-1".into(),
                amortised: "0".into(),
                ..DayCost::default()
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2026-11.csv");
        write_month(&path, &pull.month_file(&days)).unwrap();
        assert_eq!(read_month(&path).unwrap(), days);
        assert!(read_month(&dir.path().join("2026-10.csv")).unwrap().is_empty());
        assert!(pull.validate().is_ok());
        let three = CostExplorerPull { group_by: vec!["SERVICE".into(); 3], ..pull.clone() };
        assert!(three.validate().unwrap_err().contains("one or two groupings"));
        let typo = CostExplorerPull { group_by: vec!["SERVCE".into()], ..pull };
        assert!(typo.validate().unwrap_err().contains("\"SERVCE\" is not SERVICE"));
    }
}
