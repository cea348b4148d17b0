//! Azure Cost Management Query (the GA REST API, called with reqwest; `azure_identity` for
//! the token): daily costs of a scope grouped by `ServiceName` and a subscription or a tag,
//! the `ActualCost` dataset as BilledCost and the `AmortizedCost` one as EffectiveCost, every
//! `nextLink` page, and throttled requests (429) retried after the time the API asks for.
//! The request and response shapes are all in this module.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::focus::money::parse_picos;

use super::{BillingIdentity, PullError, PullOutcome, PullSchedule, PulledCost, pull_due, pull_folder};

const API_VERSION: &str = "2023-11-01";
const MANAGEMENT_SCOPE: &str = "https://management.azure.com/.default";
/// Throttled requests are tried this many times in all.
const ATTEMPTS: u32 = 6;
/// The longest wait for a throttled request the pull accepts.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// The headers a 429 names its wait in, most specific first.
const RETRY_AFTER_HEADERS: [&str; 4] = [
    "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after",
    "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after",
    "retry-after",
];

/// How the pull gets its token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AzureCredentialKind {
    /// The managed identity of the VM, App Service or container the daemon runs in.
    #[default]
    ManagedIdentity,
    /// AKS workload identity (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE).
    WorkloadIdentity,
    /// A service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET.
    ClientSecret,
}

/// A `[[daemon.azure_cost]]` pull.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AzureCostPull {
    /// Names the pull in logs and its folder.
    pub name: String,
    /// What is queried: `/subscriptions/<id>` or
    /// `/providers/Microsoft.Billing/billingAccounts/<id>`.
    pub scope: String,
    /// The facts' billing account (the billing account or subscription id the bill is for).
    pub billing_account_id: String,
    /// At most two of `ServiceName`, `SubscriptionId`, `ResourceLocation`, `ResourceGroupName`
    /// and `TagKey:<key>` (an API limit).
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    /// The first day fetched when nothing was fetched before (at most 13 months back).
    pub start: NaiveDate,
    #[serde(default = "default_restatement_days")]
    pub restatement_days: u32,
    #[serde(default = "default_pull_every_secs")]
    pub pull_every_secs: u64,
    #[serde(default)]
    pub credential: AzureCredentialKind,
    /// An environment variable holding a bearer token issued elsewhere (a sidecar, a test),
    /// used instead of `credential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// Another endpoint than `https://management.azure.com` (a sovereign cloud, a test server).
    #[serde(default = "default_endpoint")]
    pub endpoint: String,
}

fn default_group_by() -> Vec<String> {
    vec!["ServiceName".into(), "SubscriptionId".into()]
}

fn default_restatement_days() -> u32 {
    3
}

fn default_pull_every_secs() -> u64 {
    6 * 3600
}

fn default_endpoint() -> String {
    "https://management.azure.com".into()
}

const DIMENSIONS: [&str; 4] = ["ServiceName", "SubscriptionId", "ResourceLocation", "ResourceGroupName"];

/// The dataset queried, and which cost it gives.
#[derive(Debug, Clone, Copy)]
enum Dataset {
    Actual,
    Amortised,
}

impl Dataset {
    fn name(self) -> &'static str {
        match self {
            Dataset::Actual => "ActualCost",
            Dataset::Amortised => "AmortizedCost",
        }
    }
}

/// A Query response page: `properties.columns` name the values of each row.
#[derive(Debug, Deserialize)]
struct QueryResult {
    properties: QueryProperties,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryProperties {
    #[serde(default)]
    next_link: Option<String>,
    columns: Vec<QueryColumn>,
    rows: Vec<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
struct QueryColumn {
    name: String,
}

impl AzureCostPull {
    /// Checks the settings at config load.
    pub fn validate(&self) -> Result<(), String> {
        let at = format!("daemon.azure_cost {:?}", self.name);
        if !self.scope.starts_with('/') {
            return Err(format!(
                "{at}: scope must be a resource id, e.g. /subscriptions/<id> or /providers/Microsoft.Billing/billingAccounts/<id>"
            ));
        }
        if self.group_by.is_empty() || self.group_by.len() > 2 {
            return Err(format!("{at}: group_by takes one or two groupings (an API limit)"));
        }
        if let Some(group) = self.group_by.iter().find(|g| !DIMENSIONS.contains(&g.as_str()) && tag_key(g).is_none()) {
            return Err(format!("{at}: group_by {group:?} is not one of {} or TagKey:<key>", DIMENSIONS.join(", ")));
        }
        if self.pull_every_secs < 60 {
            return Err(format!("{at}: pull_every_secs below 60 only gets the pull throttled"));
        }
        Ok(())
    }

    /// Where the fetched days are kept, under `root`.
    pub fn folder(&self, root: &Path) -> PathBuf {
        pull_folder(root, "azure-cost", &self.name)
    }

    /// The source the facts are stored under: its own, so a pull never replaces an export's
    /// billing periods (a scope should be pulled or exported, not both).
    pub fn source(&self) -> String {
        format!("azure-cost-management:{}", self.billing_account_id)
    }

    /// Pulls the days due, when a pull is due at `now`, into the month files under `root`.
    pub async fn pull(&self, root: &Path, now: DateTime<Utc>) -> Result<PullOutcome, PullError> {
        let schedule = PullSchedule {
            name: &self.name,
            start: self.start,
            restatement_days: self.restatement_days,
            pull_every_secs: self.pull_every_secs,
        };
        let identity = BillingIdentity { provider: "Microsoft", account_id: self.billing_account_id.clone() };
        pull_due(schedule, self.folder(root), identity, now, |range| self.request(range)).await
    }

    /// Both datasets for the days `range`, merged by group and day.
    async fn request(&self, range: (NaiveDate, NaiveDate)) -> Result<(Vec<PulledCost>, u64), PullError> {
        let token = self.token().await?;
        let client =
            reqwest::Client::builder().timeout(Duration::from_secs(120)).build().map_err(|e| self.failed(e))?;
        let (actual, actual_requests) = self.query(&client, &token, Dataset::Actual, range).await?;
        let (amortised, amortised_requests) = self.query(&client, &token, Dataset::Amortised, range).await?;
        Ok((merge(actual, amortised), actual_requests + amortised_requests))
    }

    fn failed(&self, message: impl std::fmt::Display) -> PullError {
        PullError::Request { name: self.name.clone(), message: format!("Cost Management Query: {message}") }
    }

    async fn token(&self) -> Result<String, PullError> {
        if let Some(variable) = &self.token_env {
            return std::env::var(variable).map_err(|_| self.failed(format!("token_env {variable} is not set")));
        }
        let credential: Arc<dyn TokenCredential> = match self.credential {
            AzureCredentialKind::ManagedIdentity => {
                azure_identity::ManagedIdentityCredential::new(None).map_err(|e| self.failed(e))?
            }
            AzureCredentialKind::WorkloadIdentity => {
                azure_identity::WorkloadIdentityCredential::new(None).map_err(|e| self.failed(e))?
            }
            AzureCredentialKind::ClientSecret => {
                let variable = |name: &str| std::env::var(name).map_err(|_| self.failed(format!("{name} is not set")));
                let (tenant, client, secret) =
                    (variable("AZURE_TENANT_ID")?, variable("AZURE_CLIENT_ID")?, variable("AZURE_CLIENT_SECRET")?);
                azure_identity::ClientSecretCredential::new(&tenant, client, secret.into(), None)
                    .map_err(|e| self.failed(e))?
            }
        };
        let token = credential.get_token(&[MANAGEMENT_SCOPE], None).await.map_err(|e| self.failed(e))?;
        Ok(token.token.secret().to_string())
    }

    /// Every page of one dataset for the days `[from, until)`, by group.
    async fn query(
        &self,
        client: &reqwest::Client,
        token: &str,
        dataset: Dataset,
        (from, until): (NaiveDate, NaiveDate),
    ) -> Result<(BTreeMap<PulledCost, String>, u64), PullError> {
        let last = until.pred_opt().expect("a day before");
        let grouping: Vec<Value> = self
            .group_by
            .iter()
            .map(|group| match tag_key(group) {
                Some(tag) => json!({ "type": "TagKey", "name": tag }),
                None => json!({ "type": "Dimension", "name": group }),
            })
            .collect();
        let body = json!({
            "type": dataset.name(),
            "timeframe": "Custom",
            "timePeriod": { "from": format!("{from}T00:00:00+00:00"), "to": format!("{last}T23:59:59+00:00") },
            "dataset": {
                "granularity": "Daily",
                "aggregation": { "totalCost": { "name": "Cost", "function": "Sum" } },
                "grouping": grouping,
            },
        });
        let mut url = format!(
            "{}{}/providers/Microsoft.CostManagement/query?api-version={API_VERSION}",
            self.endpoint.trim_end_matches('/'),
            self.scope.trim_end_matches('/')
        );
        let (mut costs, mut requests) = (BTreeMap::new(), 0);
        loop {
            let page = self.post(client, token, &url, &body).await?;
            requests += 1;
            self.read_page(&page.properties, &mut costs)?;
            match page.properties.next_link {
                Some(next) if !next.is_empty() => url = next,
                _ => return Ok((costs, requests)),
            }
        }
    }

    /// One request, tried again after the wait a 429 asks for.
    async fn post(
        &self,
        client: &reqwest::Client,
        token: &str,
        url: &str,
        body: &Value,
    ) -> Result<QueryResult, PullError> {
        for attempt in 1..=ATTEMPTS {
            let response = client.post(url).bearer_auth(token).json(body).send().await.map_err(|e| self.failed(e))?;
            let status = response.status();
            if status == reqwest::StatusCode::TOO_MANY_REQUESTS && attempt < ATTEMPTS {
                let wait = retry_after(response.headers());
                if wait > MAX_RETRY_AFTER {
                    return Err(self.failed(format!("throttled for {} s; the next run tries again", wait.as_secs())));
                }
                tracing::info!(pull = %self.name, wait_secs = wait.as_secs(), attempt, "throttled by Cost Management; waiting");
                tokio::time::sleep(wait).await;
                continue;
            }
            let text = response.text().await.map_err(|e| self.failed(e))?;
            if !status.is_success() {
                let text: String = text.chars().take(500).collect();
                return Err(self.failed(format!("{status}: {text}")));
            }
            return serde_json::from_str(&text).map_err(|e| self.failed(format!("unexpected response: {e}")));
        }
        Err(self.failed(format!("still throttled after {ATTEMPTS} attempts; the next run tries again")))
    }

    /// Adds a page's rows to `costs`, the columns found by name.
    fn read_page(&self, page: &QueryProperties, costs: &mut BTreeMap<PulledCost, String>) -> Result<(), PullError> {
        let column =
            |names: &[&str]| page.columns.iter().position(|c| names.iter().any(|n| c.name.eq_ignore_ascii_case(n)));
        let missing = |name: &str| self.failed(format!("the response has no {name} column"));
        let cost = column(&["Cost", "PreTaxCost"]).ok_or_else(|| missing("Cost"))?;
        let date = column(&["UsageDate"]).ok_or_else(|| missing("UsageDate"))?;
        let currency = column(&["Currency"]).ok_or_else(|| missing("Currency"))?;
        let (tag_key_column, tag_value_column) = (column(&["TagKey"]), column(&["TagValue"]));
        // Where each grouping's value is, found once per page rather than per row.
        let grouped = |group: &str| if self.group_by.iter().any(|g| g == group) { column(&[group]) } else { None };
        let (service, subscription, location) =
            (grouped("ServiceName"), grouped("SubscriptionId"), grouped("ResourceLocation"));
        let grouped_by_tag = self.group_by.iter().any(|group| tag_key(group).is_some());
        let text = |row: &[Value], i: usize| match row.get(i) {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        for row in &page.rows {
            let usage_date = text(row, date);
            let day = NaiveDate::parse_from_str(&usage_date, "%Y%m%d")
                .or_else(|_| NaiveDate::parse_from_str(usage_date.get(..10).unwrap_or_default(), "%Y-%m-%d"))
                .map_err(|_| self.failed(format!("UsageDate {usage_date:?} is not a day")))?;
            // The amount's JSON text, exactly as sent (no float on the way).
            let amount = match row.get(cost) {
                Some(Value::Number(number)) => number.to_string(),
                Some(Value::String(text)) => text.clone(),
                other => return Err(self.failed(format!("Cost {other:?} is not a number"))),
            };
            // The group with its amounts left empty: the key the two datasets meet on.
            let value = |at: Option<usize>| at.map(|i| text(row, i)).unwrap_or_default();
            let mut key = PulledCost {
                day,
                currency: text(row, currency),
                service: value(service),
                sub_account: value(subscription),
                region: value(location),
                ..PulledCost::default()
            };
            if grouped_by_tag && let (Some(k), Some(v)) = (tag_key_column, tag_value_column) {
                let (tag, value) = (text(row, k), text(row, v));
                if !tag.is_empty() && !value.is_empty() {
                    key.tags.insert(tag, value);
                }
            }
            // Rows of a group split across pages, or a grouping left out, add up.
            let sum = match costs.remove(&key) {
                Some(before) => {
                    add_decimals(&before, &amount).ok_or_else(|| self.failed(format!("Cost {amount:?}")))?
                }
                None => amount,
            };
            costs.insert(key, sum);
        }
        Ok(())
    }
}

fn tag_key(group: &str) -> Option<&str> {
    group.strip_prefix("TagKey:").filter(|key| !key.is_empty())
}

/// The wait a 429 asks for, in whole seconds (one second when it names none).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    RETRY_AFTER_HEADERS
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok()?.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
}

/// Two amounts as the API writes them (`12.5`, `5.6E-05`) summed exactly to the pico-unit
/// ingest reads, as decimal text.
fn add_decimals(a: &str, b: &str) -> Option<String> {
    let picos = parse_picos(a.as_bytes())?.checked_add(parse_picos(b.as_bytes())?)?;
    let sign = if picos < 0 { "-" } else { "" };
    let (whole, fraction) = (picos.abs() / 1_000_000_000_000, picos.abs() % 1_000_000_000_000);
    Some(format!("{sign}{whole}.{fraction:012}"))
}

/// One row per group and day with both costs; a group only one dataset has costs 0 in the
/// other (an unused reservation is amortised only; its purchase is actual only).
fn merge(actual: BTreeMap<PulledCost, String>, amortised: BTreeMap<PulledCost, String>) -> Vec<PulledCost> {
    let mut both: BTreeMap<PulledCost, (String, String)> = BTreeMap::new();
    for (key, cost) in actual {
        both.entry(key).or_insert_with(|| ("0".into(), "0".into())).0 = cost;
    }
    for (key, cost) in amortised {
        both.entry(key).or_insert_with(|| ("0".into(), "0".into())).1 = cost;
    }
    both.into_iter().map(|(key, (billed, effective))| PulledCost { billed, effective, ..key }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_add_up_exactly_whatever_their_notation() {
        assert_eq!(add_decimals("12.5", "5.64902E-05").as_deref(), Some("12.500056490200"));
        assert_eq!(add_decimals("-1", "0.25").as_deref(), Some("-0.750000000000"));
        assert_eq!(add_decimals("1", "lots"), None);
    }

    #[test]
    fn a_throttled_request_waits_what_cost_management_asks() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&headers), Duration::from_secs(1));
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Duration::from_secs(7));
        headers.insert("x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after", "42".parse().unwrap());
        assert_eq!(retry_after(&headers), Duration::from_secs(42));
    }

    #[test]
    fn settings_are_checked_at_config_load() {
        let pull = AzureCostPull {
            name: "contoso".into(),
            scope: "/subscriptions/sub-1".into(),
            billing_account_id: "8611537".into(),
            group_by: default_group_by(),
            start: "2026-11-01".parse().unwrap(),
            restatement_days: 3,
            pull_every_secs: 3600,
            credential: AzureCredentialKind::ManagedIdentity,
            token_env: None,
            endpoint: default_endpoint(),
        };
        assert!(pull.validate().is_ok());
        let tag = AzureCostPull { group_by: vec!["ServiceName".into(), "TagKey:team".into()], ..pull.clone() };
        assert!(tag.validate().is_ok());
        let typo = AzureCostPull { group_by: vec!["Service".into()], ..pull.clone() };
        assert!(typo.validate().unwrap_err().contains("\"Service\" is not one of ServiceName"));
        let scope = AzureCostPull { scope: "sub-1".into(), ..pull };
        assert!(scope.validate().unwrap_err().contains("scope must be a resource id"));
    }
}
