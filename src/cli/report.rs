//! `finopsd report showback`: the month's showback report as HTML, Markdown, CSV or JSON.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use finopsd::config::Config;
use finopsd::report::{ReportFormat, ShowbackRequest, showback_report};

use super::{UsageError, check_dimensions, month_arg, open_store};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    report: Report,
}

#[derive(Debug, Subcommand)]
enum Report {
    /// Allocated spend of one invoice month per value of a dimension: the month before, a
    /// six-month trend, top movers, unit costs, budgets, anomalies, coverage and the
    /// reconciliation to the invoice.
    Showback(ShowbackArgs),
}

#[derive(Debug, Args)]
struct ShowbackArgs {
    /// The invoice month (billing period), e.g. 2025-03.
    #[arg(long, value_name = "YYYY-MM")]
    month: String,
    /// The allocation dimension to report by, e.g. team, service or cost_center.
    #[arg(long, default_value = "team", value_name = "DIMENSION")]
    by: String,
    /// Only this value's own report, e.g. `--value payments` for the payments team.
    #[arg(long, value_name = "VALUE")]
    value: Option<String>,
    /// html, md, csv or json; by default the --out file's extension, else md.
    #[arg(long, value_enum)]
    format: Option<ReportFormat>,
    /// Write the report to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub async fn run(config: &Config, args: ReportArgs) -> anyhow::Result<()> {
    let Report::Showback(args) = args.report;
    let month = month_arg(&args.month)?;
    check_dimensions(config, "by", std::iter::once(args.by.as_str()))?;
    let format = match (args.format, &args.out) {
        (Some(format), _) => format,
        (None, Some(out)) => ReportFormat::from_extension(out).ok_or_else(|| {
            UsageError(format!("cannot tell the format from {}; add --format html|md|csv|json", out.display()))
        })?,
        (None, None) => ReportFormat::Md,
    };
    let store = open_store(config).await?;
    let request = ShowbackRequest { month, dimension: args.by, value: args.value, budgets: &config.budgets };
    let report = showback_report(&store, &request).await;
    store.close().await;
    let text = report?.render(format);
    match args.out {
        Some(out) => {
            std::fs::write(&out, text).with_context(|| format!("cannot write the report to {}", out.display()))?;
            eprintln!("wrote {}", out.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}
