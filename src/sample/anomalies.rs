//! A labeled set of daily cost series for measuring anomaly detection: the patterns real
//! cost series have that must not alert (weekday/weekend cycles, growth, slow migrations,
//! public holidays, fees on the 1st, days at zero) and the anomalies that must (spikes,
//! runaway resources, lasting level shifts, outages to zero, slow leaks), each labeled.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::writer::{WriteError, write_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyKind {
    Spike,
    Runaway,
    LevelShift,
    Outage,
    SlowLeak,
}

impl AnomalyKind {
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::Spike => "spike",
            AnomalyKind::Runaway => "runaway",
            AnomalyKind::LevelShift => "level_shift",
            AnomalyKind::Outage => "outage",
            AnomalyKind::SlowLeak => "slow_leak",
        }
    }
}

/// An injected anomaly: its series, its days (a level shift's first day) and kind.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyLabel {
    pub series_id: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub kind: AnomalyKind,
}

pub struct LabeledSeries {
    pub series: BTreeMap<String, Vec<(NaiveDate, f64)>>,
    pub labels: Vec<AnomalyLabel>,
    /// The public holidays the series observe (a monitor's holiday calendar).
    pub holidays: Vec<NaiveDate>,
}

/// The first day of every series: it starts a week before a month, so the first fee on the
/// 1st falls in the history no day is judged on.
pub const FIRST_DAY: NaiveDate = NaiveDate::from_ymd_opt(2024, 11, 24).expect("a valid date");
/// No anomaly starts before this day of a series: the detector needs history first.
const QUIET_START_DAYS: usize = 45;
const KINDS: [AnomalyKind; 5] =
    [AnomalyKind::Spike, AnomalyKind::Runaway, AnomalyKind::LevelShift, AnomalyKind::Outage, AnomalyKind::SlowLeak];

fn holidays() -> Vec<NaiveDate> {
    ["2024-12-25", "2024-12-26", "2025-01-01", "2025-04-18", "2025-05-26", "2025-07-04", "2025-09-01", "2025-11-27"]
        .iter()
        .chain(&["2025-12-25", "2025-12-26", "2026-01-01"])
        .map(|d| d.parse().expect("a valid date"))
        .collect()
}

/// `count` series of `days` days each, reproducible from `seed`.
pub fn labeled_series(count: usize, days: usize, seed: u64) -> LabeledSeries {
    let holidays = holidays();
    let mut series = BTreeMap::new();
    let mut labels = Vec::new();
    for index in 0..count {
        let id = format!("series-{index:04}");
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(index as u64));
        let (values, injected) = one_series(&mut rng, days, &holidays);
        labels.extend(injected.into_iter().map(|(start, end, kind)| AnomalyLabel {
            series_id: id.clone(),
            start: day(start),
            end: day(end),
            kind,
        }));
        series.insert(id, values.into_iter().enumerate().map(|(d, v)| (day(d), v)).collect());
    }
    LabeledSeries { series, labels, holidays }
}

fn day(index: usize) -> NaiveDate {
    FIRST_DAY + Days::new(index as u64)
}

/// One series' daily costs and its anomalies as (first day, last day, kind) indexes.
fn one_series(
    rng: &mut ChaCha8Rng,
    days: usize,
    holidays: &[NaiveDate],
) -> (Vec<f64>, Vec<(usize, usize, AnomalyKind)>) {
    let level = (rng.random_range(300f64.ln()..20_000f64.ln())).exp();
    let weekend = match rng.random_range(0..10) {
        0..3 => 1.0,
        3..8 => rng.random_range(0.3..0.8),
        // Development accounts that stop at the weekend.
        _ => 0.0,
    };
    let growth = rng.random_range(-0.3..1.0) / 365.0;
    let noise = rng.random_range(0.02..0.06);
    let fee = (rng.random_range(0..10) < 3).then(|| level * rng.random_range(0.5..3.0));
    let observes_holidays = rng.random_range(0..10) < 4;
    // A slow migration: ±30% over two months, not an anomaly.
    let migration = (rng.random_range(0..10) < 2).then(|| {
        let start = rng.random_range(30..days.saturating_sub(60).max(31));
        (start, if rng.random_bool(0.5) { 0.3 } else { -0.3 })
    });
    let mut values: Vec<f64> = (0..days)
        .map(|d| {
            let date = day(d);
            let weekday = !matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
            let holiday = observes_holidays && holidays.contains(&date);
            let cycle = if weekday && !holiday { 1.0 } else { weekend };
            let moved =
                migration.map_or(1.0, |(start, by)| 1.0 + by * ((d as f64 - start as f64) / 60.0).clamp(0.0, 1.0));
            let base = level * (1.0 + growth * d as f64) * cycle * moved;
            base * (1.0 + noise * gaussian(rng)).max(0.0)
        })
        .collect();
    let mut injected = Vec::new();
    let events = match rng.random_range(0..20) {
        0..7 => 0,
        7..16 => 1,
        _ => 2,
    };
    let mut from = QUIET_START_DAYS;
    for _ in 0..events {
        if from + 40 >= days {
            break;
        }
        let start = rng.random_range(from..days - 30);
        // Anomalies start on a working day, where a dev account's cost is not zero anyway.
        let start =
            (start..days - 20).find(|&d| !matches!(day(d).weekday(), Weekday::Sat | Weekday::Sun)).unwrap_or(start);
        let kind = KINDS[rng.random_range(0..KINDS.len())];
        let normal = |d: usize| level * (1.0 + growth * d as f64);
        let end = match kind {
            AnomalyKind::Spike => {
                let end = start + rng.random_range(0..3);
                let by = rng.random_range(0.8..3.0);
                (start..=end).for_each(|d| values[d] += normal(d) * by);
                end
            }
            AnomalyKind::Runaway => {
                let end = start + rng.random_range(3..14);
                let by = rng.random_range(0.6..2.0);
                (start..=end).for_each(|d| values[d] += normal(d) * by);
                end
            }
            AnomalyKind::LevelShift => {
                let by = if rng.random_bool(0.6) { rng.random_range(1.5..2.2) } else { rng.random_range(0.35..0.6) };
                (start..days).for_each(|d| values[d] *= by);
                start
            }
            AnomalyKind::Outage => {
                let end = start + rng.random_range(0..3);
                (start..=end).for_each(|d| values[d] *= rng.random_range(0.0..0.05));
                end
            }
            AnomalyKind::SlowLeak => {
                let ramp = rng.random_range(10..20);
                let by = rng.random_range(0.8..1.5);
                let end = start + ramp;
                (start..=end).for_each(|d| values[d] += normal(d) * by * (d - start + 1) as f64 / ramp as f64);
                end
            }
        };
        injected.push((start, end, kind));
        if kind == AnomalyKind::LevelShift {
            // Nothing is labeled after a shift: the new level is the series from then on.
            break;
        }
        from = end + 40;
    }
    if let Some(fee) = fee {
        values.iter_mut().enumerate().filter(|(d, _)| day(*d).day() == 1).for_each(|(_, v)| *v += fee);
    }
    (values.into_iter().map(|v| (v * 100.0).round() / 100.0).collect(), injected)
}

/// A standard normal draw (Box–Muller).
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let (u, v): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random());
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// Writes `series.csv` (`series_id,date,cost`, what `finopsd anomalies scan` reads),
/// `labels.csv` (`series_id,start,end,kind`) and `holidays.txt` (for `--quiet-days`) into `out`.
pub fn write_labeled_series(out: &Path, set: &LabeledSeries) -> Result<(), WriteError> {
    let mut series = String::from("series_id,date,cost\n");
    for (id, days) in &set.series {
        for (date, cost) in days {
            series.push_str(&format!("{id},{date},{cost:.2}\n"));
        }
    }
    write_text(&out.join("series.csv"), &series)?;
    let mut labels = String::from("series_id,start,end,kind\n");
    for label in &set.labels {
        labels.push_str(&format!("{},{},{},{}\n", label.series_id, label.start, label.end, label.kind.name()));
    }
    write_text(&out.join("labels.csv"), &labels)?;
    let holidays: Vec<String> = set.holidays.iter().map(|d| d.to_string()).collect();
    write_text(&out.join("holidays.txt"), &(holidays.join(",") + "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_is_reproducible_and_labels_lie_inside_their_series() {
        let a = labeled_series(40, 400, 7);
        let b = labeled_series(40, 400, 7);
        assert_eq!(a.series, b.series);
        assert_eq!(a.labels, b.labels);
        assert!(a.labels.len() >= 20, "{}", a.labels.len());
        for label in &a.labels {
            let days = &a.series[&label.series_id];
            assert!(label.start >= days[QUIET_START_DAYS].0 && label.end <= days.last().unwrap().0, "{label:?}");
        }
        assert!(a.series.values().all(|days| days.len() == 400 && days.iter().all(|(_, c)| *c >= 0.0)));
    }
}
