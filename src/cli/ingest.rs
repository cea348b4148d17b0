//! `finopsd ingest` and `finopsd ingest status`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use finopsd::config::Config;
use finopsd::ingest::{IngestRequest, IngestSettings, ingest};
use finopsd::store::{IngestRunRecord, ReconciliationLine, RunOutcome};

use super::output::{Field, OutputFormat, Tabular};
use super::{UsageError, open_store};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct IngestArgs {
    #[command(subcommand)]
    action: Option<IngestAction>,
    /// Export files or folders (searched for .csv, .csv.gz and .parquet). Each billing period
    /// of each billing account found replaces what the store held for it, all at once.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Read the files as this format instead of detecting it from their header (e.g. focus-1.2).
    #[arg(long, value_name = "NAME")]
    format: Option<String>,
    /// Store the facts under this source name instead of `<provider>:<billing account>`.
    /// Use it when one billing account has two independent export streams.
    #[arg(long, value_name = "NAME")]
    source: Option<String>,
    /// How to print the reconciliation: table, csv or json.
    #[arg(long = "output", value_enum, default_value = "table", value_name = "FORMAT")]
    output: OutputFormat,
}

#[derive(Debug, Subcommand)]
enum IngestAction {
    /// Show the ingest ledger: each load with its files, checksums, rows, totals and outcome.
    Status {
        /// How many of the newest loads to show.
        #[arg(long, default_value_t = 10)]
        limit: i64,
        /// table, csv or json.
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
}

pub async fn run(config: &Config, args: IngestArgs, quiet: bool) -> anyhow::Result<()> {
    if let Some(IngestAction::Status { limit, format }) = args.action {
        let store = open_store(config).await?;
        let runs = store.ingest_runs(limit).await?;
        store.close().await;
        match format {
            // The ledger is nested (files, reconciliation lines); JSON keeps its shape.
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&runs)?),
            _ => print!("{}", ledger_table(&runs).render(format)),
        }
        return Ok(());
    }
    if args.paths.is_empty() {
        return Err(
            UsageError("name at least one export file or folder, e.g. `finopsd ingest sample-data/`".into()).into()
        );
    }
    let settings = IngestSettings::from_config(&config.ingest)?;
    let store = open_store(config).await?;
    let request = IngestRequest { paths: args.paths, format: args.format, source: args.source, quiet };
    let report = ingest(&store, &settings, &request).await;
    // Allocations are derived from all stored facts: refresh them while the store is open.
    let allocation = match &report {
        Ok(_) => Some(super::allocate::allocate(config, &store).await),
        Err(_) => None,
    };
    store.close().await;
    let report = report?;
    let allocation = allocation.transpose()?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    print!("{}", reconciliation_table(&report.run.reconciliation).render(args.output));
    if args.output == OutputFormat::Table {
        println!(
            "ingest #{}: {} line items from {} file(s) into {} daily facts in {:.1}s; every period reconciles to the cent",
            report.run.id,
            report.run.line_items,
            report.run.files.len(),
            report.run.facts,
            report.run.duration_ms as f64 / 1000.0
        );
        for fallback in &report.run.fallbacks {
            println!(
                "{} line item(s) left {} empty: described by {} instead",
                fallback.line_items, fallback.column, fallback.source
            );
        }
        if let Some(allocation) = allocation {
            println!(
                "allocated {} facts by {} (see `finopsd showback --month YYYY-MM --by team`)",
                allocation.facts,
                config.allocation.dimensions.iter().map(|d| d.name.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(())
}

/// Export totals beside stored totals, per source, billing period and currency.
pub fn reconciliation_table(lines: &[ReconciliationLine]) -> Tabular {
    let mut table = Tabular::new(
        [
            "source",
            "billing_period",
            "currency",
            "export_billed_cost",
            "stored_billed_cost",
            "export_effective_cost",
            "stored_effective_cost",
            "difference",
        ]
        .map(String::from)
        .to_vec(),
    );
    for line in lines {
        table.rows.push(vec![
            Field::Text(line.source.clone()),
            Field::Text(line.billing_period.clone()),
            Field::Text(line.currency.clone()),
            Field::Money(line.export.billed_cost),
            Field::Money(line.stored.billed_cost),
            Field::Money(line.export.effective_cost),
            Field::Money(line.stored.effective_cost),
            Field::Money(line.difference()),
        ]);
    }
    table
}

fn ledger_table(runs: &[IngestRunRecord]) -> Tabular {
    let mut table = Tabular::new(
        [
            "id",
            "started_at",
            "outcome",
            "files",
            "line_items",
            "facts",
            "duration_ms",
            "periods",
            "checksum",
            "fallbacks",
            "error",
        ]
        .map(String::from)
        .to_vec(),
    );
    for run in runs {
        let files = run.files.iter().map(|f| format!("{} ({})", f.path, f.format)).collect::<Vec<_>>().join("; ");
        let periods = run
            .reconciliation
            .iter()
            .map(|l| {
                format!("{} {} {}: {}", l.source, l.billing_period, l.currency, l.stored.billed_cost.display_cents())
            })
            .collect::<Vec<_>>()
            .join("; ");
        let checksums = run
            .files
            .iter()
            .map(|f| {
                let hex = f.checksum.trim_start_matches("xxh3-128:");
                hex.get(..12).unwrap_or(hex).to_string()
            })
            .collect::<Vec<_>>()
            .join(" ");
        let fallbacks = run
            .fallbacks
            .iter()
            .map(|f| format!("{} {} from {}", f.line_items, f.column, f.source))
            .collect::<Vec<_>>()
            .join("; ");
        table.rows.push(vec![
            Field::Count(run.id),
            Field::Text(run.started_at.format("%Y-%m-%d %H:%M:%S").to_string()),
            Field::Text(match run.outcome {
                RunOutcome::Ok => "ok".into(),
                RunOutcome::Failed => "failed".into(),
            }),
            Field::Text(files),
            Field::Count(run.line_items),
            Field::Count(run.facts),
            Field::Count(run.duration_ms),
            Field::Text(periods),
            Field::Text(checksums),
            Field::Text(fallbacks),
            Field::Text(run.error.clone().unwrap_or_default()),
        ]);
    }
    table
}
