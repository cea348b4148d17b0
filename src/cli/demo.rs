//! `finopsd demo` and `finopsd sample generate`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use finopsd::config::{Config, DatabaseUrl};
use finopsd::focus::BillingPeriod;
use finopsd::ingest::{IngestRequest, IngestSettings, ingest};
use finopsd::sample::{SampleSpec, generate as generate_sample};
use finopsd::store::{CostDimension, CostQuery, ShowbackQuery, Store};

use super::UsageError;
use super::ingest::reconciliation_table;
use super::output::{Field, OutputFormat, Tabular};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Sample exports to load.
    #[arg(long, default_value = "sample-data", value_name = "DIR")]
    data: PathBuf,
    /// SQLite file the demo writes; it is deleted and created anew on every run.
    #[arg(long, default_value = "finopsd-demo.db", value_name = "FILE")]
    db: PathBuf,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Folder to write into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// How many months of data.
    #[arg(long, default_value_t = 6)]
    months: u32,
    /// First month, YYYY-MM.
    #[arg(long, default_value = "2025-01", value_name = "MONTH")]
    start: String,
    /// Random seed: the same seed writes the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    let first_month: BillingPeriod = args.start.parse().map_err(UsageError)?;
    if args.months == 0 {
        return Err(UsageError("--months must be at least 1".into()).into());
    }
    let summary =
        generate_sample(&SampleSpec { out: args.out.clone(), first_month, months: args.months, seed: args.seed })?;
    println!(
        "wrote {} line items in {} files under {} ({} injected anomalies listed in labels/anomalies.json)",
        summary.line_items,
        summary.files.len(),
        args.out.display(),
        summary.anomalies
    );
    Ok(())
}

pub async fn run(config: &Config, args: DemoArgs) -> anyhow::Result<()> {
    if !args.data.is_dir() {
        return Err(UsageError(format!(
            "{} is not a folder of sample exports; create one with `finopsd sample generate --out {}`",
            args.data.display(),
            args.data.display()
        ))
        .into());
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut path = args.db.clone().into_os_string();
        path.push(suffix);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("cannot remove the old demo file {path:?}")),
        }
    }
    let url = DatabaseUrl::new(format!("sqlite://{}", args.db.display()));
    let store = Store::open(&url, 2).await?;
    let settings = IngestSettings::from_config(&config.ingest)?;

    println!("finopsd demo: loading the sample exports in {} into {}\n", args.data.display(), args.db.display());
    let request = IngestRequest { paths: vec![args.data.clone()], quiet: true, ..IngestRequest::default() };
    let report = ingest(&store, &settings, &request).await?;
    println!("Reconciliation: the export's own totals beside what was stored, per billing period and currency");
    print!("{}", reconciliation_table(&report.run.reconciliation).render(OutputFormat::Table));
    println!(
        "{} line items from {} files became {} daily cost facts; all {} billing periods reconcile to the cent.\n",
        report.run.line_items,
        report.run.files.len(),
        report.run.facts,
        report.run.reconciliation.len()
    );

    let (first, last) = store.charge_date_range().await?.context("the sample data holds no costs")?;
    let by = |dims: &[CostDimension], from, to| CostQuery { from, to, group_by: dims.to_vec() };
    println!("Effective cost by month and provider (amortised; currencies are never added together)");
    let rows = store.costs(&by(&[CostDimension::Month, CostDimension::Provider], first, last)).await?;
    let mut table =
        Tabular::new(["month", "provider", "currency", "billed_cost", "effective_cost"].map(String::from).to_vec());
    for row in rows {
        let mut fields: Vec<Field> = row.keys.into_iter().map(Field::Text).collect();
        fields.extend([
            Field::Text(row.currency),
            Field::Money(row.totals.billed_cost),
            Field::Money(row.totals.effective_cost),
        ]);
        table.rows.push(fields);
    }
    print!("{}", table.render(OutputFormat::Table));

    let last_month = BillingPeriod::containing(last);
    let allocation = super::allocate::allocate(config, &store).await?;
    println!(
        "\nShowback by team for {last_month}: {} facts allocated by the rules in the config (team, service and \
         cost_center from their tags, with `owner-team` read as `team`; untagged spend stays unallocated)",
        allocation.facts
    );
    let rows = store.showback(&ShowbackQuery { month: last_month, by: vec!["team".into()] }).await?;
    print!("{}", super::showback::showback_table(&["team".into()], rows).render(OutputFormat::Table));
    store.close().await;

    let db = args.db.display();
    println!(
        "\nExplore the demo store (sample data runs {first} to {last}, {} days):\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd showback --month {last_month} --by team,service\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd costs --by service --from {last_month}\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd costs --by day,tag:team --from {last_month} --format csv\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd ingest status",
        (last - first).num_days() + 1,
    );
    Ok(())
}
