//! Each day's expected cost and prediction interval, learned only from the days before it.
//!
//! With four weeks of history or more: a weekly shape (augurs' MSTL, robust STL) refitted
//! every `refit_days`, on a level read each day from a robust line through the two weeks
//! before it, so a day is never judged by a model that saw it. Below that, or when the fit fails (constant or
//! all-zero series): the median of the same weekday over the last weeks, with a band from
//! the median absolute deviation of the recent days.

use augurs::Fit;
use augurs::mstl::MSTLModel;

/// Below this many days the seasonal model is not trusted: four weekly cycles.
pub const SEASONAL_MIN_DAYS: usize = 28;
pub const WEEK: usize = 7;
/// MAD to standard deviation of a normal distribution.
const MAD_TO_SIGMA: f64 = 1.4826;

/// A day's expectation: the point and the interval a normal day falls in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expectation {
    pub expected: f64,
    pub low: f64,
    pub high: f64,
}

/// How days are forecast from their history.
#[derive(Debug, Clone)]
pub struct ModelSettings {
    /// Days of history a fit learns from (the most recent).
    pub history_days: usize,
    /// Days one weekly shape is used before the next fit.
    pub refit_days: usize,
    /// Probability a normal day falls inside the interval, e.g. 0.99.
    pub level: f64,
}

/// The weekly shape from the last fit, and the day it was fitted on.
#[derive(Default)]
pub struct Forecaster {
    fitted_at: usize,
    shape: Option<WeeklyShape>,
}

impl Forecaster {
    /// The expectation of day `t` of `learned` (the values the model may learn from; only
    /// `learned[..t]` is read).
    pub fn expect(&mut self, learned: &[f64], t: usize, settings: &ModelSettings) -> Expectation {
        if t < SEASONAL_MIN_DAYS {
            return robust(&learned[..t], settings.level);
        }
        if self.shape.is_none() || t >= self.fitted_at + settings.refit_days {
            let from = t.saturating_sub(settings.history_days);
            self.fitted_at = t;
            self.shape = WeeklyShape::fit(&learned[from..t], from);
        }
        match &self.shape {
            Some(shape) => shape.expect(learned, t, settings.level),
            None => robust(&learned[..t], settings.level),
        }
    }

    /// Forgets the weekly shape, so the next day refits (after the history changed).
    pub fn reset(&mut self) {
        self.shape = None;
    }
}

/// A map of cost values and its inverse.
type Transform = fn(f64) -> f64;

/// The weekly pattern of a series (augurs' MSTL decomposition, robust STL), as an offset per
/// day of the week; each day's level is then read from the days just before it.
///
/// Costs grow and shrink in proportion (a weekend that is 40% of a weekday stays 40% as the
/// account grows), so a series that never goes negative is modelled as log(1 + cost): its
/// weekly pattern and its band scale with the level.
struct WeeklyShape {
    /// Offsets by day index modulo seven.
    offsets: [f64; WEEK],
    forward: Transform,
    back: Transform,
    /// The lowest value the transform takes: a day learned since the fit may be negative
    /// (an accepted credit) where the fit saw none.
    lowest: f64,
}

/// Days the level is read from: two weeks, enough to see a migration ramp turn, few enough
/// to follow it.
const LEVEL_DAYS: usize = 14;

/// Weeks each weekday's effect is smoothed over (odd, as STL needs): a few odd weeks do not
/// flatten the shape.
const WEEKLY_SMOOTHING: usize = 15;

impl WeeklyShape {
    /// The shape of `history`, whose first day is day `first` of the series.
    fn fit(history: &[f64], first: usize) -> Option<WeeklyShape> {
        let proportional = history.iter().all(|v| *v >= 0.0);
        let (forward, back): (Transform, Transform) =
            if proportional { (f64::ln_1p, f64::exp_m1) } else { (std::convert::identity, std::convert::identity) };
        let transformed: Vec<f64> = history.iter().map(|v| forward(*v)).collect();
        let mut stl = augurs::mstl::stlrs::StlParams::new();
        // Robust: a spike or an outage among the weeks does not bend the shape. Two passes of
        // robustness weights judge as well as STL's default fifteen on both labelled sets, at
        // a third of the time.
        stl.robust(true).outer_loops(2);
        let mut params = augurs::mstl::stlrs::MstlParams::new();
        params.stl_params(stl).seasonal_lengths(&[WEEKLY_SMOOTHING]);
        let fitted = MSTLModel::naive(vec![WEEK])
            .mstl_params(params)
            .fit(&transformed)
            .map_err(|e| tracing::debug!(error = %e, "seasonal fit failed"))
            .ok()?;
        let seasonal = fitted.fit().seasonal().first()?;
        let mut offsets = [0.0; WEEK];
        for (i, offset) in seasonal.iter().enumerate().skip(seasonal.len().saturating_sub(WEEK)) {
            offsets[(first + i) % WEEK] = f64::from(*offset);
        }
        let lowest = if proportional { 0.0 } else { f64::NEG_INFINITY };
        offsets.iter().all(|o| o.is_finite()).then_some(WeeklyShape { offsets, forward, back, lowest })
    }

    /// Day `t`'s expectation: its weekday's offset on the level of the last two weeks, drawn
    /// as a line robust to the anomalies among them (Theil–Sen: the median of the pairwise
    /// slopes, and the median intercept), with a band from the days' spread around it.
    fn expect(&self, learned: &[f64], t: usize, level: f64) -> Expectation {
        let from = t.saturating_sub(LEVEL_DAYS);
        let adjusted: Vec<f64> =
            (from..t).map(|i| (self.forward)(learned[i].max(self.lowest)) - self.offsets[i % WEEK]).collect();
        let mut slopes = Vec::with_capacity(adjusted.len() * adjusted.len() / 2);
        for (i, a) in adjusted.iter().enumerate() {
            for (j, b) in adjusted.iter().enumerate().skip(i + 1) {
                slopes.push((b - a) / (j - i) as f64);
            }
        }
        let n = adjusted.len() as f64;
        let slope = median(&slopes);
        let at_slope = |slope: f64| {
            let intercept = median(&adjusted.iter().enumerate().map(|(i, v)| v - slope * i as f64).collect::<Vec<_>>());
            let deviations: Vec<f64> =
                adjusted.iter().enumerate().map(|(i, v)| (v - intercept - slope * i as f64).abs()).collect();
            (intercept, MAD_TO_SIGMA * median(&deviations))
        };
        let (_, sigma) = at_slope(slope);
        // Two weeks of noisy days tilt a line by chance, and a tilt projected a week ahead is a
        // false alert: the slope counts in full only when it is well beyond its own standard
        // error (real ramps are), and shrinks to flat as it nears it.
        let standard_error = sigma * (12.0 / (n * n * n - n)).sqrt();
        let slope = slope * (1.0 - (2.0 * standard_error / slope.abs()).powi(2)).max(0.0);
        let (intercept, sigma) = at_slope(slope);
        // The line's own error grows with the distance from the days it was drawn through.
        let ahead = n - (n - 1.0) / 2.0;
        let spread = (1.0 + 1.0 / n + 12.0 * ahead * ahead / (n * (n * n - 1.0))).sqrt();
        let point = intercept + slope * n + self.offsets[t % WEEK];
        let width = normal_quantile(level) * sigma * spread;
        let floor = noise_floor(&learned[..t]);
        let expected = (self.back)(point).max(0.0);
        Expectation {
            expected,
            low: (self.back)(point - width).min(expected - floor),
            high: (self.back)(point + width).max(expected + floor),
        }
    }
}

/// The median of the same weekday in the recent weeks (of all recent days below two weeks),
/// with a band of the level's normal quantile times the recent days' spread.
fn robust(history: &[f64], level: f64) -> Expectation {
    let t = history.len();
    let recent = &history[t.saturating_sub(4 * WEEK)..];
    let same_weekday: Vec<f64> = (1..=4).filter_map(|weeks| t.checked_sub(weeks * WEEK)).map(|i| history[i]).collect();
    let center = median(recent);
    let expected = match same_weekday[..] {
        // Of two weeks the lower: one-off charges (a fee, a spike) push a day up far more
        // often than anything pulls it down.
        [a, b] => a.min(b),
        [_, _, ..] => median(&same_weekday),
        _ => center,
    };
    let spread = robust_sigma(recent, center).max(noise_floor(recent));
    let width = normal_quantile(level) * spread;
    Expectation { expected, low: expected - width, high: expected + width }
}

/// How far a series' own days have strayed from what the model expected: the recent
/// residuals in log(1 + cost), from which each day's band and each day's surprise are drawn.
/// A model's parametric interval assumes its fit's errors; these are the series' real ones
/// (its noise, its autocorrelation, the model's misses), so a 99% band holds 99% of normal
/// days whatever the series' noise. Median and MAD keep the anomalies among them from
/// widening the band.
#[derive(Debug, Default)]
pub struct Calibration {
    residuals: Vec<f64>,
}

/// What the recent residuals say about the series' noise, in log(1 + cost).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// The typical residual: how far the model runs above or below the days.
    center: f64,
    /// The robust standard deviation of a day's residual.
    sigma: f64,
    /// Half the width of the band at the level.
    width: f64,
    /// How much a day's residual carries into the next (lag-1 autocorrelation, 0 to 0.8): a
    /// run of high days is less surprising in a series whose noise comes in runs.
    carry: f64,
}

impl Calibration {
    /// Residuals a band needs before it replaces the model's: three weeks.
    const MIN_RESIDUALS: usize = 21;

    /// Records a judged day: its cost and what the model expected.
    pub fn observe(&mut self, actual: f64, expected: f64) {
        if actual >= 0.0 && expected >= 0.0 {
            self.residuals.push(actual.ln_1p() - expected.ln_1p());
        }
    }

    /// The spread of the recent residuals at `level`, once there are enough; otherwise the
    /// one `model`'s own band implies.
    pub fn spread(&self, model: Expectation, level: f64) -> Spread {
        let quantile = normal_quantile(level);
        if self.residuals.len() < Self::MIN_RESIDUALS || model.expected < 0.0 {
            let width = (model.high.max(0.0).ln_1p() - model.expected.max(0.0).ln_1p()).max(SIGMA_FLOOR * quantile);
            return Spread { center: 0.0, sigma: width / quantile, width, carry: 0.0 };
        }
        let recent = &self.residuals[self.residuals.len().saturating_sub(CALIBRATION_DAYS)..];
        let center = median(recent);
        let mut deviations: Vec<f64> = recent.iter().map(|r| (r - center).abs()).collect();
        deviations.sort_by(f64::total_cmp);
        let sigma = (MAD_TO_SIGMA * median(&deviations)).max(SIGMA_FLOOR);
        // Forecast errors have heavier tails than a normal law (autocorrelated noise, the
        // weekly shape's misses): the width is the larger of the normal quantile of the robust
        // spread and the residuals' own tail, read at the 90th percentile and carried out to
        // the level as a normal tail would be. The 99th percentile of 91 residuals is their
        // second largest: one past anomaly among them would set the band for three months.
        let tail = deviations[((deviations.len() - 1) as f64 * TAIL_READ).round() as usize];
        let width = (quantile * sigma).max(tail * quantile / normal_quantile(TAIL_READ));
        // Residuals clipped at three sigmas, so one anomaly does not pass for correlation.
        let clipped = |r: f64| ((r - center) / sigma).clamp(-3.0, 3.0);
        let (lagged, square) = recent.windows(2).fold((0.0, 0.0), |(lagged, square), pair| {
            let (a, b) = (clipped(pair[0]), clipped(pair[1]));
            (lagged + a * b, square + a * a)
        });
        let carry = if square > 0.0 { (lagged / square).clamp(0.0, 0.8) } else { 0.0 };
        Spread { center, sigma, width, carry }
    }
}

/// The share of residuals under the deviation a band's tail is read at.
const TAIL_READ: f64 = 0.9;

/// The recent days a band is drawn from: thirteen weeks, enough for the tail.
pub const CALIBRATION_DAYS: usize = 91;

/// The smallest standard deviation a day's log cost is given: billing noise of a flat series
/// is not zero, and a constant history would otherwise call any cent of change surprising.
pub const SIGMA_FLOOR: f64 = 0.01;

impl Spread {
    /// `model`'s expectation with its band drawn from this spread. Never narrower than the
    /// noise floor `floor`, nor than 5% of the day's own expectation, either side, nor than the
    /// model's own band: it knows how far its level line may be off today, which the
    /// residuals of past days do not.
    pub fn band(&self, model: Expectation, floor: f64) -> Expectation {
        if model.expected < 0.0 {
            return model;
        }
        let floor = floor.max(0.05 * model.expected);
        let log_expected = model.expected.ln_1p();
        Expectation {
            expected: model.expected,
            low: (log_expected + self.center - self.width).exp_m1().min(model.expected - floor).min(model.low),
            high: (log_expected + self.center + self.width).exp_m1().max(model.expected + floor).max(model.high),
        }
    }

    /// How many of the series' standard deviations `actual` is from `expected` (signed, in
    /// log(1 + cost)); 0 where either is negative (credits are not modelled in logs).
    pub fn surprise(&self, actual: f64, expected: f64) -> f64 {
        if actual < 0.0 || expected < 0.0 {
            return 0.0;
        }
        (actual.ln_1p() - expected.ln_1p() - self.center) / self.sigma
    }

    /// A day's `surprise` as if the series' days were independent: the spread of a run of
    /// autocorrelated days grows by (1 + carry) / (1 − carry) over independent ones.
    pub fn independent(&self, surprise: f64) -> f64 {
        surprise / ((1.0 + self.carry) / (1.0 - self.carry)).sqrt()
    }

    /// How many standard deviations of a sum of `days` residuals `sum` is.
    pub fn run_surprise(&self, sum: f64, days: usize) -> f64 {
        self.independent(sum) / (days as f64).sqrt()
    }
}

/// A band no narrower than 5% of the recent level: billing noise of a flat series is not
/// zero, and a constant history would otherwise call any cent of change an anomaly.
pub fn noise_floor(history: &[f64]) -> f64 {
    0.05 * median(&history[history.len().saturating_sub(2 * WEEK)..]).abs()
}

/// The standard deviation of `values` around `center` from their median absolute deviation:
/// a few outliers among them do not widen it.
pub fn robust_sigma(values: &[f64], center: f64) -> f64 {
    MAD_TO_SIGMA * median(&values.iter().map(|v| (v - center).abs()).collect::<Vec<_>>())
}

pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] }
}

/// The two-sided normal quantile of `level` (Acklam's rational approximation of the inverse
/// normal, accurate to about 1e-9, far finer than any threshold here).
pub fn normal_quantile(level: f64) -> f64 {
    let p = 1.0 - (1.0 - level.clamp(0.5, 0.999_999)) / 2.0;
    const A: [f64; 6] = [
        -39.696_830_286_653_76,
        220.946_098_424_520_5,
        -275.928_510_446_968_7,
        138.357_751_867_269,
        -30.664_798_066_147_16,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -54.476_098_798_224_06,
        161.585_836_858_040_9,
        -155.698_979_859_886_6,
        66.801_311_887_719_72,
        -13.280_681_552_885_72,
    ];
    const C: [f64; 6] = [
        -0.007_784_894_002_430_293,
        -0.322_396_458_041_136_4,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [0.007_784_695_709_041_462, 0.322_467_129_070_039_8, 2.445_134_137_142_996, 3.754_408_661_907_416];
    if p > 0.975_25 {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_quantile_matches_tables() {
        assert!((normal_quantile(0.95) - 1.959_964).abs() < 1e-5);
        assert!((normal_quantile(0.99) - 2.575_829).abs() < 1e-5);
        assert!((normal_quantile(0.8) - 1.281_552).abs() < 1e-5);
    }

    #[test]
    fn a_short_history_expects_the_same_weekday() {
        // Two weeks of weekdays at 100 and weekends at 20; day 14 is a Monday-like day 0.
        let history: Vec<f64> = (0..14).map(|d| if d % 7 >= 5 { 20.0 } else { 100.0 }).collect();
        let monday = robust(&history, 0.99);
        assert_eq!(monday.expected, 100.0);
        let mut longer = history.clone();
        longer.extend([100.0; 5]);
        assert_eq!(robust(&longer, 0.99).expected, 20.0, "day 19 falls on a weekend");
    }
}
