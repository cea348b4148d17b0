//! Shared-cost splits compiled for use, and the exact division of money into shares.

use std::cmp::Reverse;

use super::config::{SplitConfig, SplitMethod};
use super::rules::CompiledConditions;
use super::values::ValueCase;
use crate::focus::Money;

/// Percentages are kept as integer millionths of a percent, so `33.333333 + 33.333333 +
/// 33.333334` sums to exactly 100.
const MICRO_PERCENT: f64 = 1e6;
const HUNDRED_PERCENT: i128 = 100_000_000;

pub struct CompiledSplit {
    pub name: String,
    /// Index of the dimension whose values receive the shares.
    pub dimension: usize,
    pub conditions: CompiledConditions,
    pub method: SplitMethod,
    /// Named targets in order; for `fixed` with their weights (millionths of a percent).
    pub targets: Vec<(String, i128)>,
    /// `proportional`: the costs that weigh; `None` when every cost does.
    pub basis: Option<CompiledConditions>,
}

impl CompiledSplit {
    /// `dimensions` names the configured dimensions in order, with their `value_case`, which
    /// the split's tag conditions compare by.
    pub fn new(split: &SplitConfig, dimensions: &[(&str, ValueCase)]) -> Result<Self, String> {
        let Some(dimension) = dimensions.iter().position(|(d, _)| *d == split.dimension) else {
            let names: Vec<&str> = dimensions.iter().map(|(d, _)| *d).collect();
            return Err(format!(
                "dimension `{}` is not configured (dimensions: {})",
                split.dimension,
                names.join(", ")
            ));
        };
        let case = dimensions[dimension].1;
        let basis = CompiledConditions::new(&split.basis, case)?;
        if !basis.is_empty() && split.method != SplitMethod::Proportional {
            return Err("`basis` is for the proportional method only".into());
        }
        let targets = match split.method {
            SplitMethod::Fixed => {
                if !split.targets.is_empty() {
                    return Err("a fixed split names its targets in `percentages`, not `targets`".into());
                }
                if split.percentages.is_empty() {
                    return Err("a fixed split needs `percentages`, e.g. { payments = 60, search = 40 }".into());
                }
                let mut targets = Vec::new();
                for (target, percent) in &split.percentages {
                    if !(percent.is_finite() && *percent >= 0.0) {
                        return Err(format!("the percentage of `{target}` must be a number of at least 0"));
                    }
                    targets.push((target.clone(), (percent * MICRO_PERCENT).round() as i128));
                }
                let sum: i128 = targets.iter().map(|(_, weight)| weight).sum();
                if sum != HUNDRED_PERCENT {
                    return Err(format!("the percentages sum to {}, not 100", sum as f64 / MICRO_PERCENT));
                }
                targets
            }
            SplitMethod::Even | SplitMethod::Proportional => {
                if !split.percentages.is_empty() {
                    return Err("`percentages` are for the fixed method only".into());
                }
                let mut targets: Vec<(String, i128)> = Vec::new();
                for target in &split.targets {
                    if targets.iter().any(|(t, _)| t == target) {
                        return Err(format!("target `{target}` is listed twice"));
                    }
                    targets.push((target.clone(), 1));
                }
                targets
            }
        };
        Ok(CompiledSplit {
            name: split.name.clone(),
            dimension,
            conditions: CompiledConditions::new(&split.conditions, case)?,
            method: split.method,
            targets,
            basis: (!basis.is_empty()).then_some(basis),
        })
    }
}

/// Divides amounts in fixed proportions so that the shares sum to each amount exactly: a
/// share is rounded down to the nano-unit and the nano-units left over go one each to the
/// targets with the largest weights (the earlier target on a tie). Built once per split, day
/// and currency, it divides every cost shared that way with one multiplication per share.
/// A negative amount (a credit) is divided like its absolute value.
pub struct Division {
    /// Weights scaled so that their total fits 64 bits (dropping precision only far below a
    /// nano-unit of the largest shares).
    weights: Vec<u128>,
    total: u128,
    /// weight × 2⁶⁴ / total, rounded down: the share of an amount below 2⁶⁴ nano-units is
    /// amount × fraction >> 64, within two nano-units of the exact proportion.
    fractions: Vec<u128>,
    /// Targets with a weight, largest first: who gets the nano-units left over.
    order: Vec<usize>,
}

impl Division {
    /// `weights` has at least one entry and none negative; all zero divides evenly.
    pub fn new(weights: &[i128]) -> Self {
        let mut weights: Vec<u128> = weights.iter().map(|w| (*w).max(0) as u128).collect();
        if weights.iter().all(|w| *w == 0) {
            weights.iter_mut().for_each(|w| *w = 1);
        }
        while weights.iter().try_fold(0u128, |sum, w| sum.checked_add(*w)).is_none_or(|sum| sum >> 64 != 0) {
            weights.iter_mut().for_each(|w| *w >>= 1);
        }
        let total: u128 = weights.iter().sum();
        let fractions = weights.iter().map(|w| (w << 64) / total).collect();
        let mut order: Vec<usize> = (0..weights.len()).filter(|&i| weights[i] > 0).collect();
        order.sort_by_key(|&i| (Reverse(weights[i]), i));
        Division { weights, total, fractions, order }
    }

    /// The shares of `amount`, by target position, into `shares`.
    pub fn divide(&self, amount: Money, shares: &mut Vec<Money>) {
        let magnitude = amount.nanos().unsigned_abs();
        let sign = if amount.nanos() < 0 { -1 } else { 1 };
        let share = |part: u128| Money::from_nanos(sign * part as i128);
        shares.clear();
        let mut given: u128 = 0;
        if magnitude >> 64 == 0 {
            shares.extend(self.fractions.iter().map(|f| {
                let part = (magnitude * f) >> 64;
                given += part;
                share(part)
            }));
        } else {
            // Too large for the fixed-point fractions: exact, as quotient and remainder.
            let (quotient, remainder) = (magnitude / self.total, magnitude % self.total);
            shares.extend(self.weights.iter().map(|w| {
                let part = quotient * w + remainder * w / self.total;
                given += part;
                share(part)
            }));
        }
        // Fewer than two per weighted target are left over, so two rounds at most.
        for &i in self.order.iter().cycle().take((magnitude - given) as usize) {
            shares[i] += share(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn divide(amount: i128, weights: &[i128]) -> Vec<i128> {
        let mut shares = Vec::new();
        Division::new(weights).divide(Money::from_nanos(amount), &mut shares);
        shares.into_iter().map(Money::nanos).collect()
    }

    #[test]
    fn a_division_is_exact_and_gives_left_overs_to_the_largest_weights() {
        assert_eq!(divide(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(divide(-10, &[1, 1, 1]), vec![-4, -3, -3]);
        assert_eq!(divide(100, &[1, 2, 0]), vec![33, 67, 0]);
        assert_eq!(divide(7, &[0, 0]), vec![4, 3]);
        assert_eq!(divide(1001, &[300, 700]), vec![300, 701]);
        let huge = divide(i64::MAX as i128 * 1_000, &[i128::MAX / 4, i128::MAX / 4]);
        assert_eq!(huge, vec![i64::MAX as i128 * 500, i64::MAX as i128 * 500]);
    }

    proptest! {
        #[test]
        fn shares_sum_to_the_amount_within_two_nano_units_of_the_proportion(
            amount in -10i128.pow(19)..10i128.pow(19),
            weights in prop::collection::vec(0i128..10i128.pow(17), 1..20),
        ) {
            let shares = divide(amount, &weights);
            prop_assert_eq!(shares.iter().sum::<i128>(), amount);
            prop_assert!(shares.iter().all(|s| *s == 0 || s.signum() == amount.signum()));
            let total: i128 = weights.iter().sum();
            if total > 0 {
                for (share, weight) in shares.iter().zip(&weights) {
                    prop_assert!((share * total - amount * weight).abs() <= 2 * total, "{share} of {amount}");
                }
            }
        }
    }
}
