//! The CSV form: one row per value and currency, for spreadsheets. Column names are stable;
//! money is exact decimal text, percentages are numbers (12.5 for 12.5%), empty when unknown.

use super::ShowbackReport;

pub const COLUMNS: [&str; 15] = [
    "month",
    "dimension",
    "value",
    "currency",
    "effective_cost",
    "billed_cost",
    "previous_effective_cost",
    "change",
    "change_pct",
    "share_pct",
    "budget",
    "budget_amount",
    "budget_forecast",
    "budget_forecast_pct",
    "budget_variance",
];

pub fn render(report: &ShowbackReport) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(COLUMNS).expect("writing to memory");
    let number = |n: Option<f64>| n.map(|n| format!("{n:.4}")).unwrap_or_default();
    for section in &report.currencies {
        for value in &section.values {
            let budget = report.budgets.iter().find(|b| b.value == value.value && b.currency == section.currency);
            out.write_record([
                report.month.to_string(),
                report.dimension.clone(),
                value.value.clone(),
                section.currency.clone(),
                value.effective_cost.to_string(),
                value.billed_cost.to_string(),
                value.previous_effective_cost.to_string(),
                value.change.to_string(),
                number(value.change_pct),
                number(value.share.map(|s| s * 100.0)),
                budget.map(|b| b.budget.clone()).unwrap_or_default(),
                budget.map(|b| b.amount.to_string()).unwrap_or_default(),
                budget.map(|b| b.forecast.to_string()).unwrap_or_default(),
                number(budget.map(|b| b.forecast_pct)),
                budget.map(|b| b.variance.to_string()).unwrap_or_default(),
            ])
            .expect("writing to memory");
        }
    }
    String::from_utf8(out.into_inner().expect("writing to memory")).expect("CSV of UTF-8 text")
}
