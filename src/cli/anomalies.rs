//! `finopsd anomalies`: replay daily series through the detector.

use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Subcommand};

use finopsd::detect::series::read_series_csv;
use finopsd::detect::{DetectorSettings, scan as scan_series};

#[derive(Debug, Args)]
pub struct AnomaliesArgs {
    #[command(subcommand)]
    action: AnomaliesAction,
}

#[derive(Debug, Subcommand)]
enum AnomaliesAction {
    /// Run the detector day by day, without look-ahead, over a CSV of daily series
    /// (`series_id,date,cost`, any number of series) and print the alerts as JSON: replay
    /// your own history to tune the thresholds.
    Scan(ScanArgs),
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// The CSV of daily series.
    #[arg(long, value_name = "FILE")]
    series: PathBuf,
    /// An alert needs at least this much money of impact.
    #[arg(long, default_value_t = DetectorSettings::default().min_impact)]
    min_impact: f64,
    /// …and at least this percentage of the expected cost.
    #[arg(long, default_value_t = DetectorSettings::default().min_impact_pct)]
    min_impact_pct: f64,
    /// No day is judged before this many days of history.
    #[arg(long, default_value_t = DetectorSettings::default().min_history_days)]
    min_history_days: usize,
    /// A lasting shift is the new normal after this many days.
    #[arg(long, default_value_t = DetectorSettings::default().new_normal_days)]
    new_normal_days: usize,
    /// Days neither judged nor learned as they are (holidays, planned events), comma separated.
    #[arg(long, value_delimiter = ',', value_name = "YYYY-MM-DD")]
    quiet_days: Vec<NaiveDate>,
}

pub fn run(args: AnomaliesArgs) -> anyhow::Result<()> {
    match args.action {
        AnomaliesAction::Scan(args) => scan(args),
    }
}

fn scan(args: ScanArgs) -> anyhow::Result<()> {
    let settings = DetectorSettings {
        min_impact: args.min_impact,
        min_impact_pct: args.min_impact_pct,
        min_history_days: args.min_history_days,
        new_normal_days: args.new_normal_days.max(1),
        quiet_days: args.quiet_days.into_iter().collect(),
        ..DetectorSettings::default()
    };
    let alerts = scan_series(&read_series_csv(&args.series)?, &settings);
    let json = serde_json::to_string_pretty(&alerts).context("alerts serialise")?;
    println!("{json}");
    Ok(())
}
