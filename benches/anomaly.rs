//! Anomaly detection quality: the detector `finopsd anomalies scan` runs, on the labeled set
//! `finopsd sample anomalies` writes, next to two naive baselines.
//!
//!     cargo bench --bench anomaly
//!     BENCH_SERIES=100 BENCH_DAYS=400 BENCH_SEED=7 cargo bench --bench anomaly
//!
//! An alert is true when its days overlap an injected anomaly's (a level shift's first week;
//! two days' grace after the end). Event precision is true alerts over alerts, recall is the
//! anomalies some alert found; alerts per true anomaly counts how often one anomaly alerted.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{Days, NaiveDate};
use finopsd::detect::{DetectorSettings, scan};
use finopsd::sample::anomalies::{AnomalyKind, AnomalyLabel, labeled_series};

/// An alert's series and days.
type Event = (String, NaiveDate, NaiveDate);

/// Days after an anomaly's end an alert may still start and count.
const GRACE_DAYS: u64 = 2;
/// The days a level shift is there to be found: its first week.
const SHIFT_DAYS: u64 = 6;

struct Quality {
    alerts: usize,
    true_alerts: usize,
    found: usize,
    labels: usize,
    series_years: f64,
}

impl Quality {
    fn precision(&self) -> f64 {
        ratio(self.true_alerts, self.alerts)
    }
    fn recall(&self) -> f64 {
        ratio(self.found, self.labels)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

fn window(label: &AnomalyLabel) -> (NaiveDate, NaiveDate) {
    let end = if label.kind == AnomalyKind::LevelShift { label.start + Days::new(SHIFT_DAYS) } else { label.end };
    (label.start, end + Days::new(GRACE_DAYS))
}

fn score(events: &[Event], labels: &[AnomalyLabel], series_years: f64) -> Quality {
    let overlaps = |(id, start, end): &Event, label: &AnomalyLabel| {
        let (from, to) = window(label);
        *id == label.series_id && *start <= to && *end >= from
    };
    Quality {
        alerts: events.len(),
        true_alerts: events.iter().filter(|e| labels.iter().any(|l| overlaps(e, l))).count(),
        found: labels.iter().filter(|l| events.iter().any(|e| overlaps(e, l))).count(),
        labels: labels.len(),
        series_years,
    }
}

/// Consecutive flagged days of a series as events.
fn events_of(id: &str, days: &[(NaiveDate, f64)], flagged: impl Fn(usize) -> bool) -> Vec<Event> {
    let mut events: Vec<Event> = Vec::new();
    let mut open = false;
    for (t, (date, _)) in days.iter().enumerate() {
        if flagged(t) {
            match events.last_mut() {
                Some(last) if open => last.2 = *date,
                _ => events.push((id.to_string(), *date, *date)),
            }
            open = true;
        } else {
            open = false;
        }
    }
    events
}

/// "|Δ| > 40% of the last 7 days' mean and > $100".
fn week_change(series: &BTreeMap<String, Vec<(NaiveDate, f64)>>) -> Vec<Event> {
    series
        .iter()
        .flat_map(|(id, days)| {
            events_of(id, days, |t| {
                if t < 7 {
                    return false;
                }
                let mean = days[t - 7..t].iter().map(|d| d.1).sum::<f64>() / 7.0;
                let change = (days[t].1 - mean).abs();
                change > 0.4 * mean && change > 100.0
            })
        })
        .collect()
}

/// "rolling 28-day z-score > 3".
fn rolling_z(series: &BTreeMap<String, Vec<(NaiveDate, f64)>>) -> Vec<Event> {
    series
        .iter()
        .flat_map(|(id, days)| {
            events_of(id, days, |t| {
                if t < 28 {
                    return false;
                }
                let window = &days[t - 28..t];
                let mean = window.iter().map(|d| d.1).sum::<f64>() / 28.0;
                let sd = (window.iter().map(|d| (d.1 - mean).powi(2)).sum::<f64>() / 27.0).sqrt();
                sd > 0.0 && ((days[t].1 - mean) / sd).abs() > 3.0
            })
        })
        .collect()
}

fn main() {
    let count: usize = std::env::var("BENCH_SERIES").ok().and_then(|n| n.parse().ok()).unwrap_or(300);
    let days: usize = std::env::var("BENCH_DAYS").ok().and_then(|n| n.parse().ok()).unwrap_or(400);
    let seed: u64 = std::env::var("BENCH_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(42);
    let set = labeled_series(count, days, seed);
    let series_years = (count * days) as f64 / 365.0;
    let settings =
        DetectorSettings { quiet_days: set.holidays.iter().copied().collect(), ..DetectorSettings::default() };
    let started = Instant::now();
    let alerts = scan(&set.series, &settings);
    let seconds = started.elapsed().as_secs_f64();
    let detector: Vec<Event> = alerts.into_iter().map(|a| (a.series_id, a.start, a.end)).collect();
    let rows = [
        ("finopsd scan", score(&detector, &set.labels, series_years)),
        ("|Δ| > 40% of 7-day mean, > $100", score(&week_change(&set.series), &set.labels, series_years)),
        ("rolling 28-day z > 3", score(&rolling_z(&set.series), &set.labels, series_years)),
    ];
    println!(
        "anomaly detection on {count} series × {days} days (seed {seed}, {} labeled anomalies), scan took {seconds:.1} s:",
        set.labels.len()
    );
    println!(
        "  {:<34} {:>9} {:>6} {:>6} {:>7} {:>17} {:>22}",
        "detector", "precision", "recall", "F1", "alerts", "alerts/true anom.", "false alerts/series-yr"
    );
    for (name, q) in &rows {
        println!(
            "  {name:<34} {:>9.3} {:>6.3} {:>6.3} {:>7} {:>17.2} {:>22.3}",
            q.precision(),
            q.recall(),
            q.f1(),
            q.alerts,
            ratio(q.true_alerts, q.found),
            (q.alerts - q.true_alerts) as f64 / q.series_years
        );
    }
    // Recall per kind shows what the detector misses.
    let found_by_kind = |kind: AnomalyKind| {
        let labels: Vec<AnomalyLabel> = set.labels.iter().filter(|l| l.kind == kind).cloned().collect();
        let q = score(&detector, &labels, series_years);
        format!("{} {}/{}", kind.name(), q.found, q.labels)
    };
    let kinds =
        [AnomalyKind::Spike, AnomalyKind::Runaway, AnomalyKind::LevelShift, AnomalyKind::Outage, AnomalyKind::SlowLeak];
    println!("  finopsd recall by kind: {}", kinds.map(found_by_kind).join(", "));
}
