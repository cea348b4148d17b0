//! `finopsd run`: one process that keeps every stage current. Each stage runs on its interval
//! or cron schedule: ingest (pull the cost APIs, then ingest the watched locations — folders,
//! S3, Azure Blob, GCS — whose exports changed), re-allocate, detect anomalies, then queue and
//! deliver alerts. A stage's failure is logged and counted and never stops the stages after it
//! or its next run. Daemons sharing a PostgreSQL store take turns through job locks. On
//! shutdown the stage in progress finishes (each commits or rolls back its own transactions)
//! and no new one starts.

pub mod api;
mod cache;
pub mod http;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::allocate::{Allocator, allocate_store_if_changed};
use crate::analyse::budgets::{BudgetStatus, budget_statuses};
use crate::config::Config;
use crate::detect::monitor::detect_store;
use crate::ingest::location::ExportLocation;
use crate::ingest::pulls::CostApiPull;
use crate::ingest::pulls::aws::CostExplorerPull;
use crate::ingest::pulls::azure::AzureCostPull;
use crate::ingest::{IngestRequest, IngestSettings, ingest};
use crate::notify::{deliver_outbox, queue_alerts, queue_showback};
use crate::store::{Store, writers};

/// The `[daemon]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// Where the HTTP endpoints (`/healthz`, `/readyz`, `/metrics`, `/api/v1`) listen.
    pub listen: String,
    /// Seconds between two runs of each stage without a cron schedule (the first runs at once).
    pub pipeline_every_secs: u64,
    /// Folders where exports land; each one is ingested as one export when its files change.
    pub folders: Vec<PathBuf>,
    /// Buckets and containers where exports land (`s3://`, `az://`, `gs://`), each ingested
    /// as one export when the objects its newest manifests name change.
    pub sources: Vec<ExportLocation>,
    /// Where remote sources are mirrored before they are ingested.
    pub mirror_dir: PathBuf,
    /// AWS Cost Explorer pulls, for accounts without exports; their days are kept under
    /// `mirror_dir` too.
    pub cost_explorer: Vec<CostExplorerPull>,
    /// Azure Cost Management Query pulls, likewise.
    pub azure_cost: Vec<AzureCostPull>,
    /// Bearer tokens for `/api/v1`; without any, every API route answers 401.
    pub tokens: Vec<api::ApiToken>,
    /// Whether `/metrics` wants a token too (any scope).
    pub metrics_need_token: bool,
    /// MiB of answers of the cost and showback routes kept in memory until the store changes;
    /// 0 keeps none.
    pub api_cache_mib: usize,
    /// Cron expressions (UTC) for stages that should not run every `pipeline_every_secs`,
    /// e.g. `detect = "0 6 * * *"`.
    pub schedules: BTreeMap<String, String>,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            listen: "127.0.0.1:9464".into(),
            pipeline_every_secs: 300,
            folders: Vec::new(),
            sources: Vec::new(),
            mirror_dir: PathBuf::from("finopsd-mirror"),
            cost_explorer: Vec::new(),
            azure_cost: Vec::new(),
            tokens: Vec::new(),
            metrics_need_token: false,
            api_cache_mib: 64,
            schedules: BTreeMap::new(),
        }
    }
}

/// A location the ingest stage watches, and the source its facts are stored under when it
/// is not the export's own.
struct Watched {
    location: ExportLocation,
    source: Option<String>,
}

impl DaemonConfig {
    /// The cost API pulls, AWS then Azure.
    pub fn pulls(&self) -> Vec<CostApiPull<'_>> {
        let aws = self.cost_explorer.iter().map(CostApiPull::Aws);
        aws.chain(self.azure_cost.iter().map(CostApiPull::Azure)).collect()
    }

    /// Every watched location: the folders, the remote sources, then the folders the cost
    /// API pulls keep their days in.
    fn watched(&self) -> Vec<Watched> {
        let exports =
            self.folders.iter().map(|folder| ExportLocation::folder(folder)).chain(self.sources.iter().cloned());
        let exports = exports.map(|location| Watched { location, source: None });
        let pulls = self.pulls().into_iter().map(|pull| Watched {
            location: ExportLocation::folder(&pull.folder(&self.mirror_dir)),
            source: Some(pull.source()),
        });
        exports.chain(pulls).collect()
    }
}

/// The pipeline's stages, as jobs are counted in `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Ingest,
    Allocate,
    Detect,
    Notify,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Ingest, Stage::Allocate, Stage::Detect, Stage::Notify];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Allocate => "allocate",
            Stage::Detect => "detect",
            Stage::Notify => "notify",
        }
    }
}

/// What the daemon has done, read by `/metrics` and `/readyz`.
#[derive(Debug, Default)]
pub struct DaemonState {
    runs: [AtomicU64; 4],
    failures: [AtomicU64; 4],
    /// Unix seconds of the last ingest that succeeded; 0 before the first.
    last_ingest: AtomicI64,
    ingested_line_items: AtomicU64,
    fetched_objects: AtomicU64,
    /// Requests to each cost API: Cost Explorer, Azure Cost Management.
    cost_api_requests: [AtomicU64; 2],
    /// Every budget's state after the last allocation here, for `/metrics`.
    budgets: Mutex<Vec<BudgetStatus>>,
    /// The store's version of detection's inputs when this daemon last detected.
    detected_from: Mutex<Option<i64>>,
}

impl DaemonState {
    pub fn runs(&self, stage: Stage) -> u64 {
        self.runs[stage as usize].load(Ordering::Relaxed)
    }

    pub fn failures(&self, stage: Stage) -> u64 {
        self.failures[stage as usize].load(Ordering::Relaxed)
    }

    /// Seconds since the last successful ingest, `None` before the first.
    pub fn last_ingest_age(&self) -> Option<i64> {
        let at = self.last_ingest.load(Ordering::Relaxed);
        (at > 0).then(|| Utc::now().timestamp() - at)
    }

    pub fn ingested_line_items(&self) -> u64 {
        self.ingested_line_items.load(Ordering::Relaxed)
    }

    /// Objects downloaded from remote sources since start.
    pub fn fetched_objects(&self) -> u64 {
        self.fetched_objects.load(Ordering::Relaxed)
    }

    /// Requests made to each cost API since start (AWS bills each Cost Explorer request).
    pub fn cost_api_requests(&self) -> [(&'static str, u64); 2] {
        let count = |i: usize| self.cost_api_requests[i].load(Ordering::Relaxed);
        [("cost_explorer", count(0)), ("azure_cost", count(1))]
    }

    pub fn budget_statuses(&self) -> Vec<BudgetStatus> {
        self.budgets.lock().expect("never poisoned: no code panics holding it").clone()
    }

    fn record(&self, stage: Stage, result: Result<(), String>) {
        self.runs[stage as usize].fetch_add(1, Ordering::Relaxed);
        if let Err(error) = result {
            self.failures[stage as usize].fetch_add(1, Ordering::Relaxed);
            tracing::error!(stage = stage.name(), %error, "pipeline stage failed; the next run tries again");
        }
    }
}

/// Runs each stage when it is due, in pipeline order, until `shutdown` turns true.
pub async fn run_pipeline(
    config: &Config,
    store: &Store,
    settings: &IngestSettings,
    state: &DaemonState,
    mut shutdown: watch::Receiver<bool>,
) {
    let schedules = Stage::ALL.map(|stage| StageSchedule::of(&config.daemon, stage).expect("validated at config load"));
    let watched = config.daemon.watched();
    // Interval stages run at once; cron stages at their first time.
    let started = Utc::now();
    let mut due = schedules.each_ref().map(|schedule| schedule.first(started));
    loop {
        for stage in Stage::ALL {
            let now = Utc::now();
            if *shutdown.borrow() {
                return;
            }
            if due[stage as usize] > now {
                continue;
            }
            due[stage as usize] = schedules[stage as usize].after(now);
            // Ingest locks each location on its own, so daemons share that work out.
            let result = match stage {
                Stage::Ingest => Some(ingest_locations(&watched, config, store, settings, state).await),
                Stage::Allocate => exclusively(store, "allocate", allocate(config, store, state)).await,
                Stage::Detect => exclusively(store, "detect", detect(config, store, state)).await,
                Stage::Notify => exclusively(store, "notify", notify(config, store)).await,
            };
            match result {
                Some(result) => state.record(stage, result),
                None => tracing::debug!(stage = stage.name(), "another daemon runs this stage now; skipped"),
            }
        }
        let next = due.iter().min().copied().unwrap_or(started);
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

/// When a stage runs: a cron expression of `[daemon.schedules]`, else every
/// `pipeline_every_secs` from the one before.
#[derive(Debug, Clone)]
pub enum StageSchedule {
    Every(chrono::Duration),
    Cron(Box<cron::Schedule>),
}

impl StageSchedule {
    /// The stage's schedule, or why its cron expression does not parse.
    pub fn of(daemon: &DaemonConfig, stage: Stage) -> Result<StageSchedule, String> {
        match daemon.schedules.get(stage.name()) {
            None => Ok(StageSchedule::Every(chrono::Duration::seconds(daemon.pipeline_every_secs.max(1) as i64))),
            Some(expression) => {
                // Five fields as crontab writes them; cron wants the seconds too.
                let fields = expression.split_whitespace().count();
                let full = if fields == 5 { format!("0 {expression}") } else { expression.clone() };
                let schedule: cron::Schedule = full.parse().map_err(|e| {
                    format!("daemon.schedules.{} = {expression:?} is not a cron expression (minute hour day month weekday, UTC): {e}", stage.name())
                })?;
                Ok(StageSchedule::Cron(Box::new(schedule)))
            }
        }
    }

    fn first(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            StageSchedule::Every(_) => now,
            StageSchedule::Cron(_) => self.after(now),
        }
    }

    /// The next run after one at `now`.
    pub fn after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            StageSchedule::Every(every) => now + *every,
            // An expression with no time left (a past year) never runs again.
            StageSchedule::Cron(schedule) => schedule.after(&now).next().unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

/// Checks `[daemon.schedules]` at config load.
pub fn validate(daemon: &DaemonConfig) -> Result<(), String> {
    if let Some(unknown) = daemon.schedules.keys().find(|key| !Stage::ALL.iter().any(|s| s.name() == key.as_str())) {
        return Err(format!(
            "daemon.schedules.{unknown} is not a stage; the stages are ingest, allocate, detect, notify"
        ));
    }
    Stage::ALL.iter().try_for_each(|&stage| StageSchedule::of(daemon, stage).map(|_| ()))
}

/// Pulls what cost API pulls are due, then ingests each location whose export changed
/// since its last successful ingest, each under a job lock, so daemons sharing a store take
/// different locations. The store keeps the versions last ingested, so neither a restart nor
/// another daemon ingests the same files again.
async fn ingest_locations(
    watched: &[Watched],
    config: &Config,
    store: &Store,
    settings: &IngestSettings,
    state: &DaemonState,
) -> Result<(), String> {
    let mut errors = Vec::new();
    for pull in config.daemon.pulls() {
        let pulled = async {
            let outcome = pull.pull(&config.daemon.mirror_dir, Utc::now()).await.map_err(|e| e.to_string())?;
            let counter = usize::from(matches!(pull, CostApiPull::Azure(_)));
            state.cost_api_requests[counter].fetch_add(outcome.requests, Ordering::Relaxed);
            Ok(())
        };
        if let Some(Err(error)) = exclusively(store, &format!("pull:{}:{}", pull.api(), pull.name()), pulled).await {
            errors.push(error);
        }
    }
    for Watched { location, source } in watched {
        let ingested = ingest_location(location, source, config, store, settings, state);
        match exclusively(store, &format!("ingest:{}", location.url), ingested).await {
            Some(Err(error)) => errors.push(error),
            Some(Ok(())) => {}
            None => {
                tracing::debug!(location = %location.display(), "another daemon ingests this location now; skipped")
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors.join("; ")) }
}

/// Runs `job` unless another daemon sharing the store runs the job of that name now (`None`).
async fn exclusively(
    store: &Store,
    name: &str,
    job: impl std::future::Future<Output = Result<(), String>>,
) -> Option<Result<(), String>> {
    match store.try_lock_job(&job_name(name)).await {
        Ok(Some(lock)) => {
            let result = job.await;
            lock.release().await;
            Some(result)
        }
        Ok(None) => None,
        Err(error) => Some(Err(error.to_string())),
    }
}

/// The advisory lock name of a job, the same in every daemon.
pub fn job_name(name: &str) -> String {
    format!("finopsd:{name}")
}

/// Ingests one location when its files are not the versions the store last ingested (by this
/// daemon or another on the store).
async fn ingest_location(
    location: &ExportLocation,
    source: &Option<String>,
    config: &Config,
    store: &Store,
    settings: &IngestSettings,
    state: &DaemonState,
) -> Result<(), String> {
    let exports = location.sync(&config.daemon.mirror_dir).await.map_err(|e| e.to_string())?;
    state.fetched_objects.fetch_add(exports.fetched as u64, Ordering::Relaxed);
    if exports.versions.is_empty() {
        return Ok(());
    }
    let last = store.watched_versions(&location.url).await.map_err(|e| e.to_string())?;
    if last.as_ref() == Some(&exports.versions) {
        return Ok(());
    }
    let request =
        IngestRequest { paths: vec![exports.folder.clone()], format: None, source: source.clone(), quiet: true };
    let report =
        ingest(store, settings, &request).await.map_err(|e| format!("export location {}: {e}", location.display()))?;
    tracing::info!(location = %location.display(), line_items = report.run.line_items, facts = report.run.facts, "ingested");
    for fallback in &report.run.fallbacks {
        tracing::info!(
            location = %location.display(),
            column = %fallback.column,
            described_by = %fallback.source,
            line_items = fallback.line_items,
            "line items left a description empty; their format's fallback described them"
        );
    }
    state.last_ingest.store(Utc::now().timestamp(), Ordering::Relaxed);
    state.ingested_line_items.fetch_add(report.run.line_items.max(0) as u64, Ordering::Relaxed);
    store.record_watched_versions(&location.url, &exports.versions).await.map_err(|e| e.to_string())
}

/// Applies the rules to the stored costs, then works out where every budget stands.
async fn allocate(config: &Config, store: &Store, state: &DaemonState) -> Result<(), String> {
    let allocator = Allocator::new(&config.allocation).map_err(|e| e.to_string())?;
    // Unchanged facts and rules give the same allocations: none are made (which would also
    // make every kept API answer stale).
    let made = allocate_store_if_changed(store, allocator, &config.allocation).await;
    if made.map_err(|e| e.to_string())?.is_none() {
        tracing::debug!("facts and rules unchanged since the last allocation; not allocated again");
    }
    if config.budgets.is_empty() {
        return Ok(());
    }
    if let Some((_, last)) = store.charge_date_range().await.map_err(|e| e.to_string())? {
        let statuses = budget_statuses(store, &config.budgets, last).await.map_err(|e| e.to_string())?;
        *state.budgets.lock().expect("never poisoned: no code panics holding it") = statuses;
    }
    Ok(())
}

/// Detection reads facts, allocations and feedback only; when none changed since this daemon
/// last detected, it would find what it found then.
async fn detect(config: &Config, store: &Store, state: &DaemonState) -> Result<(), String> {
    let inputs =
        store.version_of(&[writers::FACTS, writers::ALLOCATION, writers::FEEDBACK]).await.map_err(|e| e.to_string())?;
    let detected_from = || state.detected_from.lock().expect("never poisoned: no code panics holding it");
    if *detected_from() == Some(inputs) {
        tracing::debug!("facts, allocations and feedback unchanged since the last detection; not detected again");
        return Ok(());
    }
    let allocator = Allocator::new(&config.allocation).ok();
    detect_store(store, &config.anomalies.monitors, allocator.as_ref()).await.map_err(|e| e.to_string())?;
    *detected_from() = Some(inputs);
    Ok(())
}

async fn notify(config: &Config, store: &Store) -> Result<(), String> {
    if config.notify.channels.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    queue_alerts(store, &config.notify, &config.budgets, now).await.map_err(|e| e.to_string())?;
    queue_showback(store, &config.notify, &config.budgets, now).await.map_err(|e| e.to_string())?;
    deliver_outbox(store, &config.notify, now).await.map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(schedules: &[(&str, &str)]) -> DaemonConfig {
        let schedules = schedules.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        DaemonConfig { pipeline_every_secs: 60, schedules, ..DaemonConfig::default() }
    }

    #[test]
    fn stages_run_on_their_cron_expression_or_every_interval() {
        let config = daemon(&[("detect", "30 6 * * *"), ("notify", "0 */15 * * * *")]);
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
        let now = at("2026-12-04T07:00:00Z");
        let ingest = StageSchedule::of(&config, Stage::Ingest).unwrap();
        assert_eq!((ingest.first(now), ingest.after(now)), (now, at("2026-12-04T07:01:00Z")));
        let detect = StageSchedule::of(&config, Stage::Detect).unwrap();
        assert_eq!(detect.first(now), at("2026-12-05T06:30:00Z"), "five fields, UTC");
        let notify = StageSchedule::of(&config, Stage::Notify).unwrap();
        assert_eq!(notify.after(now), at("2026-12-04T07:15:00Z"), "six fields, seconds first");
        assert!(validate(&config).is_ok());
        let typo = validate(&daemon(&[("detcet", "0 6 * * *")])).unwrap_err();
        assert!(typo.contains("daemon.schedules.detcet is not a stage"), "{typo}");
        let bad = validate(&daemon(&[("detect", "every morning")])).unwrap_err();
        assert!(bad.contains("\"every morning\" is not a cron expression"), "{bad}");
    }
}
