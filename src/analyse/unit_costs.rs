//! Unit costs: allocated spend divided by what it bought — requests, customers, GB — from
//! unit-metric feeds (CSV files and Prometheus), per day and per month.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{Days, NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

use super::AnalysisError;
use crate::focus::{BillingPeriod, Money};
use crate::store::{Store, UnitMetric};

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct UnitCostConfig {
    /// Where the quantities come from; each feed's pull replaces what it held for its days.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub feeds: Vec<UnitMetricFeed>,
}

/// One feed: a CSV file (`csv = "path"`) or a Prometheus query (`[…prometheus]`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UnitMetricFeed {
    /// Names the feed in the store, e.g. `requests`.
    pub name: String,
    /// A CSV file (relative to the config file) with the header
    /// `date,dimension,value,metric,quantity`, one row per day, dimension value and metric,
    /// e.g. `2025-03-02,service,checkout,requests,1250000`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csv: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusFeed>,
}

/// A PromQL query evaluated once per day at midnight UTC: the value at the midnight that
/// ends a day is that day's quantity, so use a 1-day window, e.g.
/// `sum by (service) (increase(http_requests_total[1d]))`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PrometheusFeed {
    /// The server, e.g. `http://prometheus:9090`.
    pub url: String,
    pub query: String,
    /// The metric's name in reports, e.g. `requests`.
    pub metric: String,
    /// The allocation dimension the quantities belong to, e.g. `service`.
    pub dimension: String,
    /// The label whose value is the dimension value (e.g. `service`) …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_label: Option<String>,
    /// … or one fixed dimension value for every series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Days fetched back from yesterday on each pull (late samples are picked up).
    #[serde(default = "default_days")]
    pub days: u32,
}

fn default_days() -> u32 {
    35
}

impl UnitCostConfig {
    pub fn validate(&self) -> Result<(), String> {
        let mut names = HashSet::new();
        for feed in &self.feeds {
            if !names.insert(feed.name.as_str()) {
                return Err(format!("unit_costs feed `{}` is defined twice", feed.name));
            }
            match (&feed.csv, &feed.prometheus) {
                (Some(_), None) => {}
                (None, Some(prometheus)) => {
                    if prometheus.value_label.is_some() == prometheus.value.is_some() {
                        return Err(format!(
                            "unit_costs feed `{}`: give exactly one of prometheus.value_label and prometheus.value",
                            feed.name
                        ));
                    }
                    if prometheus.days == 0 {
                        return Err(format!("unit_costs feed `{}`: prometheus.days must be at least 1", feed.name));
                    }
                }
                _ => return Err(format!("unit_costs feed `{}`: give exactly one of csv and prometheus", feed.name)),
            }
        }
        Ok(())
    }
}

/// Reads a unit-metric CSV file whole, checking every row.
pub fn read_metrics_csv(path: &Path) -> Result<Vec<UnitMetric>, AnalysisError> {
    let bad = |row: usize, column: &str, problem: String| AnalysisError::Feed {
        feed: path.display().to_string(),
        problem: format!("row {row}, column {column}: {problem}"),
    };
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(|e| {
        AnalysisError::Feed { feed: path.display().to_string(), problem: format!("cannot be read: {e}") }
    })?;
    const HEADER: [&str; 5] = ["date", "dimension", "value", "metric", "quantity"];
    let header = reader.headers().map_err(|e| bad(1, "header", e.to_string()))?.clone();
    if header.iter().collect::<Vec<_>>() != HEADER {
        return Err(bad(
            1,
            "header",
            format!("expected `{}`, found `{}`", HEADER.join(","), header.iter().collect::<Vec<_>>().join(",")),
        ));
    }
    let mut metrics = Vec::new();
    let mut seen = HashSet::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let record = record.map_err(|e| bad(row, "-", e.to_string()))?;
        let field = |c: usize| record.get(c).unwrap_or("");
        let date: NaiveDate =
            field(0).parse().map_err(|_| bad(row, "date", format!("`{}` is not a date (YYYY-MM-DD)", field(0))))?;
        for (c, name) in [(1, "dimension"), (2, "value"), (3, "metric")] {
            if field(c).is_empty() {
                return Err(bad(row, name, "is empty".into()));
            }
        }
        let quantity: f64 = field(4)
            .parse()
            .ok()
            .filter(|q: &f64| q.is_finite() && *q >= 0.0)
            .ok_or_else(|| bad(row, "quantity", format!("`{}` is not a quantity of at least 0", field(4))))?;
        let metric =
            UnitMetric { date, dimension: field(1).into(), value: field(2).into(), metric: field(3).into(), quantity };
        if !seen.insert((metric.date, metric.dimension.clone(), metric.value.clone(), metric.metric.clone())) {
            return Err(bad(row, "date", format!("a second row for {date} {}={} {}", field(1), field(2), field(3))));
        }
        metrics.push(metric);
    }
    Ok(metrics)
}

#[derive(Deserialize)]
struct QueryRangeResponse {
    status: String,
    #[serde(default)]
    data: Option<QueryRangeData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct QueryRangeData {
    result: Vec<RangeSeries>,
}

#[derive(Deserialize)]
struct RangeSeries {
    metric: BTreeMap<String, String>,
    /// `[unix seconds, "value"]` pairs.
    values: Vec<(f64, String)>,
}

/// The days `from..=to` of a Prometheus feed, through the HTTP API's `query_range`.
pub async fn fetch_prometheus(
    feed: &str,
    prometheus: &PrometheusFeed,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UnitMetric>, AnalysisError> {
    let failed = |problem: String| AnalysisError::Feed { feed: feed.to_string(), problem };
    // The sample at the midnight ending day D is day D's quantity.
    let midnight_after = |day: NaiveDate| (day + Days::new(1)).and_time(NaiveTime::MIN).and_utc().timestamp();
    let url = format!("{}/api/v1/query_range", prometheus.url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&url)
        .query(&[
            ("query", prometheus.query.as_str()),
            ("start", &midnight_after(from).to_string()),
            ("end", &midnight_after(to).to_string()),
            ("step", "86400"),
        ])
        .send()
        .await
        .map_err(|e| failed(format!("cannot reach Prometheus at {}: {e}", prometheus.url)))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| failed(format!("reading the response: {e}")))?;
    let parsed: QueryRangeResponse = serde_json::from_str(&body)
        .map_err(|e| failed(format!("Prometheus answered {status} with a body that is not a query result: {e}")))?;
    if parsed.status != "success" {
        return Err(failed(format!(
            "Prometheus refused the query ({status}): {}",
            parsed.error.unwrap_or_else(|| "no reason given".into())
        )));
    }
    let mut metrics = Vec::new();
    for series in parsed.data.map(|d| d.result).unwrap_or_default() {
        let value = match (&prometheus.value, &prometheus.value_label) {
            (Some(value), _) => value.clone(),
            (None, Some(label)) => match series.metric.get(label) {
                Some(value) => value.clone(),
                None => {
                    tracing::warn!(feed, label = %label, "a Prometheus series lacks the value label; skipped");
                    continue;
                }
            },
            (None, None) => unreachable!("validated: one of value and value_label"),
        };
        for (timestamp, text) in series.values {
            let quantity: f64 = text.parse().map_err(|_| failed(format!("sample value `{text}` is not a number")))?;
            let Some(end) = chrono::DateTime::from_timestamp(timestamp as i64, 0) else { continue };
            if !quantity.is_finite() {
                continue;
            }
            metrics.push(UnitMetric {
                date: end.date_naive() - Days::new(1),
                dimension: prometheus.dimension.clone(),
                value: value.clone(),
                metric: prometheus.metric.clone(),
                quantity,
            });
        }
    }
    Ok(metrics)
}

/// Pulls every configured feed into the store; Prometheus feeds fetch the `days` up to
/// `until` (yesterday by default). Returns the rows kept per feed.
pub async fn pull_feeds(
    store: &Store,
    config: &UnitCostConfig,
    until: NaiveDate,
) -> Result<Vec<(String, usize)>, AnalysisError> {
    let mut pulled = Vec::new();
    for feed in &config.feeds {
        let (metrics, days) = match (&feed.csv, &feed.prometheus) {
            (Some(path), _) => (read_metrics_csv(path)?, None),
            (None, Some(prometheus)) => {
                let from = until - Days::new(u64::from(prometheus.days) - 1);
                (fetch_prometheus(&feed.name, prometheus, from, until).await?, Some((from, until)))
            }
            (None, None) => unreachable!("validated: csv or prometheus"),
        };
        store.replace_unit_metrics(&feed.name, days, &metrics).await?;
        pulled.push((feed.name.clone(), metrics.len()));
    }
    Ok(pulled)
}

/// Cost per unit of one dimension value and metric, over a day or a month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnitCost {
    pub dimension: String,
    pub value: String,
    pub metric: String,
    pub currency: String,
    /// The day, or the month's first day.
    pub date: NaiveDate,
    /// Days with both cost and quantity (a month's cost counts only those days).
    pub days: usize,
    pub effective_cost: Money,
    pub quantity: f64,
    pub cost_per_unit: Option<Money>,
}

/// Unit costs of the charge days in `month`, per day or for the whole month.
pub async fn unit_costs(store: &Store, month: BillingPeriod, daily: bool) -> Result<Vec<UnitCost>, AnalysisError> {
    let (from, to) = (month.first_day(), month.end() - Days::new(1));
    let metrics = store.unit_metrics(from, to).await?;
    let dimensions: Vec<&str> = {
        let mut d: Vec<&str> = metrics.iter().map(|m| m.dimension.as_str()).collect();
        d.sort();
        d.dedup();
        d
    };
    // (dimension, value, date) → currency → cost
    let mut costs: BTreeMap<(&str, String, NaiveDate), BTreeMap<String, Money>> = BTreeMap::new();
    for dimension in &dimensions {
        for day in store.daily_allocated_costs(dimension, from, to).await? {
            *costs.entry((dimension, day.value, day.date)).or_default().entry(day.currency).or_default() +=
                day.effective_cost;
        }
    }
    type Key = (String, String, String, String, NaiveDate);
    let mut sums: BTreeMap<Key, (usize, Money, f64)> = BTreeMap::new();
    for metric in &metrics {
        let Some(by_currency) = costs.get(&(metric.dimension.as_str(), metric.value.clone(), metric.date)) else {
            continue;
        };
        for (currency, cost) in by_currency {
            let date = if daily { metric.date } else { month.first_day() };
            let entry = sums
                .entry((metric.dimension.clone(), metric.value.clone(), metric.metric.clone(), currency.clone(), date))
                .or_insert((0, Money::ZERO, 0.0));
            entry.0 += 1;
            entry.1 += *cost;
            entry.2 += metric.quantity;
        }
    }
    Ok(sums
        .into_iter()
        .map(|((dimension, value, metric, currency, date), (days, effective_cost, quantity))| UnitCost {
            cost_per_unit: (quantity > 0.0)
                .then(|| Money::from_nanos((effective_cost.nanos() as f64 / quantity).round() as i128)),
            dimension,
            value,
            metric,
            currency,
            date,
            days,
            effective_cost,
            quantity,
        })
        .collect())
}
