//! Command-line interface: argument definitions, dispatch, and the error → exit code rule.

mod allocate;
mod analyse;
mod anomalies;
mod costs;
mod demo;
mod ingest;
mod outbox;
mod output;
mod report;
mod showback;

use finopsd::detect::series::SeriesError;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use finopsd::config::{Config, ConfigError, DEFAULT_CONFIG_PATH, LogFormat};
use finopsd::focus::BillingPeriod;
use finopsd::ingest::IngestError;
use finopsd::report::ReportError;
use finopsd::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "finopsd",
    version,
    about = "Cloud cost allocation and anomaly detection: billing exports in, showback and alerts out.",
    long_about = "finopsd reads the billing exports your clouds write (FOCUS from any provider), keeps \
                  exact daily cost facts in a database (SQLite by default, PostgreSQL for teams), and \
                  answers what was spent, by whom, and whether anything looks wrong.\n\n\
                  Start with `finopsd demo` to see it on sample data."
)]
pub struct Cli {
    /// Configuration file. Without it, config/finopsd.toml is read if it exists, else defaults.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only warnings and errors (no progress bar).
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load billing exports into the store (or show past loads with `ingest status`).
    Ingest(ingest::IngestArgs),
    /// What did we spend? Totals by day, month, provider, account, service, region or tag.
    Costs(costs::CostsArgs),
    /// Recompute which team, service and cost centre (the configured dimensions) every cost
    /// belongs to, from the stored costs and the allocation rules in the config.
    Allocate(allocate::AllocateArgs),
    /// Spend of one invoice month per team, service or cost centre, against the month before.
    Showback(showback::ShowbackArgs),
    /// Reports to read and send: `report showback` renders a month's showback as HTML,
    /// Markdown, CSV or JSON.
    Report(report::ReportArgs),
    /// Cost per unit (request, customer, GB…) per dimension value and month or day, from
    /// unit-metric feeds; `unit-costs pull` fetches the feeds.
    UnitCosts(analyse::UnitCostsArgs),
    /// Each budget's actual spend, end-of-period forecast and variance; records the
    /// thresholds crossed as budget alerts.
    Budgets(analyse::BudgetsArgs),
    /// Anomalies in daily cost series; `anomalies scan` replays a CSV of series through the
    /// detector.
    Anomalies(anomalies::AnomaliesArgs),
    /// Queue the store's new alerts (anomalies, budget thresholds) and the monthly showback,
    /// when its day has come, for the configured channels; deliver every message that is due.
    Notify,
    /// The durable outbox of messages to channels: `outbox list`, `outbox retry <id>`.
    Outbox(outbox::OutboxArgs),
    /// Check and show the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Generate realistic sample exports of a fictional company.
    Sample {
        #[command(subcommand)]
        action: SampleAction,
    },
    /// Run everything on the bundled sample data into a fresh SQLite file and show the results.
    Demo(demo::DemoArgs),
    /// Run as a service (the container's entry point): opens and migrates the store, then waits
    /// for SIGTERM or Ctrl-C and closes it cleanly. Schedules and the HTTP API land here next.
    Run,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration and print it as finopsd sees it, secrets redacted.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum SampleAction {
    /// Write FOCUS exports for AWS (CSV.gz), Azure in EUR (Parquet) and Google Cloud (CSV.gz),
    /// one file per provider and month, plus labels/anomalies.json with the injected anomalies.
    Generate(demo::GenerateArgs),
    /// Write a labeled set of daily cost series (normal patterns and injected anomalies) to
    /// measure `anomalies scan` on.
    Anomalies(demo::LabeledSeriesArgs),
}

/// A mistake in how the command was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

pub fn init_logging(cli: &Cli) {
    // The config may name a format and level; the flag and RUST_LOG win. Reading the config
    // twice is cheap and keeps logging available while the config itself is reported on.
    let config = load_config(cli).ok();
    let format = cli.log_format.or(config.as_ref().map(|c| c.logging.format)).unwrap_or(LogFormat::Text);
    let level =
        if cli.quiet { "warn".to_string() } else { config.map(|c| c.logging.level).unwrap_or_else(|| "info".into()) };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},sqlx=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_target(false).init(),
    }
}

fn load_config(cli: &Cli) -> Result<Config, ConfigError> {
    match &cli.config {
        Some(path) => Config::load(path, true),
        None => Config::load(std::path::Path::new(DEFAULT_CONFIG_PATH), false),
    }
}

/// A `--month` value: an invoice month (billing period), YYYY-MM.
fn month_arg(text: &str) -> Result<BillingPeriod, UsageError> {
    text.parse().map_err(|_| UsageError(format!("--month `{text}` is not a month (YYYY-MM)")))
}

/// Every name is a configured allocation dimension, or `--flag` names the first that is not.
fn check_dimensions<'a>(
    config: &Config,
    flag: &str,
    mut names: impl Iterator<Item = &'a str>,
) -> Result<(), UsageError> {
    let known: Vec<&str> = config.allocation.dimensions.iter().map(|d| d.name.as_str()).collect();
    match names.find(|name| !known.contains(name)) {
        Some(unknown) => Err(UsageError(format!(
            "--{flag} {unknown} is not an allocation dimension; the config has: {}",
            known.join(", ")
        ))),
        None => Ok(()),
    }
}

pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    Ok(Store::open(&config.store.url, config.store.max_connections).await?)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(&cli)?;
    match cli.command {
        Command::Ingest(args) => ingest::run(&config, args, cli.quiet).await,
        Command::Costs(args) => costs::run(&config, args).await,
        Command::Allocate(args) => allocate::run(&config, args).await,
        Command::Showback(args) => showback::run(&config, args).await,
        Command::Report(args) => report::run(&config, args).await,
        Command::Notify => outbox::notify(&config).await,
        Command::Outbox(args) => outbox::run(&config, args).await,
        Command::UnitCosts(args) => analyse::run_unit_costs(&config, args).await,
        Command::Budgets(args) => analyse::run_budgets(&config, args).await,
        Command::Anomalies(args) => anomalies::run(&config, args).await,
        Command::Config { action: ConfigAction::Check } => {
            print!("{}", config.to_redacted_toml());
            let store = open_store(&config).await.context("the store in the config cannot be opened")?;
            store.close().await;
            eprintln!("config OK; store reachable at {}", config.store.url.redacted());
            Ok(())
        }
        Command::Sample { action: SampleAction::Generate(args) } => demo::generate(args),
        Command::Sample { action: SampleAction::Anomalies(args) } => demo::generate_labeled_series(args),
        Command::Demo(args) => demo::run(&config, args).await,
        Command::Run => {
            let settings = finopsd::ingest::IngestSettings::from_config(&config.ingest)?;
            for location in &config.daemon.sources {
                location.check()?;
            }
            let store = open_store(&config).await?;
            if store.engine() == finopsd::store::Engine::Postgres && config.store.max_connections < 2 {
                // A job lock holds a connection while the job needs another.
                anyhow::bail!("finopsd run needs store.max_connections of 2 or more on PostgreSQL");
            }
            // Listen before announcing, so a signal sent on seeing the line is never missed.
            let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            let listener = tokio::net::TcpListener::bind(&config.daemon.listen)
                .await
                .with_context(|| format!("daemon.listen = {:?} cannot be bound", config.daemon.listen))?;
            let state = std::sync::Arc::new(finopsd::daemon::DaemonState::default());
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let app = finopsd::daemon::http::router(store.clone(), state.clone(), std::sync::Arc::new(config.clone()));
            let mut http_stopped = stopped.clone();
            let server = tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = http_stopped.wait_for(|stop| *stop).await;
                    })
                    .await
            });
            tracing::info!(
                store = %config.store.url.redacted(),
                listen = %config.daemon.listen,
                folders = config.daemon.folders.len(),
                sources = config.daemon.sources.len(),
                "finopsd running; stop with SIGTERM or Ctrl-C"
            );
            let pipeline = finopsd::daemon::run_pipeline(&config, &store, &settings, &state, stopped);
            tokio::pin!(pipeline);
            let signalled = async {
                tokio::select! {
                    result = tokio::signal::ctrl_c() => result.map_err(anyhow::Error::from),
                    _ = terminate.recv() => Ok(()),
                }
            };
            tokio::select! {
                result = signalled => {
                    result?;
                    tracing::info!("stopping: the stage in progress finishes, no new one starts");
                    let _ = stop.send(true);
                    pipeline.await;
                }
                // The pipeline only ends when told to stop.
                _ = &mut pipeline => {}
            }
            server.await.context("the HTTP server task failed")??;
            store.close().await;
            tracing::info!("finopsd stopped");
            Ok(())
        }
    }
}

/// 2 for what the person running the command can fix in its input or arguments, else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<ConfigError>().is_some() || cause.downcast_ref::<UsageError>().is_some() {
            return 2;
        }
        if let Some(ingest) = cause.downcast_ref::<IngestError>() {
            return if ingest.is_bad_input() { 2 } else { 1 };
        }
        if let Some(ReportError::UnknownValue { .. }) = cause.downcast_ref::<ReportError>() {
            return 2;
        }
        if let Some(series) = cause.downcast_ref::<SeriesError>() {
            return if matches!(series, SeriesError::Io { .. }) { 1 } else { 2 };
        }
    }
    1
}
