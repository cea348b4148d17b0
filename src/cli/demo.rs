//! `finopsd demo` and `finopsd sample generate`.

use std::path::PathBuf;

use anyhow::Context;
use chrono::{Days, Utc};
use clap::Args;

use finopsd::analyse::budgets::evaluate_budgets;
use finopsd::analyse::unit_costs::{pull_feeds, unit_costs};
use finopsd::config::{Config, DatabaseUrl};
use finopsd::detect::monitor::detect_store;
use finopsd::focus::BillingPeriod;
use finopsd::ingest::{IngestRequest, IngestSettings, ingest};
use finopsd::notify::config::{ChannelConfig, NotifyConfig};
use finopsd::notify::message::showback_message;
use finopsd::notify::{deliver_outbox, queue_alerts, queue_message};
use finopsd::report::{ReportFormat, ShowbackRequest, showback_report};
use finopsd::sample::anomalies::{labeled_series, write_labeled_series};
use finopsd::sample::{DEMO_SETTINGS, SampleSpec, export_folders, generate as generate_sample};
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

#[derive(Debug, Args)]
pub struct LabeledSeriesArgs {
    /// Folder to write series.csv, labels.csv and holidays.txt into (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// How many series.
    #[arg(long, default_value_t = 300)]
    series: usize,
    /// Days per series.
    #[arg(long, default_value_t = 400)]
    days: usize,
    /// Random seed: the same seed writes the same files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub fn generate_labeled_series(args: LabeledSeriesArgs) -> anyhow::Result<()> {
    if args.days < 120 {
        return Err(UsageError("--days must be at least 120: anomalies start after 45 days of history".into()).into());
    }
    let set = labeled_series(args.series, args.days, args.seed);
    write_labeled_series(&args.out, &set)?;
    println!(
        "wrote {} series of {} days with {} labeled anomalies under {}; replay them with \
         `finopsd anomalies scan --series {} --quiet-days $(cat {})`",
        set.series.len(),
        args.days,
        set.labels.len(),
        args.out.display(),
        args.out.join("series.csv").display(),
        args.out.join("holidays.txt").display()
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
    // The sample company's own settings (splits, a unit-metric feed, budgets) when present.
    let demo_settings = args.data.join(DEMO_SETTINGS);
    let demo_config;
    let config = if demo_settings.exists() {
        demo_config = Config::load(&demo_settings, true)?;
        &demo_config
    } else {
        config
    };
    let store = Store::open(&url, 2).await?;
    let settings = IngestSettings::from_config(&config.ingest)?;

    println!("finopsd demo: loading the sample exports in {} into {}\n", args.data.display(), args.db.display());
    let paths = export_folders().into_iter().map(|folder| args.data.join(folder)).filter(|p| p.is_dir()).collect();
    let request = IngestRequest { paths, quiet: true, ..IngestRequest::default() };
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
    println!("\nMarketplace charges of {last_month}: third parties' products each cloud bills for, kept and marked");
    let sellers = [CostDimension::Provider, CostDimension::Marketplace];
    let rows = store.costs(&by(&sellers, last_month.first_day(), last)).await?;
    let mut table = Tabular::new(["provider", "seller", "currency", "effective_cost"].map(String::from).to_vec());
    for row in rows.into_iter().filter(|row| row.keys.get(1).is_some_and(|seller| !seller.is_empty())) {
        let mut fields: Vec<Field> = row.keys.into_iter().map(Field::Text).collect();
        fields.extend([Field::Text(row.currency), Field::Money(row.totals.effective_cost)]);
        table.rows.push(fields);
    }
    print!("{}", table.render(OutputFormat::Table));

    let allocation = super::allocate::allocate(config, &store).await?;
    let splits: Vec<&str> = config.allocation.splits.iter().map(|s| s.name.as_str()).collect();
    println!(
        "\nShowback by team for {last_month}: {} facts allocated by the rules in the config (team, service and \
         cost_center from their tags, with `owner-team` read as `team`{}; untagged spend stays unallocated)",
        allocation.facts,
        if splits.is_empty() { String::new() } else { format!("; shared costs divided by: {}", splits.join(", ")) }
    );
    let rows = store.showback(&ShowbackQuery { month: last_month, by: vec!["team".into()] }).await?;
    print!("{}", super::showback::showback_table(&["team".into()], rows).render(OutputFormat::Table));

    let dimensions = vec!["team".to_string()];
    let coverage = store.allocation_coverage(last_month, &dimensions).await?;
    println!("\nAllocation coverage of team for {last_month}: EffectiveCost by how it was allocated");
    print!("{}", super::allocate::coverage_table(&coverage).render(OutputFormat::Table));
    let mut items = store.unallocated_items(last_month, 5).await?;
    items.retain(|item| item.dimension == "team");
    println!("Largest unallocated team costs of {last_month} (tag these first):");
    print!("{}", super::allocate::unallocated_table(&items).render(OutputFormat::Table));
    let mut spellings = store.folded_spellings(last_month).await?;
    spellings.retain(|spelling| spelling.dimension == "team");
    println!("Team tags of {last_month} spelled more than one way, folded into one team each (retag them to match):");
    print!("{}", super::allocate::spellings_table(&spellings).render(OutputFormat::Table));

    if !config.unit_costs.feeds.is_empty() {
        pull_feeds(&store, &config.unit_costs, last).await?;
        let rows = unit_costs(&store, last_month, false).await?;
        println!("\nUnit costs of {last_month} per team, from the `{}` feed", config.unit_costs.feeds[0].name);
        print!("{}", super::analyse::unit_cost_table(&rows, false).render(OutputFormat::Table));
    }
    if !config.budgets.is_empty() {
        // Mid-month, so the forecast has something to forecast; it sees no later day.
        let as_of = (last_month.first_day() + Days::new(19)).min(last);
        let statuses = evaluate_budgets(&store, &config.budgets, as_of).await?;
        println!("\nBudgets as they stood on {as_of}: actual so far, end-of-period forecast with its 80% interval");
        print!("{}", super::analyse::budget_table(&statuses).render(OutputFormat::Table));
        let alerts = store.budget_alerts().await?;
        println!("{} budget alerts recorded for delivery.", alerts.len());
    }
    let summaries = detect_store(&store, &config.anomalies.monitors, super::anomalies::rules(config).as_ref()).await?;
    let mut alerting = store.anomalies(None).await?;
    alerting.retain(|a| a.severity.is_some());
    let injected = std::fs::read_to_string(args.data.join("labels/anomalies.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Vec<serde_json::Value>>(&text).ok())
        .map_or(String::new(), |labels| {
            format!("; the sample data has {} injected, in labels/anomalies.json", labels.len())
        });
    println!(
        "\nAnomalies: {} alerts from the monitors {} (usage only, each day judged on the days before it){injected}",
        alerting.len(),
        summaries.iter().map(|s| format!("`{}` ({} series)", s.monitor, s.series)).collect::<Vec<_>>().join(", ")
    );
    print!("{}", super::anomalies::anomaly_table(&alerting).render(OutputFormat::Table));

    let request =
        ShowbackRequest { month: last_month, dimension: "team".into(), value: None, budgets: &config.budgets };
    let report = showback_report(&store, &request).await?;
    let report_path = args.db.with_file_name(format!("finopsd-demo-showback-{last_month}.html"));
    std::fs::write(&report_path, report.render(ReportFormat::Html))
        .with_context(|| format!("cannot write the showback report to {}", report_path.display()))?;
    println!(
        "\nThe showback report of {last_month} by team (open it in a browser; it prints to PDF): {}",
        report_path.display()
    );

    // Every alert and the report go through the outbox to a directory sink, as they would to
    // Slack or email.
    let sink = args.db.with_file_name("finopsd-demo-alerts");
    match std::fs::remove_dir_all(&sink) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            return Err(err).with_context(|| format!("cannot remove the old demo alerts {}", sink.display()));
        }
        _ => {}
    }
    let notify = NotifyConfig {
        channels: vec![ChannelConfig::directory("demo-alerts", sink.clone())],
        ..NotifyConfig::default()
    };
    let now = Utc::now();
    let queued = queue_alerts(&store, &notify, &config.budgets, now).await?;
    let showback = showback_message(&report);
    queue_message(&store, &notify.channels, &showback, &showback.subject, now).await?;
    let delivered = deliver_outbox(&store, &notify, now).await?;
    store.close().await;
    println!(
        "{} anomaly and budget alerts and the showback went through the outbox ({} delivered) into the directory \
         sink {}: one JSON file per message, the report as HTML and CSV",
        queued,
        delivered.delivered,
        sink.display()
    );

    let db = args.db.display();
    let with = if demo_settings.exists() { format!(" --config {}", demo_settings.display()) } else { String::new() };
    println!(
        "\nExplore the demo store (sample data runs {first} to {last}, {} days):\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd{with} showback --month {last_month} --by team,service\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd{with} report showback --month {last_month} --by team --value payments\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd{with} allocate explain --month {last_month} --service Tax\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd{with} budgets --as-of {last}\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd anomalies list --format json\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd outbox list\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd costs --by day,tag:team --from {last_month} --format csv\n  \
         FINOPSD_DATABASE_URL=sqlite://{db} finopsd ingest status",
        (last - first).num_days() + 1,
    );
    Ok(())
}
