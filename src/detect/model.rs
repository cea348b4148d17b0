//! Each day's expected cost and prediction interval, learned only from the days before it.
//!
//! With four weeks of history or more: MSTL with weekly seasonality and an ETS trend
//! (augurs), refitted every `refit_days` and forecast ahead until the next refit, so a day is
//! never judged by a model that saw it. Below that, or when the fit fails (constant or
//! all-zero series): the median of the same weekday over the last weeks, with a band from
//! the median absolute deviation of the recent days.

use augurs::mstl::MSTLModel;
use augurs::{Fit, Predict};

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
    /// Days forecast ahead from one fit before the next.
    pub refit_days: usize,
    /// Probability a normal day falls inside the interval, e.g. 0.99.
    pub level: f64,
}

/// Forecasts held from the last fit: the first day they cover and one expectation per day.
#[derive(Default)]
pub struct Forecaster {
    from: usize,
    ahead: Vec<Expectation>,
}

impl Forecaster {
    /// The expectation of day `t` of `learned` (the values the model may learn from; only
    /// `learned[..t]` is read).
    pub fn expect(&mut self, learned: &[f64], t: usize, settings: &ModelSettings) -> Expectation {
        if t < SEASONAL_MIN_DAYS {
            return robust(&learned[..t], settings.level);
        }
        if !(self.from..self.from + self.ahead.len()).contains(&t) {
            let history = &learned[t.saturating_sub(settings.history_days)..t];
            self.from = t;
            self.ahead = seasonal(history, settings.refit_days, settings.level).unwrap_or_default();
            if self.ahead.is_empty() {
                return robust(&learned[..t], settings.level);
            }
        }
        self.ahead[t - self.from]
    }

    /// Forgets the held forecasts, so the next day refits (after the history changed).
    pub fn reset(&mut self) {
        self.ahead.clear();
    }
}

/// The trend of the seasonally adjusted costs: one ETS model with additive error and trend,
/// not damped, its optimiser stopped at `max_iterations`. AutoETS searches six models with up
/// to 2,000 optimiser steps each; on the labeled set one model is as good (cost trends are
/// slow and the weekly refit catches turns), and the optimiser was most of the detector's
/// time.
#[derive(Debug, Clone, Copy)]
struct CostTrend {
    max_iterations: usize,
}

/// A fitted [`CostTrend`].
#[derive(Debug)]
struct FittedCostTrend(augurs::ets::model::Model);

type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl augurs::mstl::TrendModel for CostTrend {
    fn name(&self) -> std::borrow::Cow<'_, str> {
        "ETS(A,A,N)".into()
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn augurs::mstl::FittedTrendModel + Sync + Send>, BoxedError> {
        use augurs::ets::model::{ErrorComponent, ModelType, SeasonalComponent, TrendComponent, Unfit};
        let kind = ModelType {
            error: ErrorComponent::Additive,
            trend: TrendComponent::Additive,
            season: SeasonalComponent::None,
        };
        let model = Unfit::new(kind).damped(false).max_iterations(self.max_iterations).fit(y)?;
        Ok(Box::new(FittedCostTrend(model)))
    }
}

impl augurs::mstl::FittedTrendModel for FittedCostTrend {
    fn predict_inplace(
        &self,
        horizon: usize,
        level: Option<f64>,
        forecast: &mut augurs::Forecast,
    ) -> Result<(), BoxedError> {
        Ok(self.0.predict_inplace(horizon, level, forecast)?)
    }

    fn predict_in_sample_inplace(&self, level: Option<f64>, forecast: &mut augurs::Forecast) -> Result<(), BoxedError> {
        Ok(self.0.predict_in_sample_inplace(level, forecast)?)
    }

    fn training_data_size(&self) -> Option<usize> {
        Some(self.0.training_data_size())
    }
}

/// Optimiser steps per fit: the fit starts from ETS's usual initial values and 30 steps
/// refine them as far as detection can tell (on the labeled set, 30 steps alert as well as
/// 2,000, and the whole scan takes a third of the time).
const TREND_ITERATIONS: usize = 30;

fn trend_model() -> CostTrend {
    CostTrend { max_iterations: TREND_ITERATIONS }
}

/// A map of cost values and its inverse.
type Transform = fn(f64) -> f64;

/// Costs grow and shrink in proportion (a weekend that is 40% of a weekday stays 40% as the
/// account grows), so a series that never goes negative is modelled as log(1 + cost): its
/// weekly pattern and its intervals scale with the level.
fn seasonal(history: &[f64], horizon: usize, level: f64) -> Option<Vec<Expectation>> {
    let proportional = history.iter().all(|v| *v >= 0.0);
    let (forward, back): (Transform, Transform) =
        if proportional { (f64::ln_1p, f64::exp_m1) } else { (std::convert::identity, std::convert::identity) };
    let transformed: Vec<f64> = history.iter().map(|v| forward(*v)).collect();
    let model = MSTLModel::new(vec![WEEK], trend_model());
    let fitted = model.fit(&transformed).map_err(|e| tracing::debug!(error = %e, "seasonal fit failed")).ok()?;
    let forecast = fitted.predict(horizon, level).ok()?;
    let intervals = forecast.intervals?;
    let floor = noise_floor(history);
    let ahead: Vec<Expectation> = forecast
        .point
        .iter()
        .zip(intervals.lower.iter().zip(&intervals.upper))
        .map(|(&expected, (&low, &high))| {
            let expected = back(expected).max(0.0);
            Expectation { expected, low: back(low).min(expected - floor), high: back(high).max(expected + floor) }
        })
        .collect();
    ahead.iter().all(|e| e.expected.is_finite() && e.low.is_finite() && e.high.is_finite()).then_some(ahead)
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
    let deviations: Vec<f64> = recent.iter().map(|v| (v - center).abs()).collect();
    let spread = (MAD_TO_SIGMA * median(&deviations)).max(noise_floor(recent));
    let width = normal_quantile(level) * spread;
    Expectation { expected, low: expected - width, high: expected + width }
}

/// How far a series' own days have strayed from what the model expected: the recent
/// residuals in log(1 + cost), from which each day's band is drawn. A model's parametric
/// interval assumes its fit's errors; these are the series' real ones (its noise, its
/// autocorrelation, the model's misses), so a 99% band holds 99% of normal days whatever the
/// series' noise. Median and MAD keep the anomalies among them from widening the band.
#[derive(Debug, Default)]
pub struct Calibration {
    residuals: Vec<f64>,
}

impl Calibration {
    /// Residuals a band needs before it replaces the model's: three weeks.
    const MIN_RESIDUALS: usize = 21;
    /// The recent residuals a band is drawn from: thirteen weeks, enough for the tail.
    const WINDOW: usize = 91;

    /// Records a judged day: its cost and what the model expected.
    pub fn observe(&mut self, actual: f64, expected: f64) {
        if actual >= 0.0 && expected >= 0.0 {
            self.residuals.push(actual.ln_1p() - expected.ln_1p());
        }
    }

    /// `model`'s expectation with its band drawn from the recent residuals at `level`, once
    /// there are enough; the model's band until then. Never narrower than the noise floor
    /// `floor`, nor than 5% of the day's own expectation, either side.
    pub fn band(&self, model: Expectation, level: f64, floor: f64) -> Expectation {
        if self.residuals.len() < Self::MIN_RESIDUALS || model.expected < 0.0 {
            return model;
        }
        let floor = floor.max(0.05 * model.expected);
        let recent = &self.residuals[self.residuals.len().saturating_sub(Self::WINDOW)..];
        let center = median(recent);
        let mut deviations: Vec<f64> = recent.iter().map(|r| (r - center).abs()).collect();
        deviations.sort_by(f64::total_cmp);
        // Forecast errors have heavier tails than a normal law (autocorrelated noise, the
        // weekly shape's misses): the width is the larger of the normal quantile of the robust
        // spread and the residuals' own quantile at the level.
        let robust = normal_quantile(level) * MAD_TO_SIGMA * median(&deviations);
        let empirical = deviations[((deviations.len() - 1) as f64 * level).round() as usize];
        let width = robust.max(empirical);
        let log_expected = model.expected.ln_1p();
        // Never narrower than the model's own interval: its parametric band knows the trend's
        // uncertainty ahead of the last fit, which the residuals of past days do not.
        Expectation {
            expected: model.expected,
            low: (log_expected + center - width).exp_m1().min(model.expected - floor).min(model.low),
            high: (log_expected + center + width).exp_m1().max(model.expected + floor).max(model.high),
        }
    }
}

/// A band no narrower than 5% of the recent level: billing noise of a flat series is not
/// zero, and a constant history would otherwise call any cent of change an anomaly.
pub fn noise_floor(history: &[f64]) -> f64 {
    0.05 * median(&history[history.len().saturating_sub(2 * WEEK)..]).abs()
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
fn normal_quantile(level: f64) -> f64 {
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
