//! An independent labelled set of daily cost series, to score anomaly detection on data its
//! authors did not shape (issue #22, item 7).
//!
//! The world is written from a description of how cloud spend behaves, not from the detector:
//! nothing here reads `crate::detect` or the older demo generator (`anomalies`). Each series is
//! a product of a level (base, trend, migrations), a calendar pattern (weekends, public holidays,
//! month-end batches), AR(1) log-normal noise, and the fixed fees and on/off runs some services
//! have. Those are normal behaviour and are never labelled; the anomalies injected on top are.
//!
//! The hard cases are the default: noisy series (σ up to 0.25), small series whose anomalies are
//! worth less than the $100 the scoring ignores, subtle changes on large series, level shifts
//! whose new level stays, late starters with little history, sparse on/off services.
//!
//! Every series draws from its own random stream (`seed`, stream = the series' index), so
//! series `n` is the same whatever `count` is, and a change to one draw does not reshuffle the
//! others.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The set's first day. A Monday in March, so a 420-day set (to late April a year later) sees
/// each of the 11 US federal holidays once, most of them after the quiet start.
pub fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 3, 4).expect("valid date")
}

/// No anomaly starts in a series' first this many days of its own (non-zero) history: a
/// detector cannot be asked to know a series it has barely seen.
pub const QUIET_START_DAYS: usize = 45;
/// Days from a series' first active day that are tagged [`Context::FirstDays`].
pub const FIRST_DAYS: usize = 28;
/// A series is "large" from this base ($/day) and may get subtle changes too.
pub const LARGE_BASE: f64 = 5_000.0;

/// What was injected. A level shift's direction is part of its kind, so the sign of a label's
/// excess can be checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// One day at +50%..+900%.
    Spike,
    /// 3–14 days of extra constant spend (a resource left running).
    Runaway,
    /// A permanent level increase of 40–200%; only its first 3 days are labelled.
    ShiftUp,
    /// A permanent level decrease (÷1.4..÷3); only its first 3 days are labelled.
    ShiftDown,
    /// Spend falls by 60–100% for 2–7 days (an outage, a broken pipeline, lost usage).
    Drop,
    /// Spend compounding +4–6% a day for 10–20 days, then back to normal; only the days more
    /// than 30% over the clean series are labelled.
    Leak,
    /// +6..40% for 3–10 days, only on large series: small in percent, real in money.
    Subtle,
}

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Spike, Kind::Runaway, Kind::ShiftUp, Kind::ShiftDown, Kind::Drop, Kind::Leak, Kind::Subtle];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Spike => "spike",
            Kind::Runaway => "runaway",
            Kind::ShiftUp => "shift up",
            Kind::ShiftDown => "shift down",
            Kind::Drop => "drop",
            Kind::Leak => "leak",
            Kind::Subtle => "subtle",
        }
    }

    /// Whether the anomaly adds spend (its excess is positive) rather than removing it.
    pub fn is_up(self) -> bool {
        !matches!(self, Kind::ShiftDown | Kind::Drop)
    }
}

/// One injected anomaly: its labelled window and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub series_id: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub kind: Kind,
    /// Total $ over the same series without this anomaly (same noise draw), in the window.
    pub excess: f64,
}

/// Why a day may look unusual although nothing is wrong: the context a false alert fell in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    /// The last days of a month with a batch job, and the day after.
    MonthEnd,
    /// Saturday, Sunday and the Monday after, in a series with a weekend dip.
    Weekend,
    /// A public holiday and the day after, in a series with a weekend (so holiday) dip.
    Holiday,
    /// Before a series' first active day, and its first [`FIRST_DAYS`] active days.
    FirstDays,
    /// Day 1 and 2 of a month in a series with a monthly fixed fee.
    DayOneFee,
    /// Every day of a sparse on/off series.
    Sparse,
    /// The two weeks after a transient anomaly ended, or the four weeks after a level shift's
    /// labelled window (its new level).
    AfterAnomaly,
    /// A migration ramp and the two weeks after it.
    Migration,
    /// A leak's first days, before it is 30% over the clean series and labelled.
    AnomalyOnset,
}

impl Context {
    pub const ALL: [Context; 9] = [
        Context::MonthEnd,
        Context::Weekend,
        Context::Holiday,
        Context::FirstDays,
        Context::DayOneFee,
        Context::Sparse,
        Context::AfterAnomaly,
        Context::Migration,
        Context::AnomalyOnset,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Context::MonthEnd => "month-end",
            Context::Weekend => "weekend/Mon",
            Context::Holiday => "holiday",
            Context::FirstDays => "first 28 d",
            Context::DayOneFee => "day-1 fee",
            Context::Sparse => "sparse",
            Context::AfterAnomaly => "after anomaly",
            Context::Migration => "migration",
            Context::AnomalyOnset => "leak onset",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The contexts of one day; empty means plain noise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Contexts(u16);

impl Contexts {
    pub fn contains(self, context: Context) -> bool {
        self.0 & context.bit() != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn insert(&mut self, context: Context) {
        self.0 |= context.bit();
    }
    pub fn union(self, other: Contexts) -> Contexts {
        Contexts(self.0 | other.0)
    }
    pub fn iter(self) -> impl Iterator<Item = Context> {
        Context::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

/// A level moving linearly to `factor` × its old value over `days` days from `start` (an index
/// into the series), then staying there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Migration {
    pub start: usize,
    pub days: usize,
    pub factor: f64,
}

/// How a series was drawn: what a reader of the benchmark needs to explain a result.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Weekday cost ($/day) on the first active day, before noise.
    pub base: f64,
    /// Growth per year (−0.3 = −30%/year).
    pub trend: f64,
    /// Stationary standard deviation of the log noise, and its day-to-day correlation.
    pub sigma: f64,
    pub phi: f64,
    /// Share by which Saturdays and Sundays are lower.
    pub weekend_dip: Option<f64>,
    /// Cost multiplier on federal holidays (only in series with a weekend dip).
    pub holiday_factor: Option<f64>,
    /// A constant $ charged on day 1 of each month.
    pub day_one_fee: Option<f64>,
    /// The last `.0` days of each month cost `.1` × the usual.
    pub month_end: Option<(usize, f64)>,
    pub sparse: bool,
    /// Index of the first active day (0 unless the service starts late).
    pub active_from: usize,
    pub migration: Option<Migration>,
}

/// The set: series, ground truth, the holidays used, and the per-day context tags.
#[derive(Debug, Clone, PartialEq)]
pub struct IndependentSet {
    pub series: BTreeMap<String, Vec<(NaiveDate, f64)>>,
    pub labels: Vec<Label>,
    /// The US federal holidays (observed dates) that dipped cost; a monitor with
    /// `holiday_country = "US"` knows them.
    pub holidays: Vec<NaiveDate>,
    pub noise_sigma: BTreeMap<String, f64>,
    /// Per series and day (same indexing as `series`), why that day may look unusual.
    pub day_context: BTreeMap<String, Vec<Contexts>>,
    pub profiles: BTreeMap<String, Profile>,
}

/// `count` series of `days` days from [`first_day`], deterministic in `seed`.
pub fn independent_series(count: usize, days: usize, seed: u64) -> IndependentSet {
    let first = first_day();
    let dates: Vec<NaiveDate> = (0..days).map(|t| first + Days::new(t as u64)).collect();
    let holidays: Vec<NaiveDate> = match (dates.first(), dates.last()) {
        (Some(from), Some(to)) => {
            (from.year()..=to.year() + 1).flat_map(us_federal_holidays).filter(|d| (from..=to).contains(&d)).collect()
        }
        _ => Vec::new(),
    };
    let holiday_set: BTreeSet<NaiveDate> = holidays.iter().copied().collect();
    let mut set = IndependentSet {
        series: BTreeMap::new(),
        labels: Vec::new(),
        holidays,
        noise_sigma: BTreeMap::new(),
        day_context: BTreeMap::new(),
        profiles: BTreeMap::new(),
    };
    for index in 0..count {
        let id = format!("series-{index:04}");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index as u64);
        let drawn = draw_series(&mut rng, &dates, &holiday_set);
        set.series.insert(id.clone(), dates.iter().copied().zip(drawn.values).collect());
        set.labels.extend(drawn.labels.into_iter().map(|(start, end, kind, excess)| Label {
            series_id: id.clone(),
            start: dates[start],
            end: dates[end],
            kind,
            excess,
        }));
        set.noise_sigma.insert(id.clone(), drawn.profile.sigma);
        set.day_context.insert(id.clone(), drawn.contexts);
        set.profiles.insert(id, drawn.profile);
    }
    set
}

/// The US federal holidays of `year` on the dates they are observed: a fixed-date holiday on a
/// Saturday is observed the Friday before, on a Sunday the Monday after — the weekday people are
/// off, which is the day spend dips. (New Year's Day on a Saturday is observed on 31 December
/// of the year before; it is returned with `year` and the caller filters by range.)
pub fn us_federal_holidays(year: i32) -> Vec<NaiveDate> {
    let nth = |month, weekday, n| NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).expect("exists");
    let observed = |month, day| {
        let date = NaiveDate::from_ymd_opt(year, month, day).expect("valid date");
        match date.weekday() {
            Weekday::Sat => date - Days::new(1),
            Weekday::Sun => date + Days::new(1),
            _ => date,
        }
    };
    let last_monday_of_may = (1..=5).rev().find_map(|n| NaiveDate::from_weekday_of_month_opt(year, 5, Weekday::Mon, n));
    let mut out = vec![
        observed(1, 1),
        nth(1, Weekday::Mon, 3),
        nth(2, Weekday::Mon, 3),
        last_monday_of_may.expect("May has Mondays"),
        observed(7, 4),
        nth(9, Weekday::Mon, 1),
        nth(10, Weekday::Mon, 2),
        observed(11, 11),
        nth(11, Weekday::Thu, 4),
        observed(12, 25),
    ];
    // Juneteenth has been a federal holiday since 2021.
    if year >= 2021 {
        out.push(observed(6, 19));
    }
    out.sort();
    out
}

/// One anomaly as injected: where, how long, how large, and its labelled window (indices).
#[derive(Debug, Clone, Copy)]
struct Injected {
    kind: Kind,
    start: usize,
    days: usize,
    /// Spike/subtle/leak: the relative increase (per day for a leak); runaway: extra $/day;
    /// shift: the level factor; drop: the share lost.
    size: f64,
    window: (usize, usize),
}

impl Injected {
    /// The last day the anomaly changes spend — for a level shift (permanent) the end of its
    /// labelled window.
    fn effect_end(&self) -> usize {
        match self.kind {
            Kind::ShiftUp | Kind::ShiftDown => self.window.1,
            _ => self.start + self.days - 1,
        }
    }

    /// Days kept free of other anomalies and migrations around this one, so windows never
    /// overlap and a detector has had time to settle before the next one. A level shift keeps
    /// five weeks: its new level must become normal before the next event is fair to ask about.
    fn occupied(&self) -> (usize, usize) {
        let after = match self.kind {
            Kind::ShiftUp | Kind::ShiftDown => 35,
            _ => 10,
        };
        (self.start.saturating_sub(7), self.effect_end() + after)
    }

    /// (multiplier on the variable part of the day's cost, $ added) on day `t`.
    fn effect(&self, t: usize) -> (f64, f64) {
        let inside = t >= self.start && t < self.start + self.days;
        match self.kind {
            Kind::Spike | Kind::Subtle if inside => (1.0 + self.size, 0.0),
            Kind::Runaway if inside => (1.0, self.size),
            Kind::ShiftUp | Kind::ShiftDown if t >= self.start => (self.size, 0.0),
            Kind::Drop if inside => (1.0 - self.size, 0.0),
            Kind::Leak if inside => ((1.0 + self.size).powi((t - self.start + 1) as i32), 0.0),
            _ => (1.0, 0.0),
        }
    }
}

struct Drawn {
    values: Vec<f64>,
    /// (start, end, kind, excess) with indices into the series.
    labels: Vec<(usize, usize, Kind, f64)>,
    profile: Profile,
    contexts: Vec<Contexts>,
}

fn uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    rng.random_range(low..high)
}

/// A standard normal draw (Box–Muller; `rand` 0.9 alone has no normal distribution).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]: ln is finite
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn last_day_of_month(date: NaiveDate) -> u32 {
    let (y, m) = if date.month() == 12 { (date.year() + 1, 1) } else { (date.year(), date.month() + 1) };
    (NaiveDate::from_ymd_opt(y, m, 1).expect("valid date") - Days::new(1)).day()
}

fn draw_series(rng: &mut ChaCha8Rng, dates: &[NaiveDate], holidays: &BTreeSet<NaiveDate>) -> Drawn {
    let days = dates.len();
    // Log-uniform base: cloud line items span orders of magnitude, and every decade
    // ($5–50, …, $5k–50k a day) is equally common, so a quarter of series are "large".
    let base = uniform(rng, 5f64.ln(), 50_000f64.ln()).exp();
    // Trend: shrinking (rightsizing, commitments) to fast-growing products.
    let mut trend = uniform(rng, -0.30, 0.80);
    // σ is the stationary sd of the log noise (so a series' day-to-day spread is σ whatever φ
    // is); φ makes noisy days come in runs, as usage does.
    let sigma = uniform(rng, 0.02, 0.25);
    let phi = uniform(rng, 0.0, 0.5);
    // Sparse on/off services (batch clusters, test environments): a stable on-level and many
    // zero days. They carry no calendar pattern of their own, so the "sparse" context is pure.
    let sparse = rng.random_bool(0.08);
    if sparse {
        trend = 0.0;
    }
    // Late starters: zeros, then only 10–60 days of history before the set ends.
    let late = rng.random_bool(0.10);
    let history = rng.random_range(10..=60usize).min(days);
    let active_from = if late { days - history } else { 0 };
    // Weekend dip: compute and request-driven spend follows people; 30% of series (storage,
    // licences) do not dip. Only series that dip on weekends dip on holidays, for the same
    // reason, and by their own factor.
    let weekend_dip = (!sparse && rng.random_bool(0.70)).then(|| uniform(rng, 0.20, 0.70));
    let holiday_factor = weekend_dip.map(|_| uniform(rng, 0.30, 0.80));
    // Monthly fixed fees (support plans, licences, reserved capacity billed upfront): a constant
    // $ amount on day 1 that does not follow the trend — it is a price, not usage.
    let day_one_fee = (!sparse && rng.random_bool(0.30)).then(|| base * uniform(rng, 0.5, 5.0));
    // Month-end batch jobs (billing runs, reports, reconciliations): the last 1–3 days of every
    // month at 1.5–4× the usual.
    let month_end = (!sparse && rng.random_bool(0.25)).then(|| (rng.random_range(1..=3usize), uniform(rng, 1.5, 4.0)));

    // On/off runs of a sparse series: short on-runs, longer off-runs, so most days are zero.
    let mut on = vec![!sparse; days];
    if sparse {
        let mut t = 0;
        let mut running = rng.random_bool(0.5);
        while t < days {
            let run = if running { rng.random_range(1..=7usize) } else { rng.random_range(1..=21usize) };
            for slot in on.iter_mut().skip(t).take(run) {
                *slot = running;
            }
            t += run;
            running = !running;
        }
    }
    for slot in on.iter_mut().take(active_from) {
        *slot = false;
    }
    // A late sparse series must still start with an on-day (its first non-zero day).
    if active_from < days {
        on[active_from] = true;
    }

    // Migration ramps (moving to another instance family, region or pricing): in about a third
    // of series, the level moves 20–60% up or down linearly over 7–30 days and stays. Not an
    // anomaly: planned, gradual, and nobody wants to be paged for it.
    let migration = if !sparse && rng.random_bool(0.35) {
        let ramp = rng.random_range(7..=30usize);
        let change = uniform(rng, 0.20, 0.60);
        let factor = if rng.random_bool(0.5) { 1.0 + change } else { 1.0 - change };
        let earliest = active_from + 14;
        (earliest + ramp + 1 < days).then(|| Migration {
            start: rng.random_range(earliest..days - ramp),
            days: ramp,
            factor,
        })
    } else {
        None
    };
    let migration_at = |t: usize| match migration {
        Some(m) if t >= m.start + m.days => m.factor,
        Some(m) if t >= m.start => 1.0 + (m.factor - 1.0) * (t - m.start + 1) as f64 / m.days as f64,
        _ => 1.0,
    };

    // AR(1) noise on the log scale, drawn once: every version of the series (with and without
    // each anomaly) shares it, so an anomaly's excess is exactly what it added.
    let innovation = sigma * (1.0 - phi * phi).sqrt();
    let mut log_noise = Vec::with_capacity(days);
    let mut e = sigma * normal(rng);
    for _ in 0..days {
        log_noise.push(e);
        e = phi * e + innovation * normal(rng);
    }

    // The weekday level (before calendar pattern and noise): what "% of base" means on a day.
    let level: Vec<f64> = (0..days)
        .map(|t| {
            let age = t.saturating_sub(active_from) as f64 / 365.0;
            base * (1.0 + trend).powf(age) * migration_at(t)
        })
        .collect();
    // The variable part of each clean day: level × calendar × noise (mean-corrected, so the
    // noise does not move the mean), zero on off-days.
    let variable: Vec<f64> = (0..days)
        .map(|t| {
            if !on[t] {
                return 0.0;
            }
            let date = dates[t];
            let mut pattern = 1.0;
            if let Some(dip) = weekend_dip
                && matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
            {
                pattern *= 1.0 - dip;
            }
            if let Some(factor) = holiday_factor
                && holidays.contains(&date)
            {
                pattern *= factor;
            }
            if let Some((last_days, factor)) = month_end
                && date.day() + last_days as u32 > last_day_of_month(date)
            {
                pattern *= factor;
            }
            level[t] * pattern * (log_noise[t] - sigma * sigma / 2.0).exp()
        })
        .collect();
    let fixed: Vec<f64> = (0..days)
        .map(|t| match day_one_fee {
            Some(fee) if t >= active_from && dates[t].day() == 1 => fee,
            _ => 0.0,
        })
        .collect();

    let injected = place_anomalies(rng, base, sparse, active_from, &on, &level, migration);
    let render = |skip: Option<usize>| -> Vec<f64> {
        (0..days)
            .map(|t| {
                let (mut multiplier, mut added) = (1.0, 0.0);
                for (k, anomaly) in injected.iter().enumerate() {
                    if Some(k) != skip {
                        let (m, a) = anomaly.effect(t);
                        multiplier *= m;
                        added += a;
                    }
                }
                variable[t] * multiplier + fixed[t] + added
            })
            .collect()
    };
    let values = render(None);
    let labels = injected
        .iter()
        .enumerate()
        .map(|(k, anomaly)| {
            let without = render(Some(k));
            let (from, to) = anomaly.window;
            let excess: f64 = (from..=to).map(|t| values[t] - without[t]).sum();
            (from, to, anomaly.kind, excess)
        })
        .collect();

    // Context tags: where a false alert would come from if a detector mistook normal behaviour.
    let mut contexts = vec![Contexts::default(); days];
    let mut tag = |from: usize, to: usize, context: Context| {
        for slot in contexts.iter_mut().take((to + 1).min(days)).skip(from) {
            slot.insert(context);
        }
    };
    tag(0, active_from + FIRST_DAYS - 1, Context::FirstDays);
    if sparse {
        tag(0, days, Context::Sparse);
    }
    for (t, date) in dates.iter().enumerate() {
        if weekend_dip.is_some() && matches!(date.weekday(), Weekday::Sat | Weekday::Sun | Weekday::Mon) {
            tag(t, t, Context::Weekend);
        }
        if holiday_factor.is_some() && holidays.contains(date) {
            tag(t, t + 1, Context::Holiday);
        }
        if let Some((last_days, _)) = month_end
            && date.day() + last_days as u32 > last_day_of_month(*date)
        {
            tag(t, t + 1, Context::MonthEnd);
        }
        if day_one_fee.is_some() && date.day() == 1 {
            tag(t, t + 1, Context::DayOneFee);
        }
    }
    if let Some(m) = migration {
        tag(m.start, m.start + m.days + 13, Context::Migration);
    }
    for anomaly in &injected {
        match anomaly.kind {
            Kind::ShiftUp | Kind::ShiftDown => tag(anomaly.window.1 + 1, anomaly.window.1 + 28, Context::AfterAnomaly),
            _ => tag(anomaly.effect_end() + 1, anomaly.effect_end() + 14, Context::AfterAnomaly),
        }
        if anomaly.kind == Kind::Leak && anomaly.window.0 > anomaly.start {
            tag(anomaly.start, anomaly.window.0 - 1, Context::AnomalyOnset);
        }
    }

    let profile = Profile {
        base,
        trend,
        sigma,
        phi,
        weekend_dip,
        holiday_factor,
        day_one_fee,
        month_end,
        sparse,
        active_from,
        migration,
    };
    Drawn { values, labels, profile, contexts }
}

/// Draws the anomalies of one series and places them where they fit: after the quiet start,
/// inside the set (window and two days after it), apart from each other and from the migration.
/// An anomaly that finds no room after a few tries is dropped: a short series has fewer.
fn place_anomalies(
    rng: &mut ChaCha8Rng,
    base: f64,
    sparse: bool,
    active_from: usize,
    on: &[bool],
    level: &[f64],
    migration: Option<Migration>,
) -> Vec<Injected> {
    let days = on.len();
    let earliest = active_from + QUIET_START_DAYS;
    let mut kinds = Vec::new();
    // 60% of series that have room for one get 1–3 anomalies ("room": the quiet start plus a
    // month), so late starters do not dilute the share.
    let has_room = earliest + 30 < days;
    if has_room && rng.random_bool(0.60) {
        for _ in 0..rng.random_range(1..=3) {
            // A sparse series' drops, shifts and leaks would mostly land on zero days and be
            // worth nothing; what goes wrong with an on/off service is a job that spikes or one
            // left running.
            let kind = if sparse {
                [Kind::Spike, Kind::Runaway][rng.random_range(0..2)]
            } else {
                match rng.random_range(0..5) {
                    0 => Kind::Spike,
                    1 => Kind::Runaway,
                    2 if rng.random_bool(0.5) => Kind::ShiftUp,
                    2 => Kind::ShiftDown,
                    3 => Kind::Drop,
                    _ => Kind::Leak,
                }
            };
            kinds.push(kind);
        }
    }
    // Half the large series also get a subtle change: a few percent of a large bill is money
    // worth an alert, and the hardest thing to tell from noise.
    if has_room && base > LARGE_BASE && !sparse && rng.random_bool(0.5) {
        kinds.push(Kind::Subtle);
    }

    let mut occupied: Vec<(usize, usize)> =
        migration.map(|m| vec![(m.start.saturating_sub(7), m.start + m.days + 10)]).unwrap_or_default();
    let mut out: Vec<Injected> = Vec::new();
    for kind in kinds {
        let (days_long, size) = match kind {
            Kind::Spike => (1, uniform(rng, 0.5, 9.0)),
            Kind::Runaway => (rng.random_range(3..=14), uniform(rng, 0.5, 3.0)),
            // "+/−40..200%": up ×1.4..×3, down the mirror image ÷1.4..÷3 (a level cannot fall
            // by more than 100%, and in log terms this is the same size of change).
            Kind::ShiftUp => (3, uniform(rng, 1.4, 3.0)),
            Kind::ShiftDown => (3, 1.0 / uniform(rng, 1.4, 3.0)),
            Kind::Drop => (rng.random_range(2..=7), uniform(rng, 0.6, 1.0)),
            Kind::Leak => (rng.random_range(10..=20), uniform(rng, 0.04, 0.06)),
            Kind::Subtle => (rng.random_range(3..=10), uniform(rng, 0.06, 0.40)),
        };
        for _ in 0..40 {
            // Room for the effect plus the two days after it the scoring looks at.
            if earliest + days_long + 2 >= days {
                break;
            }
            let start = rng.random_range(earliest..days - days_long - 2);
            if sparse && kind == Kind::Spike && !on[start] {
                continue;
            }
            let window = match kind {
                Kind::ShiftUp | Kind::ShiftDown => (start, start + 2),
                // Day j of a leak (from 1) is (1+r)^j − 1 over the clean series.
                Kind::Leak => {
                    let first =
                        (1..=days_long).find(|j| (1.0 + size).powi(*j as i32) - 1.0 > 0.30).expect("r ≥ 4%, j ≥ 10");
                    (start + first - 1, start + days_long - 1)
                }
                _ => (start, start + days_long - 1),
            };
            let size = if kind == Kind::Runaway { size * level[start] } else { size };
            let candidate = Injected { kind, start, days: days_long, size, window };
            let (from, to) = candidate.occupied();
            if occupied.iter().all(|(a, b)| to < *a || from > *b) {
                occupied.push((from, to));
                out.push(candidate);
                break;
            }
        }
    }
    out.sort_by_key(|a| a.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed() {
        let a = independent_series(40, 300, 7);
        let b = independent_series(40, 300, 7);
        assert_eq!(a, b);
        let c = independent_series(40, 300, 8);
        assert_ne!(a.series, c.series);
        // A series does not depend on how many others were drawn.
        let fewer = independent_series(10, 300, 7);
        assert_eq!(fewer.series["series-0009"], a.series["series-0009"]);
    }

    #[test]
    fn labels_lie_inside_their_series_after_the_quiet_start() {
        let set = independent_series(240, 420, 2026);
        assert!(!set.labels.is_empty());
        for label in &set.labels {
            let days = &set.series[&label.series_id];
            let profile = &set.profiles[&label.series_id];
            assert!(label.start <= label.end);
            assert!(label.start >= days[0].0 && label.end <= days[days.len() - 1].0, "{label:?}");
            let first_active = days[profile.active_from].0;
            assert!(days[profile.active_from].1 > 0.0, "first active day is non-zero");
            assert!(days[..profile.active_from].iter().all(|d| d.1 == 0.0));
            assert!(label.start >= first_active + Days::new(QUIET_START_DAYS as u64), "{label:?}");
        }
        // Windows of one series do not overlap.
        for id in set.series.keys() {
            let mut windows: Vec<_> =
                set.labels.iter().filter(|l| &l.series_id == id).map(|l| (l.start, l.end)).collect();
            windows.sort();
            assert!(windows.windows(2).all(|w| w[0].1 < w[1].0), "{id}: {windows:?}");
        }
    }

    #[test]
    fn excess_has_the_anomaly_sign() {
        let set = independent_series(240, 420, 2026);
        for label in &set.labels {
            let sparse = set.profiles[&label.series_id].sparse;
            if label.kind.is_up() {
                assert!(label.excess > 0.0, "{label:?}");
            } else if !sparse {
                assert!(label.excess < 0.0, "{label:?}");
            }
        }
        // A spike's excess is its size (+50%..+900%) times the clean day (off day 1, which may
        // carry a fixed fee the spike does not multiply).
        for label in set.labels.iter().filter(|l| l.kind == Kind::Spike && l.start.day() != 1) {
            let day = set.series[&label.series_id].iter().find(|d| d.0 == label.start).expect("in series").1;
            let clean = day - label.excess;
            assert!(label.excess <= 9.0 * clean + 1e-6 && label.excess >= 0.5 * clean - 1e-6, "{label:?}");
        }
    }

    #[test]
    fn proportions_roughly_hold() {
        let set = independent_series(240, 420, 2026);
        let n = set.profiles.len() as f64;
        let share = |f: &dyn Fn(&Profile) -> bool| set.profiles.values().filter(|p| f(p)).count() as f64 / n;
        let sparse = share(&|p| p.sparse);
        assert!((0.03..0.14).contains(&sparse), "sparse {sparse}");
        let late = share(&|p| p.active_from > 0);
        assert!((0.05..0.16).contains(&late), "late {late}");
        let dense: Vec<&Profile> = set.profiles.values().filter(|p| !p.sparse).collect();
        let dense_share =
            |f: &dyn Fn(&Profile) -> bool| dense.iter().filter(|p| f(p)).count() as f64 / dense.len() as f64;
        let weekend = dense_share(&|p| p.weekend_dip.is_some());
        assert!((0.60..0.80).contains(&weekend), "weekend {weekend}");
        let fee = dense_share(&|p| p.day_one_fee.is_some());
        assert!((0.20..0.40).contains(&fee), "fee {fee}");
        let month_end = dense_share(&|p| p.month_end.is_some());
        assert!((0.16..0.34).contains(&month_end), "month end {month_end}");
        // Anomalies in ~60% of the series with room for one (not late starters).
        let with_room: Vec<&String> =
            set.profiles.iter().filter(|(_, p)| p.active_from == 0).map(|(id, _)| id).collect();
        let anomalous = with_room
            .iter()
            .filter(|id| set.labels.iter().any(|l| l.series_id == ***id && l.kind != Kind::Subtle))
            .count() as f64
            / with_room.len() as f64;
        assert!((0.50..0.70).contains(&anomalous), "anomalous {anomalous}");
        let per_series =
            set.labels.iter().filter(|l| l.kind != Kind::Subtle).count() as f64 / (anomalous * with_room.len() as f64);
        assert!((1.6..2.4).contains(&per_series), "anomalies per anomalous series {per_series}");
        // Every kind occurs; subtle changes only in large series.
        for kind in Kind::ALL {
            assert!(set.labels.iter().any(|l| l.kind == kind), "{kind:?}");
        }
        for label in set.labels.iter().filter(|l| l.kind == Kind::Subtle) {
            assert!(set.profiles[&label.series_id].base > LARGE_BASE);
        }
        // Bases span the range, σ within its bounds.
        assert!(set.profiles.values().all(|p| (5.0..50_000.0).contains(&p.base)));
        assert!(set.noise_sigma.values().all(|s| (0.02..0.25).contains(s)));
    }

    #[test]
    fn holidays_are_the_observed_federal_ones() {
        let h2024 = us_federal_holidays(2024);
        assert_eq!(h2024.len(), 11);
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("valid");
        assert!(h2024.contains(&d(2024, 11, 28))); // Thanksgiving
        assert!(h2024.contains(&d(2024, 5, 27))); // Memorial Day
        // Independence Day 2026 is a Saturday: observed Friday 3 July.
        assert!(us_federal_holidays(2026).contains(&d(2026, 7, 3)));
        let set = independent_series(20, 420, 1);
        assert!(set.holidays.iter().all(|h| !matches!(h.weekday(), Weekday::Sat | Weekday::Sun)));
        assert_eq!(set.holidays.len(), 11);
    }

    #[test]
    fn contexts_are_tagged() {
        let set = independent_series(240, 420, 2026);
        for (id, profile) in &set.profiles {
            let tags = &set.day_context[id];
            assert!(tags[profile.active_from].contains(Context::FirstDays));
            if profile.sparse {
                assert!(tags.iter().all(|t| t.contains(Context::Sparse)));
            }
            if profile.day_one_fee.is_some() {
                let days = &set.series[id];
                for (t, (date, _)) in days.iter().enumerate() {
                    if date.day() == 1 {
                        assert!(tags[t].contains(Context::DayOneFee));
                    }
                }
            }
        }
        assert!(set.day_context.values().flatten().any(|t| t.is_empty()), "plain noise days exist");
    }
}
