//! Shared-cost splits compiled for use, and the exact division of money into shares.

use std::cmp::Reverse;

use super::config::{SplitConfig, SplitMethod};
use super::rules::CompiledConditions;
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
    /// `dimensions` names the configured dimensions in order.
    pub fn new(split: &SplitConfig, dimensions: &[&str]) -> Result<Self, String> {
        let dimension = dimensions.iter().position(|d| *d == split.dimension).ok_or_else(|| {
            format!("dimension `{}` is not configured (dimensions: {})", split.dimension, dimensions.join(", "))
        })?;
        let basis = CompiledConditions::new(&split.basis)?;
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
            conditions: CompiledConditions::new(&split.conditions)?,
            method: split.method,
            targets,
            basis: (!basis.is_empty()).then_some(basis),
        })
    }
}

/// Divides `amount` in proportion to `weights` (at least one positive, none negative) so that
/// the shares sum to `amount` exactly: each share is rounded down to the nano-unit and the
/// nano-units left over go one each to the largest remainders (the earlier target on a tie).
/// A negative amount (a credit) is divided like its absolute value.
pub fn divide(amount: Money, weights: &[i128]) -> Vec<Money> {
    let magnitude = amount.nanos().unsigned_abs();
    let mut weights: Vec<u128> = weights.iter().map(|w| (*w).max(0) as u128).collect();
    // Scale huge weights down until magnitude × total fits; it only drops precision far below
    // a nano-unit of the largest shares.
    while weights.iter().sum::<u128>().checked_mul(magnitude).is_none() {
        weights.iter_mut().for_each(|w| *w >>= 1);
    }
    let mut total: u128 = weights.iter().sum();
    if total == 0 {
        weights.iter_mut().for_each(|w| *w = 1);
        total = weights.len() as u128;
    }
    let mut shares: Vec<u128> = weights.iter().map(|w| magnitude * w / total).collect();
    let left_over = magnitude - shares.iter().sum::<u128>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by_key(|&i| (Reverse(magnitude * weights[i] % total), i));
    for &i in order.iter().take(left_over as usize) {
        shares[i] += 1;
    }
    let sign = if amount.nanos() < 0 { -1 } else { 1 };
    shares.into_iter().map(|share| Money::from_nanos(sign * share as i128)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn nanos(shares: Vec<Money>) -> Vec<i128> {
        shares.into_iter().map(Money::nanos).collect()
    }

    #[test]
    fn a_division_is_exact_and_gives_left_overs_to_the_largest_remainders() {
        assert_eq!(nanos(divide(Money::from_nanos(10), &[1, 1, 1])), vec![4, 3, 3]);
        assert_eq!(nanos(divide(Money::from_nanos(-10), &[1, 1, 1])), vec![-4, -3, -3]);
        assert_eq!(nanos(divide(Money::from_nanos(100), &[1, 2, 0])), vec![33, 67, 0]);
        assert_eq!(nanos(divide(Money::from_nanos(7), &[0, 0])), vec![4, 3]);
        assert_eq!(nanos(divide(Money::from_nanos(i64::MAX as i128), &[i128::MAX / 4, i128::MAX / 4])).len(), 2);
    }

    proptest! {
        #[test]
        fn shares_always_sum_to_the_amount(
            amount in -10i128.pow(20)..10i128.pow(20),
            weights in prop::collection::vec(0i128..10i128.pow(18), 1..20),
        ) {
            let shares = divide(Money::from_nanos(amount), &weights);
            prop_assert_eq!(shares.iter().map(|s| s.nanos()).sum::<i128>(), amount);
            prop_assert!(shares.iter().all(|s| s.nanos() == 0 || s.nanos().signum() == amount.signum()));
        }
    }
}
