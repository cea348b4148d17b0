//! Cloud cost API pulls, for accounts that have no billing export: AWS Cost Explorer
//! ([`aws`]) and Azure Cost Management Query ([`azure`]). Both answer daily costs grouped by at
//! most two fields, and both bill or throttle every request, so a pull asks only for the days
//! not fetched yet plus a restatement window (providers revise recent days for a while), and
//! no more often than its `pull_every_secs`.
//!
//! The days fetched are kept as one FOCUS file per month in a folder of the pull's own, which
//! is what gets ingested: a month's file is always complete, so replacing the billing period
//! with it never drops the days fetched earlier. The folder also records how far the pulls
//! got, so a restart resumes there.

pub mod aws;
pub mod azure;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::focus::BillingPeriod;

/// One configured pull of either API, as the daemon runs them.
#[derive(Debug, Clone, Copy)]
pub enum CostApiPull<'a> {
    Aws(&'a aws::CostExplorerPull),
    Azure(&'a azure::AzureCostPull),
}

impl CostApiPull<'_> {
    /// The API, as `/metrics` labels it.
    pub fn api(&self) -> &'static str {
        match self {
            CostApiPull::Aws(_) => "cost_explorer",
            CostApiPull::Azure(_) => "azure_cost",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            CostApiPull::Aws(pull) => &pull.name,
            CostApiPull::Azure(pull) => &pull.name,
        }
    }

    /// Where the pull keeps its month files, under `root`.
    pub fn folder(&self, root: &Path) -> PathBuf {
        match self {
            CostApiPull::Aws(pull) => pull.folder(root),
            CostApiPull::Azure(pull) => pull.folder(root),
        }
    }

    /// The source its facts are stored under.
    pub fn source(&self) -> String {
        match self {
            CostApiPull::Aws(pull) => pull.source(),
            CostApiPull::Azure(pull) => pull.source(),
        }
    }

    pub async fn pull(&self, root: &Path, now: DateTime<Utc>) -> Result<PullOutcome, PullError> {
        match self {
            CostApiPull::Aws(pull) => pull.pull(root, now).await,
            CostApiPull::Azure(pull) => pull.pull(root, now).await,
        }
    }
}

/// Both APIs keep about 13 months of daily data; older days are refused.
const HISTORY_MONTHS: u32 = 13;
const STATE_FILE: &str = ".finopsd-pull.json";
const HEADER: &str = "ChargePeriodStart,ChargePeriodEnd,BillingPeriodStart,ProviderName,BillingAccountId,SubAccountId,\
ServiceName,RegionId,ServiceSubcategory,ChargeCategory,BillingCurrency,BilledCost,EffectiveCost,ListCost,InvoiceId,Tags";

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("pull {name:?}: {message}")]
    Request { name: String, message: String },
    #[error("pull {name:?}: cannot keep the fetched days in {path}: {source}")]
    Folder { name: String, path: PathBuf, source: std::io::Error },
}

/// What one pull did.
#[derive(Debug, Default)]
pub struct PullOutcome {
    /// Requests made (pages).
    pub requests: u64,
    /// Month files rewritten.
    pub months: usize,
}

/// One group of one day, as an API answers it: the fields it was grouped by are set, the
/// others empty. Amounts are the API's decimal text, never a float.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct PulledCost {
    day: NaiveDate,
    sub_account: String,
    service: String,
    region: String,
    tags: BTreeMap<String, String>,
    currency: String,
    billed: String,
    effective: String,
}

/// How far the pulls got.
#[derive(Debug, Default, Deserialize, Serialize)]
struct PullState {
    /// The day after the last day fetched.
    fetched_until: Option<NaiveDate>,
    last_pull: Option<DateTime<Utc>>,
}

/// The settings both pulls share, and where they keep their days.
#[derive(Debug, Clone, Copy)]
struct PullSchedule<'a> {
    name: &'a str,
    start: NaiveDate,
    restatement_days: u32,
    pull_every_secs: u64,
}

/// A pull's folder of month files.
struct PullFolder<'a> {
    schedule: PullSchedule<'a>,
    folder: PathBuf,
    state: PullState,
}

/// Runs one pull when it is due at `now`: asks `fetch` for the days due, then stores them in
/// the month files of `folder`. Both APIs share this; only their requests differ.
async fn pull_due<Fetched>(
    schedule: PullSchedule<'_>,
    folder: PathBuf,
    identity: BillingIdentity,
    now: DateTime<Utc>,
    fetch: impl FnOnce((NaiveDate, NaiveDate)) -> Fetched,
) -> Result<PullOutcome, PullError>
where
    Fetched: std::future::Future<Output = Result<(Vec<PulledCost>, u64), PullError>>,
{
    let mut folder = PullFolder::open(schedule, folder)?;
    let Some(range) = folder.due(now) else { return Ok(PullOutcome::default()) };
    let (days, requests) = fetch(range).await?;
    let months = folder.store(range, &days, &identity, now)?;
    let (from, until) = range;
    tracing::info!(pull = schedule.name, provider = identity.provider, %from, %until, requests, groups = days.len(), months, "cost API days fetched");
    Ok(PullOutcome { requests, months })
}

/// Where a pull of `kind` named `name` keeps its days, under `root`.
fn pull_folder(root: &Path, kind: &str, name: &str) -> PathBuf {
    let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    root.join(format!("{kind}-{name}"))
}

impl<'a> PullFolder<'a> {
    fn open(schedule: PullSchedule<'a>, folder: PathBuf) -> Result<PullFolder<'a>, PullError> {
        std::fs::create_dir_all(&folder).map_err(|e| folder_error(schedule.name, &folder, e))?;
        let state = std::fs::read(folder.join(STATE_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(PullFolder { schedule, folder, state })
    }

    /// The days to ask for at `now`, when a pull is due.
    fn due(&self, now: DateTime<Utc>) -> Option<(NaiveDate, NaiveDate)> {
        let every = self.schedule.pull_every_secs as i64;
        if self.state.last_pull.is_some_and(|at| (now - at).num_seconds() < every) {
            return None;
        }
        fetch_range(self.schedule.start, self.state.fetched_until, self.schedule.restatement_days, now.date_naive())
    }

    /// Replaces the days `[from, until)` of the month files with `fetched`; the number of
    /// month files rewritten.
    fn store(
        &mut self,
        (from, until): (NaiveDate, NaiveDate),
        fetched: &[PulledCost],
        identity: &BillingIdentity,
        now: DateTime<Utc>,
    ) -> Result<usize, PullError> {
        let name = self.schedule.name;
        let mut months = 0;
        let mut month = BillingPeriod::containing(from);
        while month.first_day() < until {
            let path = self.folder.join(format!("{month}.csv"));
            let kept = read_month(&path).map_err(|e| folder_error(name, &path, e))?;
            let kept = kept.into_iter().filter(|d| d.day < from || d.day >= until);
            let new = fetched.iter().filter(|d| BillingPeriod::containing(d.day) == month).cloned();
            let mut all: Vec<PulledCost> = kept.chain(new).collect();
            all.sort();
            // A month with no costs yet (today's, on its first) gets no file until it has some.
            if !all.is_empty() || path.exists() {
                write_atomically(&path, month_file(identity, &all).as_bytes())
                    .map_err(|e| folder_error(name, &path, e))?;
                months += 1;
            }
            month = BillingPeriod::containing(month.end());
        }
        self.state.fetched_until = Some(until);
        self.state.last_pull = Some(now);
        let state_path = self.folder.join(STATE_FILE);
        write_atomically(&state_path, &serde_json::to_vec(&self.state).expect("state serialises"))
            .map_err(|e| folder_error(name, &state_path, e))?;
        Ok(months)
    }
}

fn folder_error(name: &str, path: &Path, source: std::io::Error) -> PullError {
    PullError::Folder { name: name.to_string(), path: path.to_path_buf(), source }
}

/// The provider and billing account the pulled facts belong to.
struct BillingIdentity {
    provider: &'static str,
    account_id: String,
}

/// The days to fetch: from the day after the last one fetched, less the restatement window
/// (or from `start`), to yesterday; never older than the APIs keep. `None` when there is
/// nothing to fetch.
fn fetch_range(
    start: NaiveDate,
    fetched_until: Option<NaiveDate>,
    restatement_days: u32,
    today: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    let oldest = (today - Months::new(HISTORY_MONTHS)).with_day(1).expect("the first of a month");
    let from = match fetched_until {
        Some(until) => (until - chrono::Days::new(restatement_days.into())).max(start),
        None => start,
    };
    let from = from.max(oldest);
    (from < today).then_some((from, today))
}

/// A month's days as a FOCUS 1.2 file (no list cost: neither API has one, so ListCost is 0).
fn month_file(identity: &BillingIdentity, days: &[PulledCost]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER.split(',')).expect("in memory");
    for day in days {
        let service = if day.service.is_empty() { "All services" } else { day.service.as_str() };
        let category = if service == "Tax" { "Tax" } else { "Usage" };
        let next = day.day.succ_opt().expect("a day after");
        let month = BillingPeriod::containing(day.day).first_day();
        writer
            .write_record([
                format!("{}T00:00:00Z", day.day),
                format!("{next}T00:00:00Z"),
                format!("{month}T00:00:00Z"),
                identity.provider.into(),
                identity.account_id.clone(),
                day.sub_account.clone(),
                service.into(),
                day.region.clone(),
                String::new(),
                category.into(),
                day.currency.clone(),
                day.billed.clone(),
                day.effective.clone(),
                String::new(),
                String::new(),
                serde_json::to_string(&day.tags).expect("tags serialise"),
            ])
            .expect("in memory");
    }
    String::from_utf8(writer.into_inner().expect("in memory")).expect("UTF-8 in, UTF-8 out")
}

/// The days a month file holds (none when it does not exist yet).
fn read_month(path: &Path) -> std::io::Result<Vec<PulledCost>> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut days = Vec::new();
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidData, message);
    for record in csv::Reader::from_reader(file).records() {
        let record = record.map_err(|e| invalid(e.to_string()))?;
        let day = record[0].get(..10).and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let day = day.ok_or_else(|| invalid(format!("{:?} is not a day", &record[0])))?;
        let service = if &record[6] == "All services" { String::new() } else { record[6].to_string() };
        days.push(PulledCost {
            day,
            sub_account: record[5].to_string(),
            service,
            region: record[7].to_string(),
            tags: serde_json::from_str(&record[15]).map_err(|e| invalid(e.to_string()))?,
            currency: record[10].to_string(),
            billed: record[11].to_string(),
            effective: record[12].to_string(),
        });
    }
    Ok(days)
}

/// Written beside as a hidden file, then renamed: a crash never leaves half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().expect("a file").to_string_lossy();
    let temporary = path.with_file_name(format!(".{}.partial", name.trim_start_matches('.')));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn only_days_not_fetched_and_the_restatement_window_are_asked_for() {
        let today = day("2026-12-04");
        // Nothing fetched: from the start, to yesterday (the end is exclusive).
        assert_eq!(fetch_range(day("2026-11-01"), None, 3, today), Some((day("2026-11-01"), today)));
        // Fetched up to yesterday: the last three days again.
        assert_eq!(fetch_range(day("2026-11-01"), Some(today), 3, today), Some((day("2026-12-01"), today)));
        // Never before the start, never older than the APIs keep.
        assert_eq!(fetch_range(day("2026-12-03"), Some(day("2026-12-04")), 3, today), Some((day("2026-12-03"), today)));
        assert_eq!(fetch_range(day("2020-01-01"), None, 3, today), Some((day("2025-11-01"), today)));
        assert_eq!(fetch_range(day("2026-12-04"), None, 3, today), None);
    }

    #[test]
    fn a_month_file_reads_back_as_written_and_keeps_the_days_not_fetched_again() {
        let identity = BillingIdentity { provider: "AWS", account_id: "111122223333".into() };
        let cost = |d: &str, billed: &str| PulledCost {
            day: day(d),
            service: "Amazon Elastic Compute Cloud - Compute".into(),
            tags: [("team".to_string(), "pay, \"ments\"".to_string())].into(),
            currency: "USD".into(),
            billed: billed.into(),
            effective: "9.5".into(),
            ..PulledCost::default()
        };
        let untagged = PulledCost {
            day: day("2026-11-02"),
            sub_account: "444455556666".into(),
            currency: "USD".into(),
            billed: "-1".into(),
            effective: "0".into(),
            ..PulledCost::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("2026-11.csv");
        let days = vec![cost("2026-11-01", "10.0000012345"), untagged.clone()];
        write_atomically(&path, month_file(&identity, &days).as_bytes()).unwrap();
        assert_eq!(read_month(&path).unwrap(), days);
        assert!(read_month(&dir.path().join("2026-10.csv")).unwrap().is_empty());

        // A later pull of 11-02 onwards replaces that day and keeps 11-01.
        let schedule = PullSchedule { name: "t", start: day("2026-11-01"), restatement_days: 3, pull_every_secs: 60 };
        let mut folder = PullFolder::open(schedule, dir.path().to_path_buf()).unwrap();
        let now = Utc::now();
        let months = folder.store((day("2026-11-02"), day("2026-11-03")), &[cost("2026-11-02", "3")], &identity, now);
        assert_eq!(months.unwrap(), 1);
        assert_eq!(read_month(&path).unwrap(), vec![days[0].clone(), cost("2026-11-02", "3")]);
        // Not due again before pull_every_secs, and it resumes from the state kept.
        let reopened = PullFolder::open(schedule, dir.path().to_path_buf()).unwrap();
        assert_eq!(reopened.due(now), None);
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(reopened.due(later).map(|(from, _)| from), Some(day("2026-11-01")));
    }
}
