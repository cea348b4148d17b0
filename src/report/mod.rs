//! Showback reports: one invoice month of allocated spend by an allocation dimension (or for
//! one value of it), with the months before, movers, unit costs, budgets, the month's
//! anomalies, allocation coverage and the reconciliation to the invoice, rendered as HTML,
//! Markdown, CSV or JSON.
//!
//! The report is built once ([`ShowbackReport`]) and every renderer reads the same figures,
//! so a number in the HTML is the number in the JSON.

mod csv;
mod html;
mod markdown;

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;

use crate::allocate::{CoverageSummary, summarise_coverage};
use crate::analyse::AnalysisError;
use crate::analyse::budgets::{BudgetConfig, budget_statuses};
use crate::analyse::unit_costs::{UnitCost, unit_costs};
use crate::focus::money::ONE_CENT;
use crate::focus::{BillingPeriod, Money};
use crate::store::{FoldedSpelling, Store, StoreError, StoredAnomaly, UnallocatedItem};

/// The `schema` field of the JSON form; it changes when a field changes meaning or goes.
pub const SCHEMA: &str = "finopsd.showback.v1";
/// Months of history in the trend, the report's month included.
pub const TREND_MONTHS: usize = 6;
const MOVERS: usize = 5;
const UNALLOCATED_ITEMS: usize = 10;
const ROOT_CAUSES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    #[error("nothing is allocated yet: run `finopsd allocate` (ingest runs it too)")]
    NotAllocated,
    #[error(
        "the stored allocations have no dimension `{dimension}` (they were made with: {allocated}); run \
         `finopsd allocate` to apply the config"
    )]
    DimensionNotAllocated { dimension: String, allocated: String },
    #[error("{dimension} `{value}` has no allocated spend in {month} or the month before; values there: {known}")]
    UnknownValue { dimension: String, value: String, month: BillingPeriod, known: String },
}

/// What to report on.
#[derive(Debug, Clone)]
pub struct ShowbackRequest<'a> {
    pub month: BillingPeriod,
    pub dimension: String,
    /// One value's slice (a team's own report); every value when `None`.
    pub value: Option<String>,
    /// The configured budgets; those of `dimension` (and `value`) are shown.
    pub budgets: &'a [BudgetConfig],
}

/// The showback of one month, as every renderer and the JSON form show it.
#[derive(Debug, Clone, Serialize)]
pub struct ShowbackReport {
    pub schema: &'static str,
    pub month: BillingPeriod,
    pub dimension: String,
    pub value: Option<String>,
    pub generated_at: String,
    /// The trend's months, oldest first, ending with `month`.
    pub months: Vec<BillingPeriod>,
    /// One section per currency: currencies are never added together.
    pub currencies: Vec<CurrencyShowback>,
    pub unit_costs: Vec<UnitCost>,
    pub budgets: Vec<BudgetLine>,
    pub anomalies: Vec<AnomalyLine>,
    /// How the dimension was allocated, per provider and currency (whole reports only).
    pub coverage: Vec<CoverageSummary>,
    /// The largest costs the dimension left unallocated (whole reports only).
    pub unallocated: Vec<UnallocatedItem>,
    /// The dimension's values tags spell more than one way, each spelling with the value
    /// shown and the cost it carries (whole reports only): what to retag.
    pub folded_spellings: Vec<FoldedSpelling>,
}

/// The month's spend in one currency.
#[derive(Debug, Clone, Serialize)]
pub struct CurrencyShowback {
    pub currency: String,
    /// Sums of the values shown.
    pub effective_cost: Money,
    pub billed_cost: Money,
    pub previous_effective_cost: Money,
    /// Largest spend first.
    pub values: Vec<ValueShowback>,
    /// The values whose EffectiveCost moved most against the month before (whole reports).
    pub movers: Vec<Mover>,
    pub reconciliation: Reconciliation,
}

#[derive(Debug, Clone, Serialize)]
pub struct ValueShowback {
    pub value: String,
    pub effective_cost: Money,
    pub billed_cost: Money,
    pub previous_effective_cost: Money,
    pub change: Money,
    /// Percent against the month before; `None` when it had no spend.
    pub change_pct: Option<f64>,
    /// Of the currency's total over every value of the dimension, 0.25 for 25%.
    pub share: Option<f64>,
    /// EffectiveCost per month of `months`.
    pub trend: Vec<Money>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mover {
    pub value: String,
    pub change: Money,
    pub change_pct: Option<f64>,
}

/// Every value of the dimension together against the export's own totals for the month.
#[derive(Debug, Clone, Serialize)]
pub struct Reconciliation {
    pub allocated_billed_cost: Money,
    pub allocated_effective_cost: Money,
    /// `None` when no current export states a total in this currency.
    pub invoice_billed_cost: Option<Money>,
    pub invoice_effective_cost: Option<Money>,
    /// The larger of the two differences.
    pub difference: Option<Money>,
    /// Within one cent.
    pub balances: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetLine {
    pub budget: String,
    pub value: String,
    pub currency: String,
    pub period_start: NaiveDate,
    /// The last day of the budget's period.
    pub period_last_day: NaiveDate,
    pub as_of: NaiveDate,
    pub amount: Money,
    pub actual: Money,
    pub actual_pct: f64,
    pub forecast: Money,
    /// The forecast's 80% prediction interval.
    pub forecast_low: Money,
    pub forecast_high: Money,
    pub forecast_pct: f64,
    pub forecast_method: String,
    /// Forecast minus amount: positive is an overspend.
    pub variance: Money,
    /// Thresholds crossed, e.g. `actual ≥ 80%`.
    pub thresholds_crossed: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnomalyLine {
    pub id: String,
    pub monitor: String,
    /// The series' dimension and value, e.g. `team = payments`.
    pub series: String,
    pub currency: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub status: String,
    pub severity: String,
    pub expected: Money,
    pub actual: Money,
    pub impact: Money,
    pub impact_pct: f64,
    /// The largest contributors, as the detector ranked them.
    pub root_causes: Vec<serde_json::Value>,
    pub feedback: Option<String>,
}

/// The renderings a report comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Md,
    Csv,
    Json,
}

impl ReportFormat {
    /// The format a file name asks for by its extension.
    pub fn from_extension(path: &std::path::Path) -> Option<ReportFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "html" | "htm" => Some(ReportFormat::Html),
            "md" | "markdown" => Some(ReportFormat::Md),
            "csv" => Some(ReportFormat::Csv),
            "json" => Some(ReportFormat::Json),
            _ => None,
        }
    }
}

impl ShowbackReport {
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Html => html::render(self),
            ReportFormat::Md => markdown::render(self),
            ReportFormat::Csv => csv::render(self),
            ReportFormat::Json => serde_json::to_string_pretty(self).expect("a report serialises") + "\n",
        }
    }

    /// `team payments` for a slice, `team` for a whole report: what the report is about.
    pub fn subject(&self) -> String {
        match &self.value {
            Some(value) => format!("{} {value}", self.dimension),
            None => self.dimension.clone(),
        }
    }
}

/// Builds the showback of `request.month` from the store's current allocations.
pub async fn showback_report(store: &Store, request: &ShowbackRequest<'_>) -> Result<ShowbackReport, ReportError> {
    let dimension = &request.dimension;
    let allocated = store.allocated_dimensions().await?.ok_or(ReportError::NotAllocated)?;
    if !allocated.contains(dimension) {
        return Err(ReportError::DimensionNotAllocated {
            dimension: dimension.clone(),
            allocated: allocated.join(", "),
        });
    }
    let month = request.month;
    let mut months = vec![month];
    while months.len() < TREND_MONTHS {
        months.insert(0, months[0].previous());
    }
    let costs = store.monthly_allocated_costs(dimension, months[0], month).await?;
    // One value's report on `payments` is `Payments`'s in a dimension whose values fold.
    let cases = store.allocated_value_cases().await?;
    let requested = |d: &str, value: &str| request.value.as_deref().is_none_or(|want| cases.same(d, want, value));
    let invoice: BTreeMap<String, _> = store.invoice_totals(month).await?.into_iter().collect();
    let whole = request.value.is_none();

    // currency → value → (EffectiveCost per month, BilledCost of the month)
    let mut by_currency: BTreeMap<&str, BTreeMap<&str, (Vec<Money>, Money)>> = BTreeMap::new();
    for cost in &costs {
        let slot = months.iter().position(|m| *m == cost.month).expect("queried months only");
        let (trend, billed) = by_currency
            .entry(&cost.currency)
            .or_default()
            .entry(&cost.value)
            .or_insert_with(|| (vec![Money::ZERO; months.len()], Money::ZERO));
        trend[slot] += cost.effective_cost;
        if cost.month == month {
            *billed += cost.billed_cost;
        }
    }
    let current = TREND_MONTHS - 1;
    let mut currencies = Vec::new();
    let mut known: Vec<&str> = Vec::new();
    for (currency, values) in &by_currency {
        // A currency or value that stopped before the month before is history, not showback.
        let recent = |(trend, billed): &(Vec<Money>, Money)| {
            trend[current] != Money::ZERO || trend[current - 1] != Money::ZERO || *billed != Money::ZERO
        };
        let values: Vec<(&str, &(Vec<Money>, Money))> =
            values.iter().map(|(v, t)| (*v, t)).filter(|(_, t)| recent(t)).collect();
        if values.is_empty() {
            continue;
        }
        known.extend(values.iter().map(|(v, _)| *v));
        let total: Money = values.iter().map(|(_, (trend, _))| trend[current]).sum();
        let reconciliation = reconcile(
            values.iter().map(|(_, (_, billed))| *billed).sum(),
            total,
            invoice.get(*currency).map(|t| (t.billed_cost, t.effective_cost)),
        );
        let mut shown: Vec<ValueShowback> = values
            .iter()
            .filter(|(value, _)| requested(dimension, value))
            .map(|(value, (trend, billed))| {
                let (effective, previous) = (trend[current], trend[current - 1]);
                ValueShowback {
                    value: value.to_string(),
                    effective_cost: effective,
                    billed_cost: *billed,
                    previous_effective_cost: previous,
                    change: effective - previous,
                    change_pct: percent_change(effective, previous),
                    share: effective.fraction_of(total),
                    trend: trend.clone(),
                }
            })
            .collect();
        if shown.is_empty() {
            continue;
        }
        shown.sort_by(|a, b| b.effective_cost.cmp(&a.effective_cost).then_with(|| a.value.cmp(&b.value)));
        let mut movers: Vec<Mover> = if whole {
            shown
                .iter()
                .filter(|v| v.change != Money::ZERO)
                .map(|v| Mover { value: v.value.clone(), change: v.change, change_pct: v.change_pct })
                .collect()
        } else {
            Vec::new()
        };
        movers.sort_by(|a, b| b.change.abs().cmp(&a.change.abs()).then_with(|| a.value.cmp(&b.value)));
        movers.truncate(MOVERS);
        currencies.push(CurrencyShowback {
            currency: currency.to_string(),
            effective_cost: shown.iter().map(|v| v.effective_cost).sum(),
            billed_cost: shown.iter().map(|v| v.billed_cost).sum(),
            previous_effective_cost: shown.iter().map(|v| v.previous_effective_cost).sum(),
            values: shown,
            movers,
            reconciliation,
        });
    }
    if let Some(value) = &request.value
        && currencies.is_empty()
    {
        known.sort();
        known.dedup();
        return Err(ReportError::UnknownValue {
            dimension: dimension.clone(),
            value: value.clone(),
            month,
            known: if known.is_empty() { "none".into() } else { known.join(", ") },
        });
    }
    let in_slice = |d: &str, v: &str| d == dimension && requested(d, v);

    let mut unit_cost_lines = unit_costs(store, month, false).await?;
    unit_cost_lines.retain(|u| in_slice(&u.dimension, &u.value));

    let budgets: Vec<BudgetConfig> =
        request.budgets.iter().filter(|b| in_slice(&b.dimension, &b.value)).cloned().collect();
    let budgets = match store.charge_date_range().await? {
        Some((_, last)) if !budgets.is_empty() && last >= month.first_day() => {
            let as_of = last.min(month.end() - Days::new(1));
            budget_statuses(store, &budgets, as_of).await?.into_iter().map(budget_line).collect()
        }
        _ => Vec::new(),
    };

    let anomalies = store
        .anomalies(None)
        .await?
        .into_iter()
        .filter(|a| a.severity.is_some() && a.start < month.end() && a.end >= month.first_day())
        .filter_map(|a| {
            let (series_dimension, series_value) = a.series_key()?;
            (whole || in_slice(&series_dimension, &series_value))
                .then(|| anomaly_line(a, &format!("{series_dimension} = {series_value}")))
        })
        .collect();

    let (coverage, unallocated, folded_spellings) = if whole {
        let coverage = summarise_coverage(&store.allocation_coverage(month, std::slice::from_ref(dimension)).await?);
        let mut items = store.unallocated_items(month, UNALLOCATED_ITEMS).await?;
        items.retain(|item| &item.dimension == dimension);
        let mut spellings = store.folded_spellings(month).await?;
        spellings.retain(|spelling| &spelling.dimension == dimension);
        (coverage, items, spellings)
    } else {
        (Vec::new(), Vec::new(), Vec::new())
    };

    Ok(ShowbackReport {
        schema: SCHEMA,
        month,
        dimension: dimension.clone(),
        // As the allocations spell it.
        value: request.value.as_ref().map(|want| {
            currencies.iter().flat_map(|c| &c.values).next().map_or_else(|| want.clone(), |v| v.value.clone())
        }),
        generated_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        months,
        currencies,
        unit_costs: unit_cost_lines,
        budgets,
        anomalies,
        coverage,
        unallocated,
        folded_spellings,
    })
}

fn anomaly_line(anomaly: StoredAnomaly, series: &str) -> AnomalyLine {
    let mut root_causes: Vec<serde_json::Value> = serde_json::from_str(&anomaly.root_causes).unwrap_or_default();
    root_causes.truncate(ROOT_CAUSES);
    AnomalyLine {
        id: anomaly.id,
        monitor: anomaly.monitor,
        series: series.to_string(),
        currency: anomaly.currency,
        start: anomaly.start,
        end: anomaly.end,
        status: anomaly.status,
        severity: anomaly.severity.unwrap_or_default(),
        expected: anomaly.expected,
        actual: anomaly.actual,
        impact: anomaly.impact,
        impact_pct: anomaly.impact_pct,
        root_causes,
        feedback: anomaly.feedback,
    }
}

fn reconcile(billed: Money, effective: Money, invoice: Option<(Money, Money)>) -> Reconciliation {
    let difference = invoice.map(|(b, e)| (billed - b).abs().max((effective - e).abs()));
    Reconciliation {
        allocated_billed_cost: billed,
        allocated_effective_cost: effective,
        invoice_billed_cost: invoice.map(|(b, _)| b),
        invoice_effective_cost: invoice.map(|(_, e)| e),
        difference,
        balances: difference.is_some_and(|d| d <= ONE_CENT),
    }
}

fn budget_line(status: crate::analyse::budgets::BudgetStatus) -> BudgetLine {
    BudgetLine {
        actual_pct: status.actual_pct(),
        forecast_pct: status.forecast_pct(),
        variance: status.variance(),
        thresholds_crossed: status.crossed.iter().map(|(kind, pct, _)| format!("{kind} ≥ {pct}%")).collect(),
        budget: status.budget,
        value: status.value,
        currency: status.currency,
        period_start: status.period_start,
        period_last_day: status.period_end - Days::new(1),
        as_of: status.as_of,
        amount: status.amount,
        actual: status.actual,
        forecast: status.forecast.total,
        forecast_low: status.forecast.low,
        forecast_high: status.forecast.high,
        forecast_method: status.forecast.method.to_string(),
    }
}

/// Percent change from `previous` to `current`, against the size of `previous`.
fn percent_change(current: Money, previous: Money) -> Option<f64> {
    (current - previous).fraction_of(previous.abs()).map(|r| r * 100.0)
}

/// `+12.3%`, or `new` when there was nothing before.
fn format_change_pct(pct: Option<f64>) -> String {
    pct.map_or_else(|| "new".to_string(), |p| format!("{p:+.1}%"))
}

/// `25.0%`, or empty when there is no total.
fn format_share(share: Option<f64>) -> String {
    share.map(|s| format!("{:.1}%", s * 100.0)).unwrap_or_default()
}

/// `name (id)` of an unallocated item's sub-account.
fn sub_account(item: &UnallocatedItem) -> String {
    crate::store::sub_account_label(&item.sub_account_id, &item.sub_account_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_against_the_size_of_the_month_before() {
        let m = |units: i128| Money::from_nanos(units * 1_000_000_000);
        assert_eq!(percent_change(m(150), m(100)), Some(50.0));
        assert_eq!(percent_change(m(-50), m(-100)), Some(50.0));
        assert_eq!(percent_change(m(10), Money::ZERO), None);
        assert_eq!(format_change_pct(Some(-12.345)), "-12.3%");
        assert_eq!(format_change_pct(None), "new");
    }

    #[test]
    fn reconciliation_balances_within_a_cent() {
        let cents = |c: i128| Money::from_nanos(c * 10_000_000);
        assert!(reconcile(cents(100), cents(200), Some((cents(101), cents(200)))).balances);
        let off = reconcile(cents(100), cents(200), Some((cents(100), cents(202))));
        assert!(!off.balances);
        assert_eq!(off.difference, Some(cents(2)));
        assert!(!reconcile(cents(100), cents(200), None).balances);
    }
}
