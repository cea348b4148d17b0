//! Actual and amortised exports read as one source. Azure writes the two datasets of a scope
//! and month as separate exports with the same columns: the actual one holds the invoice
//! (purchases at full price, covered usage at zero), the amortised one the effective cost
//! (purchases spread into the usage they cover, unused commitment as its own rows). Summing
//! them would double the month; each metric is taken from the half that defines it.

use std::collections::BTreeMap;

use crate::focus::{BillingPeriod, CostTotals, FactAmounts, FactKey};
use crate::store::ReconciliationKey;

use super::manifest::DatasetRole;

/// One metric set per half: `[actual, amortised]`.
type Halves<T> = [T; 2];

fn half(role: DatasetRole) -> usize {
    match role {
        DatasetRole::Actual => 0,
        DatasetRole::Amortised => 1,
    }
}

/// The facts and export totals of paired exports, kept apart until every file is read.
#[derive(Default)]
pub struct PairedDatasets {
    facts: BTreeMap<FactKey, Halves<FactAmounts>>,
    totals: BTreeMap<ReconciliationKey, Halves<CostTotals>>,
    /// Which halves each (source, billing period) has.
    seen: BTreeMap<(String, BillingPeriod), Halves<bool>>,
}

impl PairedDatasets {
    pub fn add_fact(&mut self, role: DatasetRole, key: FactKey, amounts: &FactAmounts) {
        self.facts.entry(key).or_default()[half(role)].add(amounts);
    }

    pub fn add_total(&mut self, role: DatasetRole, key: ReconciliationKey, totals: &CostTotals) {
        self.seen.entry((key.0.clone(), key.1)).or_default()[half(role)] = true;
        self.totals.entry(key).or_default()[half(role)].add(totals);
    }

    /// Adds the pairs to the whole facts and totals: where both halves of a source and month
    /// were read, BilledCost and ListCost come from the actual half and EffectiveCost from the
    /// amortised one; a lone half stands for both, with a warning where that misleads.
    pub fn merge_into(
        self,
        facts: &mut super::FactSums,
        totals: &mut BTreeMap<ReconciliationKey, CostTotals>,
        warnings: &mut Vec<String>,
    ) {
        let both = |source: &str, period: BillingPeriod| {
            self.seen.get(&(source.to_string(), period)).is_some_and(|[actual, amortised]| *actual && *amortised)
        };
        for ((source, period), [actual, amortised]) in &self.seen {
            let purchases = || {
                self.facts.iter().any(|(key, _)| {
                    key.source == *source && key.billing_period == *period && key.charge_category == "Purchase"
                })
            };
            if *amortised && !*actual {
                warnings.push(format!(
                    "{source} {period}: only the amortised export was read, so BilledCost is amortised cost, not \
                     the invoice; ingest the actual export of the same scope and month together with it"
                ));
            } else if *actual && !*amortised && purchases() {
                warnings.push(format!(
                    "{source} {period}: only the actual export was read, so purchases are not spread over the \
                     usage they cover (EffectiveCost = BilledCost); ingest the amortised export together with it"
                ));
            }
        }
        for (key, [actual, amortised]) in &self.facts {
            let merged = if both(&key.source, key.billing_period) {
                let lead = if actual.line_items > 0 { actual } else { amortised };
                FactAmounts {
                    costs: CostTotals {
                        billed_cost: actual.costs.billed_cost,
                        effective_cost: amortised.costs.effective_cost,
                        list_cost: actual.costs.list_cost,
                    },
                    consumed_quantity: lead.consumed_quantity,
                    line_items: lead.line_items,
                }
            } else {
                let mut lone = *actual;
                lone.add(amortised);
                lone
            };
            facts.entry(key.clone()).or_default().add(&merged);
        }
        for (key, [actual, amortised]) in self.totals {
            let merged = if both(&key.0, key.1) {
                CostTotals {
                    billed_cost: actual.billed_cost,
                    effective_cost: amortised.effective_cost,
                    list_cost: actual.list_cost,
                }
            } else {
                let mut lone = actual;
                lone.add(&amortised);
                lone
            };
            totals.entry(key).or_default().add(&merged);
        }
    }
}
