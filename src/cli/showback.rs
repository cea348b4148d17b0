//! `finopsd showback`: allocated spend of one invoice month by allocation dimension.

use clap::Args;

use finopsd::config::Config;
use finopsd::focus::Money;
use finopsd::store::{ShowbackQuery, ShowbackRow};

use super::output::{Field, OutputFormat, Tabular};
use super::{check_dimensions, month_arg, open_store};

#[derive(Debug, Args)]
pub struct ShowbackArgs {
    /// The invoice month (billing period), e.g. 2025-03: its totals match the invoice.
    #[arg(long, value_name = "YYYY-MM")]
    month: String,
    /// Comma-separated allocation dimensions to show spend by, e.g. team or team,service.
    #[arg(long, value_delimiter = ',', default_value = "team", value_name = "DIMENSIONS")]
    by: Vec<String>,
    /// table, csv or json.
    #[arg(long, value_enum, default_value = "table")]
    format: OutputFormat,
}

pub async fn run(config: &Config, args: ShowbackArgs) -> anyhow::Result<()> {
    let month = month_arg(&args.month)?;
    let by: Vec<String> = args.by.iter().map(|d| d.trim().to_string()).filter(|d| !d.is_empty()).collect();
    check_dimensions(config, "by", by.iter().map(String::as_str))?;
    let store = open_store(config).await?;
    let allocated = store.allocated_dimensions().await;
    let rows = store.showback(&ShowbackQuery { month, by: by.clone() }).await;
    store.close().await;
    match allocated? {
        None => {
            eprintln!("nothing is allocated yet: run `finopsd allocate` (ingest runs it too)");
            return Ok(());
        }
        Some(dimensions) if by.iter().any(|d| !dimensions.contains(d)) => {
            eprintln!(
                "the stored allocations were made with other rules ({}); run `finopsd allocate` to apply the config",
                dimensions.join(", ")
            );
            return Ok(());
        }
        Some(_) => {}
    }
    print!("{}", showback_table(&by, rows?).render(args.format));
    Ok(())
}

/// Per value and currency, largest spend first; each share is of its own currency's total.
pub fn showback_table(by: &[String], mut rows: Vec<ShowbackRow>) -> Tabular {
    rows.sort_by(|a, b| {
        a.currency.cmp(&b.currency).then(b.effective_cost.cmp(&a.effective_cost)).then(a.values.cmp(&b.values))
    });
    let mut columns: Vec<String> = by.to_vec();
    columns.extend(
        ["currency", "effective_cost", "billed_cost", "previous_effective_cost", "change", "share"].map(String::from),
    );
    let mut table = Tabular::new(columns);
    for row in &rows {
        let total: Money = rows.iter().filter(|r| r.currency == row.currency).map(|r| r.effective_cost).sum();
        let share = row.effective_cost.fraction_of(total);
        let mut fields: Vec<Field> = row.values.iter().cloned().map(Field::Text).collect();
        fields.extend([
            Field::Text(row.currency.clone()),
            Field::Money(row.effective_cost),
            Field::Money(row.billed_cost),
            Field::Money(row.previous_effective_cost),
            Field::Money(row.effective_cost - row.previous_effective_cost),
            Field::Ratio(share),
        ]);
        table.rows.push(fields);
    }
    table
}
