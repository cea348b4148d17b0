//! `finopsd costs`: what did we spend.

use clap::{Args, ValueEnum};

use finopsd::config::Config;
use finopsd::focus::BillingPeriod;
use finopsd::store::{CostDimension, CostQuery, CostRow};

use super::output::{Field, OutputFormat, Tabular};
use super::{UsageError, open_store};

#[derive(Debug, Args)]
pub struct CostsArgs {
    /// First day included: a date (2025-03-01) or a month (2025-03). Default: the first day
    /// the store holds.
    #[arg(long, value_name = "DATE|MONTH")]
    from: Option<String>,
    /// Last day included: a date or a month (a month means its last day). Default: the last
    /// day the store holds.
    #[arg(long, value_name = "DATE|MONTH")]
    to: Option<String>,
    /// Comma-separated dimensions to total by: day, month (when the usage happened),
    /// billing_period (the invoice month), provider, billing_account, sub_account, service,
    /// region, charge_category, marketplace (the seller of marketplace charges, empty for the
    /// provider's own), tag:<key> (a tag kept at ingest, e.g. tag:team).
    #[arg(long, value_delimiter = ',', default_value = "month,provider", value_name = "DIMENSIONS")]
    by: Vec<String>,
    /// Which cost to show in the table and sort by: effective (amortised, the default) or
    /// billed (what the invoice says). CSV and JSON always carry all three costs.
    #[arg(long, value_enum, default_value = "effective")]
    cost: CostKind,
    /// table, csv or json.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CostKind {
    Billed,
    Effective,
}

pub async fn run(config: &Config, args: CostsArgs) -> anyhow::Result<()> {
    let group_by = args
        .by
        .iter()
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.parse::<CostDimension>().map_err(UsageError))
        .collect::<Result<Vec<_>, _>>()?;
    let from =
        args.from.as_deref().map(|t| BillingPeriod::parse_day_bound(t, false).map_err(UsageError)).transpose()?;
    let to = args.to.as_deref().map(|t| BillingPeriod::parse_day_bound(t, true).map_err(UsageError)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(UsageError(format!("--from {from} is after --to {to}")).into());
    }
    let store = open_store(config).await?;
    let range = store.charge_date_range().await?;
    let Some((first, last)) = range else {
        store.close().await;
        eprintln!("the store holds no costs yet; load an export with `finopsd ingest <path>` (try `finopsd demo`)");
        return Ok(());
    };
    let query = CostQuery { from: from.unwrap_or(first), to: to.unwrap_or(last), group_by };
    let mut rows = store.costs(&query).await?;
    store.close().await;
    sort_rows(&mut rows, &query.group_by, args.cost);
    print!("{}", costs_table(&query.group_by, &rows, args.cost, args.format).render(args.format));
    Ok(())
}

/// Time dimensions in order, then the largest cost first within them.
fn sort_rows(rows: &mut [CostRow], group_by: &[CostDimension], cost: CostKind) {
    let time: Vec<usize> = group_by.iter().enumerate().filter(|(_, d)| d.is_time()).map(|(i, _)| i).collect();
    let amount = |row: &CostRow| match cost {
        CostKind::Billed => row.totals.billed_cost,
        CostKind::Effective => row.totals.effective_cost,
    };
    rows.sort_by(|a, b| {
        let time_a = time.iter().map(|&i| &a.keys[i]);
        time_a
            .cmp(time.iter().map(|&i| &b.keys[i]))
            .then_with(|| a.currency.cmp(&b.currency))
            .then_with(|| amount(b).cmp(&amount(a)))
            .then_with(|| a.keys.cmp(&b.keys))
    });
}

fn costs_table(group_by: &[CostDimension], rows: &[CostRow], cost: CostKind, format: OutputFormat) -> Tabular {
    let mut columns: Vec<String> = group_by.iter().map(ToString::to_string).collect();
    columns.push("currency".into());
    let all_costs = format != OutputFormat::Table;
    if all_costs {
        columns.extend(["billed_cost", "effective_cost", "list_cost"].map(String::from));
    } else {
        columns.push(match cost {
            CostKind::Billed => "billed_cost".into(),
            CostKind::Effective => "effective_cost".into(),
        });
    }
    let mut table = Tabular::new(columns);
    for row in rows {
        let mut fields: Vec<Field> = row.keys.iter().cloned().map(Field::Text).collect();
        fields.push(Field::Text(row.currency.clone()));
        if all_costs {
            fields.extend([
                Field::Money(row.totals.billed_cost),
                Field::Money(row.totals.effective_cost),
                Field::Money(row.totals.list_cost),
            ]);
        } else {
            fields.push(Field::Money(match cost {
                CostKind::Billed => row.totals.billed_cost,
                CostKind::Effective => row.totals.effective_cost,
            }));
        }
        table.rows.push(fields);
    }
    table
}
