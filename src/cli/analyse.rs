//! `finopsd unit-costs` and `finopsd budgets`: what each unit of work costs, and where
//! spend stands against its budgets.

use anyhow::Context;
use chrono::{Days, NaiveDate, Utc};
use clap::{Args, Subcommand};

use finopsd::analyse::budgets::{BudgetStatus, evaluate_budgets};
use finopsd::analyse::unit_costs::{UnitCost, pull_feeds, unit_costs};
use finopsd::config::Config;
use finopsd::focus::BillingPeriod;
use finopsd::store::Store;

use super::output::{Field, OutputFormat, Tabular};
use super::{month_arg, open_store};

#[derive(Debug, Args)]
pub struct UnitCostsArgs {
    #[command(subcommand)]
    action: Option<UnitCostsAction>,
    /// The month of charge days to report, e.g. 2025-03; the last month with costs by default.
    #[arg(long, value_name = "YYYY-MM")]
    month: Option<String>,
    /// One row per day instead of one per month.
    #[arg(long)]
    daily: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Debug, Subcommand)]
enum UnitCostsAction {
    /// Fetch every configured unit-metric feed (`[[unit_costs.feeds]]`) into the store.
    Pull {
        /// The last day Prometheus feeds fetch; yesterday (UTC) by default.
        #[arg(long, value_name = "YYYY-MM-DD")]
        until: Option<NaiveDate>,
    },
}

#[derive(Debug, Args)]
pub struct BudgetsArgs {
    /// Evaluate as of this day; the last day with costs by default.
    #[arg(long, value_name = "YYYY-MM-DD")]
    as_of: Option<NaiveDate>,
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

pub async fn run_unit_costs(config: &Config, args: UnitCostsArgs) -> anyhow::Result<()> {
    let store = open_store(config).await?;
    let result = unit_costs_command(config, &store, args).await;
    store.close().await;
    result
}

async fn unit_costs_command(config: &Config, store: &Store, args: UnitCostsArgs) -> anyhow::Result<()> {
    if let Some(UnitCostsAction::Pull { until }) = args.action {
        if config.unit_costs.feeds.is_empty() {
            eprintln!("no unit-metric feeds are configured: add [[unit_costs.feeds]] to the config");
        }
        let until = until.unwrap_or_else(|| Utc::now().date_naive() - Days::new(1));
        for (feed, rows) in pull_feeds(store, &config.unit_costs, until).await? {
            println!("unit-metric feed {feed}: {rows} daily quantities kept");
        }
        return Ok(());
    }
    let month = match &args.month {
        Some(text) => month_arg(text)?,
        None => match store.charge_date_range().await? {
            Some((_, last)) => BillingPeriod::containing(last),
            None => {
                eprintln!("the store holds no costs yet: run `finopsd ingest <path>`");
                return Ok(());
            }
        },
    };
    let rows = unit_costs(store, month, args.daily).await?;
    if rows.is_empty() && args.format == OutputFormat::Table {
        eprintln!(
            "no unit costs for {month}: pull unit metrics (`finopsd unit-costs pull`) for dimension values that \
             have allocated costs"
        );
    }
    print!("{}", unit_cost_table(&rows, args.daily).render(args.format));
    Ok(())
}

pub fn unit_cost_table(rows: &[UnitCost], daily: bool) -> Tabular {
    let mut columns = vec!["dimension", "value", "metric", "currency", if daily { "date" } else { "month" }];
    columns.extend(["days", "effective_cost", "quantity", "cost_per_unit"]);
    let mut table = Tabular::new(columns.into_iter().map(String::from).collect());
    for row in rows {
        let date = if daily { row.date.to_string() } else { row.date.format("%Y-%m").to_string() };
        table.rows.push(vec![
            Field::Text(row.dimension.clone()),
            Field::Text(row.value.clone()),
            Field::Text(row.metric.clone()),
            Field::Text(row.currency.clone()),
            Field::Text(date),
            Field::Count(row.days as i64),
            Field::Money(row.effective_cost),
            Field::Text(format!("{}", row.quantity)),
            // Unit costs are often fractions of a cent: show them exactly.
            Field::Text(row.cost_per_unit.map(|m| m.to_string()).unwrap_or_default()),
        ]);
    }
    table
}

pub async fn run_budgets(config: &Config, args: BudgetsArgs) -> anyhow::Result<()> {
    if config.budgets.is_empty() {
        eprintln!("no budgets are configured: add [[budgets]] to the config");
        return Ok(());
    }
    let store = open_store(config).await?;
    let result = budgets_command(config, &store, args).await;
    store.close().await;
    result
}

async fn budgets_command(config: &Config, store: &Store, args: BudgetsArgs) -> anyhow::Result<()> {
    let as_of = match args.as_of {
        Some(day) => day,
        None => store.charge_date_range().await?.map(|(_, last)| last).context("the store holds no costs yet")?,
    };
    let statuses = evaluate_budgets(store, &config.budgets, as_of).await?;
    print!("{}", budget_table(&statuses).render(args.format));
    let new: Vec<String> = statuses
        .iter()
        .flat_map(|s| {
            s.crossed.iter().filter(|(_, _, new)| *new).map(move |(kind, pct, _)| {
                format!(
                    "{} {}: {kind} reached {pct}% of {} {}",
                    s.budget,
                    s.currency,
                    s.amount.display_cents(),
                    s.currency
                )
            })
        })
        .collect();
    if args.format == OutputFormat::Table && !new.is_empty() {
        println!("New budget alerts (kept for delivery):\n  {}", new.join("\n  "));
    }
    Ok(())
}

pub fn budget_table(statuses: &[BudgetStatus]) -> Tabular {
    let columns = [
        "budget",
        "dimension",
        "value",
        "period",
        "as_of",
        "currency",
        "amount",
        "actual",
        "actual_pct",
        "forecast",
        "forecast_low",
        "forecast_high",
        "forecast_pct",
        "variance",
        "method",
        "alerts",
    ];
    let mut table = Tabular::new(columns.map(String::from).to_vec());
    for s in statuses {
        let period = format!("{}..{}", s.period_start, s.period_end - Days::new(1));
        let alerts: Vec<String> = s.crossed.iter().map(|(kind, pct, _)| format!("{kind} ≥ {pct}%")).collect();
        table.rows.push(vec![
            Field::Text(s.budget.clone()),
            Field::Text(s.dimension.clone()),
            Field::Text(s.value.clone()),
            Field::Text(period),
            Field::Text(s.as_of.to_string()),
            Field::Text(s.currency.clone()),
            Field::Money(s.amount),
            Field::Money(s.actual),
            Field::Ratio(Some(s.actual_pct() / 100.0)),
            Field::Money(s.forecast.total),
            Field::Money(s.forecast.low),
            Field::Money(s.forecast.high),
            Field::Ratio(Some(s.forecast_pct() / 100.0)),
            Field::Money(s.variance()),
            Field::Text(s.forecast.method.to_string()),
            Field::Text(alerts.join(", ")),
        ]);
    }
    table
}
