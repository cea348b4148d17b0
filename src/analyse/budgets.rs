//! Budgets: per dimension value and currency, the period's actual spend so far, an
//! end-of-period forecast with a prediction interval, the variance, and threshold alerts
//! kept in the store for delivery.

use std::collections::{BTreeMap, HashMap};

use augurs::ets::AutoETS;
use augurs::mstl::MSTLModel;
use augurs::{Fit, Predict};
use chrono::{Datelike, Days, Months, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::AnalysisError;
use crate::focus::Money;
use crate::focus::money::NANOS_PER_UNIT;
use crate::store::{BudgetAlert, DailyCost, Store};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// Names the budget in reports and alerts, e.g. `payments monthly`.
    pub name: String,
    /// The allocation dimension and value the budget is for, e.g. `team` / `payments`.
    pub dimension: String,
    pub value: String,
    #[serde(default)]
    pub period: BudgetPeriod,
    /// The amount per period in each currency, e.g. `{ USD = 12000, EUR = "950.50" }`;
    /// spend in a currency without an amount is not budgeted.
    pub amounts: BTreeMap<String, BudgetAmount>,
    /// When to alert: `{ actual = 80 }` once actual spend reaches 80% of the amount,
    /// `{ forecast = 100 }` once the forecast does.
    #[serde(default = "default_thresholds")]
    pub thresholds: Vec<BudgetThreshold>,
}

fn default_thresholds() -> Vec<BudgetThreshold> {
    vec![
        BudgetThreshold { actual: Some(80.0), forecast: None },
        BudgetThreshold { actual: None, forecast: Some(100.0) },
    ]
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BudgetPeriod {
    #[default]
    Monthly,
    Quarterly,
    Yearly,
}

impl BudgetPeriod {
    /// The period containing `day`: its first day and the first day after it.
    pub fn containing(self, day: NaiveDate) -> (NaiveDate, NaiveDate) {
        let months = match self {
            BudgetPeriod::Monthly => 1,
            BudgetPeriod::Quarterly => 3,
            BudgetPeriod::Yearly => 12,
        };
        let first_month = (day.month0() / months) * months + 1;
        let start = NaiveDate::from_ymd_opt(day.year(), first_month, 1).expect("a valid first day");
        (start, start + Months::new(months))
    }
}

/// An exact amount, written as a TOML number or a decimal string.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetAmount(pub Money);

impl<'de> Deserialize<'de> for BudgetAmount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Integer(i64),
            Float(f64),
            Text(String),
        }
        let text = match Written::deserialize(deserializer)? {
            Written::Integer(n) => n.to_string(),
            Written::Float(f) => f.to_string(),
            Written::Text(text) => text,
        };
        Money::parse_decimal(&text)
            .map(BudgetAmount)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not an amount")))
    }
}

impl Serialize for BudgetAmount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetThreshold {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forecast: Option<f64>,
}

pub fn validate(budgets: &[BudgetConfig], dimensions: &[&str]) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    for budget in budgets {
        let invalid = |problem: String| Err(format!("budget `{}`: {problem}", budget.name));
        if !names.insert(budget.name.as_str()) {
            return invalid("the name is used twice".into());
        }
        if !dimensions.contains(&budget.dimension.as_str()) {
            return invalid(format!(
                "dimension `{}` is not an allocation dimension (dimensions: {})",
                budget.dimension,
                dimensions.join(", ")
            ));
        }
        if budget.amounts.is_empty() {
            return invalid("give at least one amount, e.g. amounts = { USD = 12000 }".into());
        }
        if let Some((currency, _)) = budget.amounts.iter().find(|(_, amount)| amount.0 <= Money::ZERO) {
            return invalid(format!("the {currency} amount must be more than 0"));
        }
        for threshold in &budget.thresholds {
            match (threshold.actual, threshold.forecast) {
                (Some(pct), None) | (None, Some(pct)) if pct.is_finite() && pct > 0.0 => {}
                _ => return invalid("each threshold is `{ actual = <percent> }` or `{ forecast = <percent> }`".into()),
            }
        }
    }
    Ok(())
}

/// The forecast of a period's total: actual so far plus the expected rest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodForecast {
    pub total: Money,
    /// The 80% prediction interval of the total.
    pub low: Money,
    pub high: Money,
    pub method: ForecastMethod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForecastMethod {
    /// MSTL with weekly seasonality and an ETS trend (augurs).
    Seasonal,
    /// The recent daily mean, for short histories.
    RunRate,
    /// The period is over: the forecast is the actual.
    Complete,
}

impl std::fmt::Display for ForecastMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ForecastMethod::Seasonal => "seasonal",
            ForecastMethod::RunRate => "run rate",
            ForecastMethod::Complete => "complete",
        })
    }
}

/// A budget's state in one currency on `as_of`.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetStatus {
    pub budget: String,
    pub dimension: String,
    pub value: String,
    pub period_start: NaiveDate,
    /// The first day after the period.
    pub period_end: NaiveDate,
    pub as_of: NaiveDate,
    pub currency: String,
    pub amount: Money,
    pub actual: Money,
    pub forecast: PeriodForecast,
    /// Thresholds crossed: (`actual` or `forecast`, percent, first crossed in this evaluation).
    pub crossed: Vec<(String, f64, bool)>,
}

impl BudgetStatus {
    pub fn actual_pct(&self) -> f64 {
        percent(self.actual, self.amount)
    }
    pub fn forecast_pct(&self) -> f64 {
        percent(self.forecast.total, self.amount)
    }
    /// Forecast minus amount: positive is an overspend.
    pub fn variance(&self) -> Money {
        self.forecast.total - self.amount
    }
}

fn percent(part: Money, whole: Money) -> f64 {
    part.nanos() as f64 / whole.nanos() as f64 * 100.0
}

/// The FOCUS ChargeCategory of consumption.
const USAGE: &str = "Usage";
/// Days of history the forecast learns from.
const HISTORY_DAYS: u64 = 365;
/// Below this many days the seasonal model is not trusted: four weekly cycles.
const SEASONAL_MIN_DAYS: usize = 28;
const INTERVAL_LEVEL: f64 = 0.8;
/// The normal quantile of an 80% two-sided interval.
const Z_80: f64 = 1.2816;

/// Evaluates every budget on `as_of` (the last day with costs, usually) and records the
/// thresholds crossed as budget alerts (once per budget, period, currency and threshold).
pub async fn evaluate_budgets(
    store: &Store,
    budgets: &[BudgetConfig],
    as_of: NaiveDate,
) -> Result<Vec<BudgetStatus>, AnalysisError> {
    let mut statuses = budget_statuses(store, budgets, as_of).await?;
    for status in &mut statuses {
        for (kind, pct, new) in &mut status.crossed {
            let alert = BudgetAlert {
                budget: status.budget.clone(),
                period_start: status.period_start,
                currency: status.currency.clone(),
                kind: kind.clone(),
                threshold_pct: *pct,
                as_of,
                amount: status.amount,
                actual: status.actual,
                forecast: status.forecast.total,
            };
            *new = store.record_budget_alert(&alert).await?;
        }
    }
    Ok(statuses)
}

/// Every budget's state on `as_of`, with the thresholds crossed (none marked new): what a
/// report shows, recording nothing.
pub async fn budget_statuses(
    store: &Store,
    budgets: &[BudgetConfig],
    as_of: NaiveDate,
) -> Result<Vec<BudgetStatus>, AnalysisError> {
    let mut daily: HashMap<&str, Vec<DailyCost>> = HashMap::new();
    let mut statuses = Vec::new();
    // A budget on `payments` tracks `Payments` in a dimension whose values fold.
    let cases = store.allocated_value_cases().await?;
    for budget in budgets {
        if !daily.contains_key(budget.dimension.as_str()) {
            let from = as_of - Days::new(HISTORY_DAYS);
            daily.insert(&budget.dimension, store.daily_allocated_costs(&budget.dimension, from, as_of).await?);
        }
        let (start, end) = budget.period.containing(as_of);
        for (currency, amount) in &budget.amounts {
            let costs = daily[budget.dimension.as_str()]
                .iter()
                .filter(|d| cases.same(&budget.dimension, &d.value, &budget.value) && &d.currency == currency);
            let mut actual = Money::ZERO;
            // The rest of the period is forecast from usage alone: fees, tax and credits come
            // on their own calendar (mostly the 1st), are in the actual once charged, and
            // would read as wild swings of daily spend.
            let mut usage: BTreeMap<NaiveDate, Money> = BTreeMap::new();
            for cost in costs {
                if cost.date >= start {
                    actual += cost.effective_cost;
                }
                if cost.charge_category == USAGE {
                    *usage.entry(cost.date).or_default() += cost.effective_cost;
                }
            }
            let forecast = forecast_period(&usage, actual, as_of, end);
            let mut status = BudgetStatus {
                budget: budget.name.clone(),
                dimension: budget.dimension.clone(),
                value: budget.value.clone(),
                period_start: start,
                period_end: end,
                as_of,
                currency: currency.clone(),
                amount: amount.0,
                actual,
                forecast,
                crossed: Vec::new(),
            };
            for threshold in &budget.thresholds {
                let (kind, pct, reached) = match (threshold.actual, threshold.forecast) {
                    (Some(pct), _) => ("actual", pct, status.actual_pct()),
                    (None, Some(pct)) => ("forecast", pct, status.forecast_pct()),
                    (None, None) => continue,
                };
                if reached >= pct {
                    status.crossed.push((kind.into(), pct, false));
                }
            }
            statuses.push(status);
        }
    }
    Ok(statuses)
}

/// The period's total: `actual` plus the days after `as_of` up to `end`, forecast from the
/// daily usage series up to `as_of` (days without costs count as zero).
pub fn forecast_period(
    series: &BTreeMap<NaiveDate, Money>,
    actual: Money,
    as_of: NaiveDate,
    end: NaiveDate,
) -> PeriodForecast {
    let horizon = (end - as_of).num_days() - 1;
    let first = series.keys().next().copied();
    let (Some(first), true) = (first, horizon > 0) else {
        return PeriodForecast { total: actual, low: actual, high: actual, method: ForecastMethod::Complete };
    };
    let history: Vec<f64> = first
        .iter_days()
        .take_while(|day| *day <= as_of)
        .map(|day| series.get(&day).map_or(0.0, |cost| cost.nanos() as f64 / NANOS_PER_UNIT as f64))
        .collect();
    let horizon = horizon as usize;
    let (rest, low, high, method) = seasonal_rest(&history, horizon)
        .map(|(point, low, high)| (point, low, high, ForecastMethod::Seasonal))
        .unwrap_or_else(|| {
            let (point, low, high) = run_rate_rest(&history, horizon);
            (point, low, high, ForecastMethod::RunRate)
        });
    let money = |units: f64| actual + Money::from_nanos((units * NANOS_PER_UNIT as f64).round() as i128);
    PeriodForecast { total: money(rest), low: money(low), high: money(high), method }
}

/// Sum of the MSTL point forecasts over the horizon, with an interval of the sum from the
/// days' intervals: their half-widths add in quadrature (the days' errors are taken as
/// independent; adding the bounds would assume they all miss the same way at once).
fn seasonal_rest(history: &[f64], horizon: usize) -> Option<(f64, f64, f64)> {
    if history.len() < SEASONAL_MIN_DAYS {
        return None;
    }
    let model = MSTLModel::new(vec![7], AutoETS::non_seasonal().into_trend_model());
    let fitted = model.fit(history).map_err(|e| tracing::debug!(error = %e, "seasonal fit failed")).ok()?;
    let forecast = fitted.predict(horizon, INTERVAL_LEVEL).ok()?;
    let intervals = forecast.intervals?;
    let point: f64 = forecast.point.iter().sum();
    let spread = |bounds: &[f64]| bounds.iter().zip(&forecast.point).map(|(b, p)| (b - p).powi(2)).sum::<f64>().sqrt();
    let (low, high) = (point - spread(&intervals.lower), point + spread(&intervals.upper));
    (point.is_finite() && low.is_finite() && high.is_finite()).then_some((point, low, high))
}

/// The mean of the last 7 days per day, with a normal interval from their spread.
fn run_rate_rest(history: &[f64], horizon: usize) -> (f64, f64, f64) {
    let recent = &history[history.len().saturating_sub(7)..];
    let n = recent.len() as f64;
    let mean = recent.iter().sum::<f64>() / n;
    let variance =
        if recent.len() > 1 { recent.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    let point = mean * horizon as f64;
    let spread = Z_80 * variance.sqrt() * (horizon as f64).sqrt();
    (point, point - spread, point + spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn periods_contain_the_day() {
        assert_eq!(BudgetPeriod::Monthly.containing(day("2025-02-14")), (day("2025-02-01"), day("2025-03-01")));
        assert_eq!(BudgetPeriod::Quarterly.containing(day("2025-05-31")), (day("2025-04-01"), day("2025-07-01")));
        assert_eq!(BudgetPeriod::Yearly.containing(day("2025-12-31")), (day("2025-01-01"), day("2026-01-01")));
    }

    #[test]
    fn a_steady_weekly_pattern_forecasts_its_month() {
        // Weekdays 100, weekends 40: 60 days up to 2025-03-10 (a Monday).
        let as_of = day("2025-03-10");
        let series: BTreeMap<NaiveDate, Money> = (0..60)
            .map(|back| {
                let date = as_of - Days::new(back);
                let units = if date.weekday().number_from_monday() >= 6 { 40 } else { 100 };
                (date, Money::from_nanos(units * NANOS_PER_UNIT))
            })
            .collect();
        let actual: Money = series.range(day("2025-03-01")..=as_of).map(|(_, m)| *m).sum();
        let forecast = forecast_period(&series, actual, as_of, day("2025-04-01"));
        assert_eq!(forecast.method, ForecastMethod::Seasonal);
        // 21 days left: 15 weekdays and 6 weekend days = 1740 more.
        let expected = actual + Money::from_nanos(1740 * NANOS_PER_UNIT);
        let off = (forecast.total - expected).abs();
        assert!(off < Money::from_nanos(20 * NANOS_PER_UNIT), "{} vs {expected}", forecast.total);
        assert!(forecast.low <= forecast.total && forecast.total <= forecast.high);
    }

    #[test]
    fn a_short_history_uses_the_run_rate_and_a_finished_period_its_actual() {
        let as_of = day("2025-03-05");
        let series: BTreeMap<NaiveDate, Money> =
            (1..=5).map(|d| (day(&format!("2025-03-0{d}")), Money::from_nanos(10 * NANOS_PER_UNIT))).collect();
        let actual = Money::from_nanos(50 * NANOS_PER_UNIT);
        let forecast = forecast_period(&series, actual, as_of, day("2025-04-01"));
        assert_eq!(forecast.method, ForecastMethod::RunRate);
        assert_eq!(forecast.total, Money::from_nanos(310 * NANOS_PER_UNIT));
        let done = forecast_period(&series, actual, day("2025-03-31"), day("2025-04-01"));
        assert_eq!((done.total, done.method), (actual, ForecastMethod::Complete));
    }
}
