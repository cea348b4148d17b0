//! Anomaly detection quality: the detector `finopsd anomalies scan` runs, on two labelled sets,
//! next to naive baselines.
//!
//!     cargo bench --bench anomaly
//!     BENCH_SERIES=100 BENCH_DAYS=400 BENCH_SEED=7 cargo bench --bench anomaly
//!
//! 1. The demo set `finopsd sample anomalies` writes (defaults 300 series × 400 days, seed 42).
//!    An alert is true when its days overlap an injected anomaly's (a level shift's first week;
//!    two days' grace after the end). Event precision is true alerts over alerts, recall is the
//!    anomalies some alert found; alerts per true anomaly counts how often one anomaly alerted.
//! 2. The independent set (`finopsd::sample::cost_series`, written without the detector's
//!    assumptions; defaults 240 series × 420 days, seed 2026), scored by the rules — see
//!    `independent` below. The same `BENCH_*` variables override both sets' defaults.

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

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

fn main() {
    demo_set(env_or("BENCH_SERIES", 300), env_or("BENCH_DAYS", 400), env_or("BENCH_SEED", 42));
    println!();
    independent::report(env_or("BENCH_SERIES", 240), env_or("BENCH_DAYS", 420), env_or("BENCH_SEED", 2026));
}

/// The detector's alerts on `series` with `holidays` as public holidays, as `anomalies scan` runs
/// it, with its settings and the seconds the scan took.
fn timed_scan(
    series: &BTreeMap<String, Vec<(NaiveDate, f64)>>,
    holidays: &[NaiveDate],
) -> (Vec<Event>, DetectorSettings, f64) {
    let settings = DetectorSettings { holidays: holidays.iter().copied().collect(), ..DetectorSettings::default() };
    let started = Instant::now();
    let alerts = scan(series, &settings);
    let seconds = started.elapsed().as_secs_f64();
    (alerts.into_iter().map(|a| (a.series_id, a.start, a.end)).collect(), settings, seconds)
}

fn demo_set(count: usize, days: usize, seed: u64) {
    let set = labeled_series(count, days, seed);
    let series_years = (count * days) as f64 / 365.0;
    let (detector, _, seconds) = timed_scan(&set.series, &set.holidays);
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

/// The independent set, scored by the rules:
///
/// - a labelled window [s, e] is found by an alert touching [s − 1, e + 2];
/// - consecutive flagged days are one alert (the detector's adjacent alerts are merged too);
///   an alert longer than 14 days is cut into 14-day pieces, each scored as one alert — so a
///   detector that keeps alerting on a new level pays for every fortnight of it;
/// - labels worth less than $100 (|excess|) are neutral: not needed for recall, and an alert
///   touching only neutral windows is neither true nor false;
/// - false alerts are counted per clean series-year: active days (from a series' first
///   non-zero day) outside every label's scoring window, / 365.
mod independent {
    use std::collections::BTreeMap;

    use chrono::{Days, NaiveDate};
    use finopsd::detect::DetectorSettings;
    use finopsd::sample::cost_series::{Context, Contexts, IndependentSet, Kind, Label, independent_series};

    use super::{Event, ratio, rolling_z, timed_scan};

    /// Labels worth less than this ($, |excess|) are neutral.
    const NEUTRAL_EXCESS: f64 = 100.0;
    /// An alert longer than this counts as one per this many days.
    const ALERT_PIECE_DAYS: u64 = 14;
    /// σ buckets: upper bounds, the last open.
    const SIGMA_BUCKETS: [(f64, &str); 5] = [
        (0.05, "σ < 0.05"),
        (0.10, "0.05–0.10"),
        (0.15, "0.10–0.15"),
        (0.20, "0.15–0.20"),
        (f64::INFINITY, "σ ≥ 0.20"),
    ];

    fn scoring_window(label: &Label) -> (NaiveDate, NaiveDate) {
        (label.start - Days::new(1), label.end + Days::new(2))
    }

    fn bucket(sigma: f64) -> usize {
        SIGMA_BUCKETS.iter().position(|(upper, _)| sigma < *upper).expect("last bucket is open")
    }

    /// Alerts merged where adjacent or overlapping, then cut into 14-day pieces.
    fn pieces(mut events: Vec<Event>) -> Vec<Event> {
        events.sort();
        let mut merged: Vec<Event> = Vec::new();
        for (id, start, end) in events {
            match merged.last_mut() {
                Some(last) if last.0 == id && start <= last.2 + Days::new(1) => last.2 = last.2.max(end),
                _ => merged.push((id, start, end)),
            }
        }
        let mut out = Vec::new();
        for (id, start, end) in merged {
            let mut from = start;
            while from <= end {
                let to = (from + Days::new(ALERT_PIECE_DAYS - 1)).min(end);
                out.push((id.clone(), from, to));
                from = to + Days::new(1);
            }
        }
        out
    }

    #[derive(Default)]
    struct Score {
        true_alerts: usize,
        false_alerts: usize,
        neutral_alerts: usize,
        /// Non-neutral labels, and those found, per kind.
        labels: BTreeMap<Kind, (usize, usize)>,
        false_by_bucket: [usize; 5],
        false_by_context: BTreeMap<Option<Context>, usize>,
    }

    impl Score {
        fn found(&self) -> usize {
            self.labels.values().map(|v| v.1).sum()
        }
        fn needed(&self) -> usize {
            self.labels.values().map(|v| v.0).sum()
        }
        fn precision(&self) -> f64 {
            ratio(self.true_alerts, self.true_alerts + self.false_alerts)
        }
        fn recall(&self) -> f64 {
            ratio(self.found(), self.needed())
        }
        fn f1(&self) -> f64 {
            let (p, r) = (self.precision(), self.recall());
            if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
        }
    }

    /// Clean series-years overall and per σ bucket.
    fn clean_years(set: &IndependentSet) -> (f64, [f64; 5]) {
        let mut per_bucket = [0.0; 5];
        for (id, days) in &set.series {
            let windows: Vec<(NaiveDate, NaiveDate)> =
                set.labels.iter().filter(|l| &l.series_id == id).map(scoring_window).collect();
            let active_from = set.profiles[id].active_from;
            let clean = days[active_from..]
                .iter()
                .filter(|(date, _)| !windows.iter().any(|(from, to)| (from..=to).contains(&date)))
                .count();
            per_bucket[bucket(set.noise_sigma[id])] += clean as f64 / 365.0;
        }
        (per_bucket.iter().sum(), per_bucket)
    }

    fn score(set: &IndependentSet, events: Vec<Event>) -> Score {
        let mut by_series: BTreeMap<&str, Vec<&Label>> = BTreeMap::new();
        for label in &set.labels {
            by_series.entry(&label.series_id).or_default().push(label);
        }
        let touches = |(_, start, end): &Event, label: &Label| {
            let (from, to) = scoring_window(label);
            *start <= to && *end >= from
        };
        let mut score = Score::default();
        let mut found = vec![false; set.labels.len()];
        let index_of = |label: &Label| set.labels.iter().position(|l| std::ptr::eq(l, label)).expect("own label");
        for event in pieces(events) {
            let labels = by_series.get(event.0.as_str()).map(Vec::as_slice).unwrap_or_default();
            let hit: Vec<&&Label> = labels.iter().filter(|l| touches(&event, l)).collect();
            let real: Vec<&&Label> = hit.iter().copied().filter(|l| l.excess.abs() >= NEUTRAL_EXCESS).collect();
            if !real.is_empty() {
                score.true_alerts += 1;
                for label in real {
                    found[index_of(label)] = true;
                }
            } else if !hit.is_empty() {
                score.neutral_alerts += 1;
            } else {
                score.false_alerts += 1;
                score.false_by_bucket[bucket(set.noise_sigma[&event.0])] += 1;
                let days = &set.series[&event.0];
                let tags = &set.day_context[&event.0];
                let contexts = days
                    .iter()
                    .zip(tags)
                    .filter(|((date, _), _)| (event.1..=event.2).contains(date))
                    .fold(Contexts::default(), |all, (_, tags)| all.union(*tags));
                if contexts.is_empty() {
                    *score.false_by_context.entry(None).or_default() += 1;
                }
                for context in contexts.iter() {
                    *score.false_by_context.entry(Some(context)).or_default() += 1;
                }
            }
        }
        for (label, found) in set.labels.iter().zip(found) {
            if label.excess.abs() >= NEUTRAL_EXCESS {
                let entry = score.labels.entry(label.kind).or_default();
                entry.0 += 1;
                entry.1 += usize::from(found);
            }
        }
        score
    }

    pub fn report(count: usize, days: usize, seed: u64) {
        let set = independent_series(count, days, seed);
        let (detector, settings, seconds) = timed_scan(&set.series, &set.holidays);
        let rows =
            [("finopsd scan", score(&set, detector)), ("rolling 28-day z > 3", score(&set, rolling_z(&set.series)))];
        let (clean, clean_by_bucket) = clean_years(&set);
        let neutral = set.labels.iter().filter(|l| l.excess.abs() < NEUTRAL_EXCESS).count();
        println!(
            "independent set (cost_series): {count} series × {days} days (seed {seed}), {} labels ({neutral} neutral, under ${NEUTRAL_EXCESS:.0}), {:.1} clean series-years, {} public holidays (judged for a rise only)",
            set.labels.len(),
            clean,
            set.holidays.len(),
        );
        println!(
            "  scan took {seconds:.2} s: {:.0} series/s ({:.0} series-days/s)",
            count as f64 / seconds,
            (count * days) as f64 / seconds
        );
        println!(
            "  {:<22} {:>9} {:>6} {:>6} {:>6} {:>6} {:>8} {:>13} {:>20}",
            "detector", "precision", "recall", "F1", "true", "false", "neutral", "alerts/found", "false/clean ser-yr"
        );
        for (name, s) in &rows {
            println!(
                "  {name:<22} {:>9.3} {:>6.3} {:>6.3} {:>6} {:>6} {:>8} {:>13.2} {:>20.3}",
                s.precision(),
                s.recall(),
                s.f1(),
                s.true_alerts,
                s.false_alerts,
                s.neutral_alerts,
                ratio(s.true_alerts, s.found()),
                s.false_alerts as f64 / clean
            );
        }

        println!("  recall by kind (found/labelled, neutral labels left out):");
        for (name, s) in &rows {
            let kinds: Vec<String> = Kind::ALL
                .iter()
                .map(|kind| {
                    let (needed, found) = s.labels.get(kind).copied().unwrap_or_default();
                    format!("{} {found}/{needed}", kind.name())
                })
                .collect();
            println!("    {name:<22} {}", kinds.join(", "));
        }

        println!("  false alerts per clean series-year by noise σ (clean series-years in brackets):");
        let header: Vec<String> = SIGMA_BUCKETS
            .iter()
            .zip(clean_by_bucket)
            .map(|((_, name), years)| format!("{:>16}", format!("{name} [{years:.0}]")))
            .collect();
        println!("    {:<22}{}", "", header.join(""));
        for (name, s) in &rows {
            let cells: Vec<String> = s
                .false_by_bucket
                .iter()
                .zip(clean_by_bucket)
                .map(|(n, years)| format!("{:>16}", format!("{:.3} ({n})", ratio_f(*n as f64, years))))
                .collect();
            println!("    {name:<22}{}", cells.join(""));
        }

        println!(
            "  false alerts by the context of their days (an alert counts once in each context its days have; noise = none):"
        );
        let columns: Vec<Option<Context>> = std::iter::once(None).chain(Context::ALL.map(Some)).collect();
        let header: Vec<String> =
            columns.iter().map(|c| format!("{:>14}", c.map(Context::name).unwrap_or("noise"))).collect();
        println!("    {:<22}{}", "", header.join(""));
        for (name, s) in &rows {
            let cells: Vec<String> =
                columns.iter().map(|c| format!("{:>14}", s.false_by_context.get(c).copied().unwrap_or(0))).collect();
            println!("    {name:<22}{}", cells.join(""));
        }
        calibration(&set, &settings);
    }

    /// The share of clean days outside the detector's 99% band, per noise σ bucket: days of
    /// series without anomalies, judged, whose only context is the weekly cycle (events such
    /// as month-end jobs, fees, ramps, holidays and sparse runs are left out: the band is
    /// about noise). A calibrated band leaves 0.5–2% out in every bucket.
    fn calibration(set: &IndependentSet, settings: &DetectorSettings) {
        let labelled: std::collections::BTreeSet<&str> = set.labels.iter().map(|l| l.series_id.as_str()).collect();
        let mut outside = [0usize; 5];
        let mut judged = [0usize; 5];
        for (id, days) in &set.series {
            if labelled.contains(id.as_str()) {
                continue;
            }
            let b = bucket(set.noise_sigma[id]);
            let (days_judged, _) = finopsd::detect::detect(days, settings);
            for (day, context) in days_judged.iter().zip(&set.day_context[id]) {
                let plain = context.iter().all(|c| c == Context::Weekend);
                let Some(band) = day.expectation.filter(|_| plain) else { continue };
                judged[b] += 1;
                outside[b] += usize::from(day.actual < band.low || day.actual > band.high);
            }
        }
        println!("  calibration: clean days outside the 99% band, by noise σ (target 0.5–2% in each):");
        let cells: Vec<String> = SIGMA_BUCKETS
            .iter()
            .zip(outside.iter().zip(judged))
            .map(|((_, name), (out, all))| format!("{name}: {:.2}% of {all}", 100.0 * ratio(*out, all)))
            .collect();
        println!("    {}", cells.join("   "));
    }

    fn ratio_f(part: f64, whole: f64) -> f64 {
        if whole == 0.0 { 0.0 } else { part / whole }
    }
}
