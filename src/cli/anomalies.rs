//! `finopsd anomalies`: detect anomalies in the store's daily series, list them, give
//! feedback, and replay daily series from a file through the same detector.

use std::path::PathBuf;

use anyhow::Context;
use chrono::NaiveDate;
use clap::{Args, Subcommand};

use finopsd::allocate::Allocator;
use finopsd::config::Config;
use finopsd::detect::monitor::{detect_store, public_holidays};
use finopsd::detect::series::read_series_csv;
use finopsd::detect::{DetectorSettings, scan as scan_series};
use finopsd::store::{Store, StoredAnomaly};

use super::output::{Field, OutputFormat, Tabular};
use super::{UsageError, open_store};

#[derive(Debug, Args)]
pub struct AnomaliesArgs {
    #[command(subcommand)]
    action: AnomaliesAction,
}

#[derive(Debug, Subcommand)]
enum AnomaliesAction {
    /// Run every configured monitor (`[[anomalies.monitors]]`) over the stored costs, day by
    /// day without look-ahead, and keep the anomalies found with their root causes.
    Detect,
    /// The anomalies kept, newest first.
    List {
        /// Only anomalies of this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[arg(long, value_enum, default_value = "table")]
        format: OutputFormat,
    },
    /// Tell finopsd whether an anomaly was real: `expected` and `planned` days are learned
    /// as normal by the next `anomalies detect`.
    Feedback {
        /// The anomaly's id, as `anomalies list` shows it.
        id: String,
        #[arg(value_enum)]
        feedback: Feedback,
        /// Why, for whoever reads the anomaly next.
        #[arg(long)]
        note: Option<String>,
    },
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
    /// …and at least this percentage of the expected cost, unless it moves at least
    /// --major-impact a day.
    #[arg(long, default_value_t = DetectorSettings::default().min_impact_pct)]
    min_impact_pct: f64,
    #[arg(long, default_value_t = DetectorSettings::default().major_impact)]
    major_impact: f64,
    /// No day is judged before this many days of history.
    #[arg(long, default_value_t = DetectorSettings::default().min_history_days)]
    min_history_days: usize,
    /// A lasting shift is the new normal after this many days.
    #[arg(long, default_value_t = DetectorSettings::default().new_normal_days)]
    new_normal_days: usize,
    /// Days neither judged nor learned as they are (planned events, company days off), comma
    /// separated.
    #[arg(long, value_delimiter = ',', value_name = "YYYY-MM-DD")]
    quiet_days: Vec<NaiveDate>,
    /// Public holidays of this country (ISO 3166-1 alpha-2), judged for a rise only; "" for none.
    #[arg(long, default_value = "US", value_name = "CODE")]
    holiday_country: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatusArg {
    Open,
    Ongoing,
    Resolved,
    NewNormal,
}

/// Feedback on an anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Feedback {
    /// A real anomaly.
    Unexpected,
    /// Not an anomaly: learn these days as normal.
    Expected,
    /// A planned change (a migration, a load test): learn these days as normal.
    Planned,
}

/// The name clap gives a value (`new-normal`) in the store's spelling (`new_normal`).
fn value_name(value: impl clap::ValueEnum) -> String {
    value.to_possible_value().expect("no value is skipped").get_name().replace('-', "_")
}

pub async fn run(config: &Config, args: AnomaliesArgs) -> anyhow::Result<()> {
    if let AnomaliesAction::Scan(args) = args.action {
        return scan(args);
    }
    let store = open_store(config).await?;
    let result = store_action(config, &store, args.action).await;
    store.close().await;
    result
}

async fn store_action(config: &Config, store: &Store, action: AnomaliesAction) -> anyhow::Result<()> {
    match action {
        AnomaliesAction::Detect => {
            let summaries = detect_store(store, &config.anomalies.monitors, rules(config).as_ref()).await?;
            if summaries.is_empty() {
                println!("no costs in the store yet: ingest exports first");
            }
            for s in summaries {
                let waiting = match s.waiting {
                    0 => String::new(),
                    n => format!(" ({n} judged only up to the last day a lagging source delivered)"),
                };
                println!(
                    "monitor {}: {} series{waiting}, {} anomalies, {} alerting",
                    s.monitor, s.series, s.anomalies, s.alerts
                );
            }
        }
        AnomaliesAction::List { status, format } => {
            let anomalies = store.anomalies(status.map(value_name).as_deref()).await?;
            print!("{}", render(&anomalies, format)?);
        }
        AnomaliesAction::Feedback { id, feedback, note } => {
            if !store.set_anomaly_feedback(&id, &value_name(feedback), note.as_deref()).await? {
                return Err(
                    UsageError(format!("no anomaly has the id `{id}`; `finopsd anomalies list` shows them")).into()
                );
            }
            println!(
                "anomaly {id} marked {}; the next `finopsd anomalies detect` learns from it",
                value_name(feedback)
            );
        }
        AnomaliesAction::Scan(_) => unreachable!("scan needs no store"),
    }
    Ok(())
}

/// The config's allocation rules, which explain anomalies of allocation series; broken rules
/// only cost those their root causes.
pub(super) fn rules(config: &Config) -> Option<Allocator> {
    Allocator::new(&config.allocation)
        .map_err(|err| tracing::warn!(error = %err, "anomalies of allocation series get no root causes"))
        .ok()
}

fn render(anomalies: &[StoredAnomaly], format: OutputFormat) -> anyhow::Result<String> {
    if format == OutputFormat::Json {
        let rows: Vec<serde_json::Value> = anomalies
            .iter()
            .map(StoredAnomaly::to_json)
            .collect::<Result<_, serde_json::Error>>()
            .context("a stored anomaly is not valid JSON")?;
        return Ok(serde_json::to_string_pretty(&rows)? + "\n");
    }
    Ok(anomaly_table(anomalies).render(format))
}

/// Anomalies as rows, for tables and CSV; the top root cause says where to look first.
pub(super) fn anomaly_table(anomalies: &[StoredAnomaly]) -> Tabular {
    let columns = [
        "id",
        "monitor",
        "series",
        "currency",
        "start",
        "end",
        "status",
        "impact",
        "impact_pct",
        "severity",
        "top_cause",
        "feedback",
    ];
    let mut table = Tabular::new(columns.map(String::from).to_vec());
    for a in anomalies {
        let text = |t: &str| Field::Text(t.to_string());
        let causes: Vec<serde_json::Value> = serde_json::from_str(&a.root_causes).unwrap_or_default();
        let top = causes.first().map_or(String::new(), |c| {
            let part = |key: &str| c[key].as_str().unwrap_or("").to_string();
            format!("{} / {} / {}: {}", part("sub_account"), part("service"), part("region"), c["impact"])
        });
        table.rows.push(vec![
            text(&a.id),
            text(&a.monitor),
            text(&a.series),
            text(&a.currency),
            text(&a.start.to_string()),
            text(&a.end.to_string()),
            text(&a.status),
            Field::Money(a.impact),
            Field::Ratio(Some(a.impact_pct / 100.0)),
            text(a.severity.as_deref().unwrap_or("-")),
            Field::Text(top),
            text(a.feedback.as_deref().unwrap_or("")),
        ]);
    }
    table
}

fn scan(args: ScanArgs) -> anyhow::Result<()> {
    let series = read_series_csv(&args.series)?;
    let dates = series.values().flatten().map(|(date, _)| *date);
    let holidays = match (dates.clone().min(), dates.max()) {
        (Some(from), Some(to)) if !args.holiday_country.trim().is_empty() => {
            public_holidays(&args.holiday_country, from, to)
                .map_err(|problem| UsageError(format!("--holiday-country: {problem}")))?
        }
        _ => Default::default(),
    };
    let settings = DetectorSettings {
        min_impact: args.min_impact,
        min_impact_pct: args.min_impact_pct,
        major_impact: args.major_impact,
        min_history_days: args.min_history_days,
        new_normal_days: args.new_normal_days.max(1),
        quiet_days: args.quiet_days.into_iter().collect(),
        holidays,
        ..DetectorSettings::default()
    };
    let alerts = scan_series(&series, &settings);
    let json = serde_json::to_string_pretty(&alerts).context("alerts serialise")?;
    println!("{json}");
    Ok(())
}
