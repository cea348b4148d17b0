//! Monitors: which daily series of the store to watch and how, and `anomalies detect`, which
//! runs the detector over them and keeps what it finds with its root causes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::{Anomaly, DetectorSettings, detect};
use crate::allocate::Allocator;
use crate::focus::{BillingPeriod, Money};
pub use crate::store::CostKind;
use crate::store::{
    ContributorDay, CostDimension, NOT_USAGE, SeriesSource, SourceLastDay, Store, StoreError, StoredAnomaly,
    sub_account_label,
};

#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    #[error("anomaly monitor `{monitor}`: {problem}")]
    Invalid { monitor: String, problem: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    pub monitors: Vec<MonitorConfig>,
}

impl Default for AnomalyConfig {
    /// Every provider service, and every team the allocation rules give costs to.
    fn default() -> Self {
        let teams = MonitorConfig { name: "teams".into(), by: "allocation:team".into(), ..MonitorConfig::default() };
        AnomalyConfig { monitors: vec![MonitorConfig::default(), teams] }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    pub name: String,
    /// One series per value of: `provider`, `billing_account`, `sub_account`, `service`,
    /// `region`, `tag:<key>`, or `allocation:<dimension>` (e.g. `allocation:team`).
    pub by: String,
    pub cost: CostKind,
    /// An alert needs at least this much money of impact, in the series' currency…
    pub min_impact: f64,
    /// …and at least this percentage of the expected cost, unless it moves at least
    /// `major_impact` a day.
    pub min_impact_pct: f64,
    pub major_impact: f64,
    pub medium_impact: f64,
    pub high_impact: f64,
    pub min_history_days: usize,
    pub new_normal_days: usize,
    /// The newest days of an export are incomplete and get restated: they are not judged.
    pub settle_days: u64,
    /// A source (one export stream or pull, e.g. `aws:111122223333`) whose last day of usage
    /// is behind the newest any source delivered holds back the series it feeds: they are
    /// judged only up to its last day (less `settle_days`), so a provider that delivers late
    /// is never a drop. More than this many days behind, a source is taken as stopped (an
    /// account closed, an export removed) and no longer holds anything back.
    pub max_source_lag_days: u64,
    /// An anomaly that ended more than this many days before the newest day judged is kept
    /// and listed but not sent: a first run over a year of history alerts on what is going
    /// on now, not on every anomaly of the year.
    pub alert_max_age_days: u64,
    /// Days of history read.
    pub history_days: u64,
    /// Days not to judge: listed dates (planned events, company holidays).
    pub holidays: Vec<NaiveDate>,
    /// The public holidays of a country (ISO 3166-1 alpha-2, e.g. `US`, `DE`, `GB`; `US` unless
    /// set, none with `holiday_country = ""`): judged for a rise only, as spend dips on them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holiday_country: Option<String>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        let detector = DetectorSettings::default();
        MonitorConfig {
            name: "services".into(),
            by: "service".into(),
            cost: CostKind::Effective,
            min_impact: detector.min_impact,
            min_impact_pct: detector.min_impact_pct,
            major_impact: detector.major_impact,
            medium_impact: detector.medium_impact,
            high_impact: detector.high_impact,
            min_history_days: detector.min_history_days,
            new_normal_days: detector.new_normal_days,
            settle_days: 2,
            max_source_lag_days: 7,
            alert_max_age_days: 3,
            history_days: 400,
            holidays: Vec::new(),
            // Spend dips on public holidays; the US calendar unless a monitor names another.
            holiday_country: Some("US".into()),
        }
    }
}

impl MonitorConfig {
    fn source(&self) -> Result<SeriesSource, MonitorError> {
        let invalid = |problem: String| MonitorError::Invalid { monitor: self.name.clone(), problem };
        if let Some(dimension) = self.by.strip_prefix("allocation:") {
            return Ok(SeriesSource::Allocation(dimension.trim().to_string()));
        }
        let dimension: CostDimension = self.by.parse().map_err(invalid)?;
        if dimension.is_time() || dimension == CostDimension::ChargeCategory {
            return Err(invalid(format!("`by = \"{}\"` is not a series to watch", self.by)));
        }
        Ok(SeriesSource::Facts(dimension))
    }

    /// The series' dimension name, as the key of its JSON object.
    fn dimension_name(&self) -> &str {
        self.by.strip_prefix("allocation:").unwrap_or(&self.by).trim()
    }

    /// The country's public holidays of the years `from..=to` span.
    fn public_holidays(&self, from: NaiveDate, to: NaiveDate) -> Result<BTreeSet<NaiveDate>, MonitorError> {
        match self.holiday_country.as_deref().filter(|c| !c.trim().is_empty()) {
            Some(code) => public_holidays(code, from, to)
                .map_err(|problem| MonitorError::Invalid { monitor: self.name.clone(), problem }),
            None => Ok(BTreeSet::new()),
        }
    }

    fn settings(&self) -> DetectorSettings {
        DetectorSettings {
            min_history_days: self.min_history_days,
            new_normal_days: self.new_normal_days.max(1),
            min_impact: self.min_impact,
            min_impact_pct: self.min_impact_pct,
            major_impact: self.major_impact,
            medium_impact: self.medium_impact,
            high_impact: self.high_impact,
            ..DetectorSettings::default()
        }
    }
}

/// The public holidays of country `code` (ISO 3166-1 alpha-2) in the years `from..=to` span.
pub fn public_holidays(code: &str, from: NaiveDate, to: NaiveDate) -> Result<BTreeSet<NaiveDate>, String> {
    let country: holidays::Country = code.trim().to_uppercase().parse().map_err(|_| {
        format!("`holiday_country = \"{code}\"` is not a country finopsd has holidays for ({COUNTRIES})")
    })?;
    let calendar = holidays::Builder::new()
        .countries(&[country])
        .years(from.year()..to.year() + 1)
        .build()
        .map_err(|e| format!("holidays of {code} for {}-{}: {e}", from.year(), to.year()))?;
    Ok(calendar.values().flat_map(|years| years.values()).flat_map(|dates| dates.keys().copied()).collect())
}

/// The countries whose public holidays are compiled in (Cargo.toml's `holidays` features).
const COUNTRIES: &str =
    "AT, AU, BE, BR, CA, CH, DE, DK, ES, FI, FR, GB, IE, IL, IN, IT, JP, KR, MX, NL, NO, NZ, PL, PT, SE, SG, US";

/// What one monitor found.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSummary {
    pub monitor: String,
    pub series: usize,
    pub anomalies: usize,
    pub alerts: usize,
    /// Series judged short of the newest day because a source that feeds them lags.
    pub waiting: usize,
}

/// Contributors kept per anomaly.
const ROOT_CAUSES: usize = 10;
/// Weeks of the same weekday a contributor's expected cost is the mean of.
const ROOT_CAUSE_WEEKS: u64 = 4;

/// Days up to its own last day a lagging source must have fed a series in to hold it back:
/// two weeks span any weekly pattern, and a service moved off a lagging provider stops
/// waiting for it two weeks later.
const FEEDING_DAYS: u64 = 14;

/// How far the sources have delivered usage.
struct Deliveries {
    /// The newest day any source delivered.
    newest: NaiveDate,
    /// Every source with usage within the largest `max_source_lag_days` of the newest usage.
    sources: Vec<SourceLastDay>,
}

impl Deliveries {
    async fn of(store: &Store, last: NaiveDate, monitors: &[MonitorConfig]) -> Result<Deliveries, StoreError> {
        let max_lag = monitors.iter().map(|m| m.max_source_lag_days).max().unwrap_or(0);
        // No usage at all: judged up to the store's end, as ever.
        let newest = store.newest_usage_day().await?.unwrap_or(last);
        let since = newest.checked_sub_days(Days::new(max_lag)).unwrap_or(NaiveDate::MIN);
        Ok(Deliveries { newest, sources: store.source_last_days(since).await? })
    }

    /// The sources behind the newest day by at most `max_lag` days, with their last day.
    fn lagging(&self, max_lag: u64) -> BTreeMap<&str, NaiveDate> {
        let oldest = self.newest.checked_sub_days(Days::new(max_lag)).unwrap_or(NaiveDate::MIN);
        self.sources
            .iter()
            .filter(|s| s.last_day < self.newest && s.last_day >= oldest)
            .map(|s| (s.source.as_str(), s.last_day))
            .collect()
    }

    /// For each series of `source` a `lagging` source has fed in the `FEEDING_DAYS` up to its
    /// last day: the last day all the series' sources have delivered.
    async fn series_delivered_through(
        &self,
        store: &Store,
        source: &SeriesSource,
        lagging: &BTreeMap<&str, NaiveDate>,
    ) -> Result<BTreeMap<(String, String), NaiveDate>, StoreError> {
        let mut through: BTreeMap<(String, String), NaiveDate> = BTreeMap::new();
        let Some(earliest) = lagging.values().min() else { return Ok(through) };
        let from = *earliest - Days::new(FEEDING_DAYS - 1);
        for feed in store.series_feeds(source, from, self.newest).await? {
            let Some(&last_day) = lagging.get(feed.source.as_str()) else { continue };
            if feed.last_day + Days::new(FEEDING_DAYS) > last_day {
                let day = through.entry((feed.key, feed.currency)).or_insert(last_day);
                *day = (*day).min(last_day);
            }
        }
        Ok(through)
    }
}

/// Runs every monitor over the store's settled days and keeps what each found. A series is
/// judged only up to the last day all the sources that feed it have delivered (less the
/// monitor's `settle_days`): the days a lagging source has yet to deliver are no drop.
/// `allocator` (the config's rules) explains anomalies of allocation series by the facts behind
/// them; without it they get no root causes.
pub async fn detect_store(
    store: &Store,
    monitors: &[MonitorConfig],
    allocator: Option<&Allocator>,
) -> Result<Vec<MonitorSummary>, MonitorError> {
    let Some((first, last)) = store.charge_date_range().await? else { return Ok(Vec::new()) };
    let deliveries = Deliveries::of(store, last, monitors).await?;
    let feedback = store.anomalies(None).await?;
    let mut summaries = Vec::new();
    for (i, monitor) in monitors.iter().enumerate() {
        let invalid = |problem: &str| MonitorError::Invalid { monitor: monitor.name.clone(), problem: problem.into() };
        if monitor.name.trim().is_empty() {
            return Err(invalid("the name is empty"));
        }
        if monitors[..i].iter().any(|m| m.name == monitor.name) {
            return Err(invalid("the name is used twice; each monitor keeps its anomalies under its name"));
        }
        let source = monitor.source()?;
        let settle = Days::new(monitor.settle_days);
        let to = deliveries.newest - settle;
        let from = first.max(to - Days::new(monitor.history_days));
        if to < from {
            continue;
        }
        let lagging = deliveries.lagging(monitor.max_source_lag_days);
        let delivered_through = deliveries.series_delivered_through(store, &source, &lagging).await?;
        let holidays = monitor.public_holidays(from, to)?;
        let mut series: BTreeMap<(String, String), BTreeMap<NaiveDate, f64>> = BTreeMap::new();
        for day in store.daily_series(&source, monitor.cost, from, to).await? {
            series.entry((day.key, day.currency)).or_default().insert(day.date, to_units(day.cost));
        }
        let mut contributors =
            Contributors { store, source: &source, allocator, cost: monitor.cost, months: HashMap::new() };
        let mut kept = Vec::new();
        let (mut alerts, mut waiting) = (0, 0);
        for (series_key, costs) in &series {
            let (key, currency) = series_key;
            // The newest day judged: the last day every source of the series has delivered.
            let judged_to = delivered_through.get(series_key).map_or(to, |day| *day - settle);
            waiting += usize::from(judged_to < to);
            // Every day from the series' first to its last judged one: a series that stops
            // costing shows as zero days, not as a shorter series.
            let start = *costs.keys().next().expect("a series has a day");
            let days: Vec<(NaiveDate, f64)> = start
                .iter_days()
                .take_while(|d| *d <= judged_to)
                .map(|d| (d, costs.get(&d).copied().unwrap_or(0.0)))
                .collect();
            if days.is_empty() {
                continue;
            }
            let series_json = serde_json::json!({ monitor.dimension_name(): key }).to_string();
            let mut settings = monitor.settings();
            settings.quiet_days = monitor.holidays.iter().copied().collect();
            settings.holidays = holidays.clone();
            settings.accepted_days = feedback
                .iter()
                .filter(|a| a.monitor == monitor.name && a.series == series_json && &a.currency == currency)
                .filter(|a| matches!(a.feedback.as_deref(), Some("expected" | "planned")))
                .flat_map(|a| a.start.iter_days().take_while(|d| *d <= a.end))
                .collect();
            let (_, anomalies) = detect(&days, &settings);
            for anomaly in anomalies {
                let root_causes = if anomaly.alerts() {
                    let from = anomaly.start - Days::new(7 * ROOT_CAUSE_WEEKS);
                    rank_contributors(contributors.days(key, currency, from, anomaly.end).await?, &anomaly)
                } else {
                    Vec::new()
                };
                alerts += usize::from(anomaly.alerts());
                let mut anomaly = stored(&monitor.name, &series_json, currency, &anomaly, &root_causes);
                anomaly.current = anomaly.end + Days::new(monitor.alert_max_age_days) >= judged_to;
                kept.push(anomaly);
            }
        }
        if waiting > 0 {
            let behind: Vec<String> = lagging
                .iter()
                .map(|(source, day)| {
                    format!("{source} through {day} ({} days behind)", (deliveries.newest - *day).num_days())
                })
                .collect();
            tracing::info!(
                monitor = %monitor.name,
                newest_day = %deliveries.newest,
                waiting_series = waiting,
                lagging_sources = %behind.join(", "),
                "series fed by lagging sources are judged only up to the last day all their sources delivered"
            );
        }
        store.replace_anomalies(&monitor.name, &kept).await?;
        summaries.push(MonitorSummary {
            monitor: monitor.name.clone(),
            series: series.len(),
            anomalies: kept.len(),
            alerts,
            waiting,
        });
    }
    Ok(summaries)
}

fn to_units(money: Money) -> f64 {
    money.nanos() as f64 / 1e9
}

fn money(units: f64) -> Money {
    Money::from_nanos((units * 100.0).round() as i128 * 10_000_000)
}

/// A contributor to an anomaly: its cost against its own expectation over the anomaly's days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RootCause {
    pub sub_account: String,
    pub service: String,
    pub region: String,
    pub charge_category: String,
    pub tags: String,
    pub expected: f64,
    pub actual: f64,
    pub impact: f64,
    /// Its share of the anomaly's impact.
    pub share_pct: f64,
}

/// A stored root cause (one element of an anomaly's `root_causes` JSON) as one line:
/// `sub-account / service / region (category) {tags}: +909.83 USD, 44% of the impact`.
pub fn root_cause_label(cause: &serde_json::Value, currency: &str) -> String {
    let part = |key: &str| cause[key].as_str().unwrap_or("").to_string();
    let impact = cause["impact"].as_f64().unwrap_or(0.0);
    let share = cause["share_pct"].as_f64().unwrap_or(0.0);
    let tags = part("tags");
    let tags = if tags.is_empty() || tags == "{}" { String::new() } else { format!(" {tags}") };
    format!(
        "{} / {} / {} ({}){tags}: {impact:+.2} {currency}, {share:.0}% of the impact",
        part("sub_account"),
        part("service"),
        part("region"),
        part("charge_category")
    )
}

/// The contributors to one monitor's series.
struct Contributors<'a> {
    store: &'a Store,
    source: &'a SeriesSource,
    allocator: Option<&'a Allocator>,
    cost: CostKind,
    /// For an allocation series: each billing period's usage contributors with the value and
    /// currency they were allocated to, allocated once however many anomalies ask.
    months: HashMap<BillingPeriod, Vec<(String, String, ContributorDay)>>,
}

impl Contributors<'_> {
    /// The daily costs of what series `key` in `currency` sums, by contributor, over
    /// `from..=to`: straight from the cost facts, or for an allocation series from the facts
    /// allocated to its value.
    async fn days(
        &mut self,
        key: &str,
        currency: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ContributorDay>, StoreError> {
        let dimension = match self.source {
            SeriesSource::Facts(dimension) => {
                return self.store.contributor_costs(dimension, key, currency, self.cost, from, to).await;
            }
            SeriesSource::Allocation(dimension) => dimension,
        };
        let Some((allocator, d)) =
            self.allocator.and_then(|a| a.dimension_names().iter().position(|n| n == dimension).map(|d| (a, d)))
        else {
            return Ok(Vec::new());
        };
        let mut rows = Vec::new();
        let mut month = BillingPeriod::containing(from);
        // Late charges of a day can be billed in the month after.
        while month.first_day() <= to + Days::new(31) {
            if !self.months.contains_key(&month) {
                let allocated = self.allocated(allocator, d, month).await?;
                self.months.insert(month, allocated);
            }
            rows.extend(
                self.months[&month]
                    .iter()
                    .filter(|(value, c, day)| {
                        // The allocator here has not learnt which spelling the stored series
                        // shows: a folding dimension's values compare folded.
                        allocator.same_value(d, value, key) && c == currency && (from..=to).contains(&day.date)
                    })
                    .map(|(_, _, day)| day.clone()),
            );
            month = BillingPeriod::containing(month.end());
        }
        Ok(rows)
    }

    /// A billing period's usage costs by contributor, with the value of dimension `d` the rules
    /// give each share and its currency.
    async fn allocated(
        &self,
        allocator: &Allocator,
        d: usize,
        month: BillingPeriod,
    ) -> Result<Vec<(String, String, ContributorDay)>, StoreError> {
        let mut rows = Vec::new();
        for facts in self.store.period_facts(month).await? {
            let allocation = allocator.allocate_facts(&facts);
            for share in allocation.fact_shares() {
                let k = &share.fact.key;
                if NOT_USAGE.contains(&k.charge_category.as_str()) {
                    continue;
                }
                let day = ContributorDay {
                    sub_account: sub_account_label(&k.sub_account_id, &k.sub_account_name),
                    service: k.service_name.clone(),
                    region: k.region.clone(),
                    charge_category: k.charge_category.clone(),
                    tags: k.tags.clone(),
                    date: k.charge_date,
                    cost: self.cost.of(&share.costs),
                };
                rows.push((share.choices[d].value.clone(), k.currency.clone(), day));
            }
        }
        Ok(rows)
    }
}

/// The contributors that moved most in the anomaly's direction: each one's expected cost on a
/// day is its mean on the same weekday of the four weeks before the anomaly.
fn rank_contributors(rows: Vec<ContributorDay>, anomaly: &Anomaly) -> Vec<RootCause> {
    type Contributor = (String, String, String, String, String);
    let mut daily: BTreeMap<Contributor, BTreeMap<NaiveDate, f64>> = BTreeMap::new();
    for row in rows {
        let who = (row.sub_account, row.service, row.region, row.charge_category, row.tags);
        *daily.entry(who).or_default().entry(row.date).or_default() += to_units(row.cost);
    }
    let anomaly_days: BTreeSet<NaiveDate> = anomaly.start.iter_days().take_while(|d| *d <= anomaly.end).collect();
    let direction = anomaly.impact.signum();
    let mut causes: Vec<RootCause> = daily
        .into_iter()
        .map(|((sub_account, service, region, charge_category, tags), costs)| {
            let actual: f64 = anomaly_days.iter().map(|d| costs.get(d).copied().unwrap_or(0.0)).sum();
            let expected: f64 = anomaly_days
                .iter()
                .map(|day| {
                    let weeks = (1..=ROOT_CAUSE_WEEKS).map(|w| *day - Days::new(7 * w)).filter(|d| *d < anomaly.start);
                    let before: Vec<f64> = weeks.map(|d| costs.get(&d).copied().unwrap_or(0.0)).collect();
                    if before.is_empty() { 0.0 } else { before.iter().sum::<f64>() / before.len() as f64 }
                })
                .sum();
            let impact = actual - expected;
            let share_pct = if anomaly.impact == 0.0 { 0.0 } else { impact / anomaly.impact * 100.0 };
            let cents = |v: f64| (v * 100.0).round() / 100.0;
            RootCause {
                sub_account,
                service,
                region,
                charge_category,
                tags,
                expected: cents(expected),
                actual: cents(actual),
                impact: cents(impact),
                share_pct: (share_pct * 10.0).round() / 10.0,
            }
        })
        .filter(|cause| cause.impact * direction > 0.0)
        .collect();
    causes.sort_by(|a, b| (b.impact * direction).total_cmp(&(a.impact * direction)));
    causes.truncate(ROOT_CAUSES);
    causes
}

fn stored(monitor: &str, series: &str, currency: &str, anomaly: &Anomaly, causes: &[RootCause]) -> StoredAnomaly {
    let identity = format!("{monitor}\u{1f}{series}\u{1f}{currency}\u{1f}{}", anomaly.start);
    StoredAnomaly {
        id: format!("{:016x}", xxh3_64(identity.as_bytes())),
        monitor: monitor.into(),
        series: series.into(),
        currency: currency.into(),
        start: anomaly.start,
        end: anomaly.end,
        status: name_of(anomaly.status),
        expected: money(anomaly.expected),
        actual: money(anomaly.actual),
        impact: money(anomaly.impact),
        impact_pct: (anomaly.impact_pct * 10.0).round() / 10.0,
        severity: anomaly.severity.map(name_of),
        root_causes: serde_json::to_string(causes).expect("root causes serialise"),
        feedback: None,
        feedback_note: None,
        current: true,
    }
}

/// The name serde gives a unit variant (`new_normal`, `high`…).
fn name_of(value: impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        other => unreachable!("a unit variant serialises as a string, not {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_country_calendar_gives_its_public_holidays() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let monitor = MonitorConfig { holiday_country: Some("us".into()), ..MonitorConfig::default() };
        let holidays = monitor.public_holidays(day("2025-01-01"), day("2025-12-31")).unwrap();
        for holiday in ["2025-01-01", "2025-07-04", "2025-11-27", "2025-12-25"] {
            assert!(holidays.contains(&day(holiday)), "{holiday}: {holidays:?}");
        }
        assert!(!holidays.contains(&day("2025-07-07")));
        let none = MonitorConfig { holiday_country: Some(String::new()), ..MonitorConfig::default() };
        assert_eq!(none.public_holidays(day("2025-01-01"), day("2025-12-31")).unwrap(), BTreeSet::new());
        let unknown = MonitorConfig { holiday_country: Some("XX".into()), ..MonitorConfig::default() };
        let err = unknown.public_holidays(day("2025-01-01"), day("2025-12-31")).unwrap_err().to_string();
        assert!(err.contains("`services`") && err.contains("XX") && err.contains("DE"), "{err}");
    }

    #[test]
    fn series_to_watch_are_named_by_dimension() {
        let by = |by: &str| MonitorConfig { by: by.into(), ..MonitorConfig::default() }.source();
        assert_eq!(by("service").unwrap(), SeriesSource::Facts(CostDimension::Service));
        assert_eq!(by("tag:Team").unwrap(), SeriesSource::Facts(CostDimension::Tag("team".into())));
        assert_eq!(by("allocation:team").unwrap(), SeriesSource::Allocation("team".into()));
        for wrong in ["day", "charge_category", "colour"] {
            let err = by(wrong).unwrap_err().to_string();
            assert!(err.contains("`services`") && err.contains(wrong), "{err}");
        }
    }
}
