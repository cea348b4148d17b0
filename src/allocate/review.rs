//! Reviewing allocations without writing them: explain where costs went and why, and
//! preview how totals move under other rules.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

use super::config::Conditions;
use super::rules::CompiledConditions;
use super::values::ValueCase;
use super::{AllocationError, Allocator, Choice};
use crate::focus::{BillingPeriod, CostFact, CostTotals, Money};

/// Which costs to explain: conditions on the facts (as rules have them; tag values compare
/// folded), values the costs got (compared as their dimension's `value_case` says), and the
/// dimensions to show.
pub struct ExplainFilter {
    conditions: CompiledConditions,
    /// Dimension → value a cost must have.
    values: Vec<(String, String)>,
    /// Dimensions to show; empty shows all.
    dimensions: Vec<String>,
}

impl ExplainFilter {
    pub fn new(
        conditions: &Conditions,
        values: Vec<(String, String)>,
        dimensions: Vec<String>,
    ) -> Result<Self, AllocationError> {
        let conditions = CompiledConditions::new(conditions, ValueCase::Fold)
            .map_err(|problem| AllocationError::Dimension { dimension: "explain filter".into(), problem })?;
        Ok(ExplainFilter { conditions, values, dimensions })
    }
}

/// Costs of one kind that one dimension put in one place, one way, summed over the month.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainRow {
    pub dimension: String,
    pub value: String,
    pub method: String,
    pub provider: String,
    pub sub_account: String,
    pub service: String,
    pub charge_category: String,
    pub tags: String,
    pub currency: String,
    pub costs: CostTotals,
    pub days: usize,
}

impl Allocator {
    /// Allocates the facts of a month (one entry per source) and lists, per dimension, which
    /// rule or split put each matching cost where it is; largest first.
    pub fn explain(&self, sources: &[Vec<CostFact>], filter: &ExplainFilter) -> Vec<ExplainRow> {
        // Kept whole while summing, so the sums can be keyed by borrowed text and choices.
        let allocations: Vec<_> =
            sources.iter().filter(|facts| !facts.is_empty()).map(|facts| self.allocate_facts(facts)).collect();
        /// Provider, sub-account id and name, service, charge category, tags, currency.
        type Described<'a> = [&'a str; 7];
        let mut sums: HashMap<(usize, &Choice, Described<'_>), (CostTotals, Vec<NaiveDate>)> = HashMap::new();
        let mut normalised: HashMap<&str, BTreeMap<String, String>> = HashMap::new();
        for share in allocations.iter().flat_map(|allocation| allocation.fact_shares()) {
            let key = &share.fact.key;
            let tags = normalised.entry(key.tags.as_str()).or_insert_with(|| self.tags.normalise(&key.tags));
            if !filter.conditions.matches(key, tags) {
                continue;
            }
            let has_value = |dimension: &str, value: &str| {
                let d = self.dimensions.iter().position(|d| d.name == dimension);
                d.is_some_and(|d| self.dimensions[d].case.same(&share.choices[d].value, value))
            };
            if !filter.values.iter().all(|(d, v)| has_value(d, v)) {
                continue;
            }
            let described = [
                key.provider.as_str(),
                &key.sub_account_id,
                &key.sub_account_name,
                &key.service_name,
                &key.charge_category,
                &key.tags,
                &key.currency,
            ];
            for (d, choice) in share.choices.iter().enumerate() {
                if !filter.dimensions.is_empty() && !filter.dimensions.contains(&self.dimensions[d].name) {
                    continue;
                }
                let entry = sums.entry((d, choice, described)).or_default();
                entry.0.add(&share.costs);
                entry.1.push(key.charge_date);
            }
        }
        let mut rows: Vec<(usize, ExplainRow)> = sums
            .into_iter()
            .map(|((d, choice, described), (costs, mut days))| {
                days.sort();
                days.dedup();
                let [provider, sub_account_id, sub_account_name, service, charge_category, tags, currency] = described;
                let sub_account = if sub_account_name.is_empty() {
                    sub_account_id.to_string()
                } else {
                    format!("{sub_account_name} ({sub_account_id})")
                };
                let row = ExplainRow {
                    dimension: self.dimensions[d].name.clone(),
                    value: choice.value.clone(),
                    method: choice.method.to_string(),
                    provider: provider.into(),
                    sub_account,
                    service: service.into(),
                    charge_category: charge_category.into(),
                    tags: tags.into(),
                    currency: currency.into(),
                    costs,
                    days: days.len(),
                };
                (d, row)
            })
            .collect();
        rows.sort_by(|(da, a), (db, b)| {
            (da, &a.currency)
                .cmp(&(db, &b.currency))
                .then(b.costs.effective_cost.cmp(&a.costs.effective_cost))
                .then_with(|| {
                    (&a.value, &a.method, &a.service, &a.sub_account).cmp(&(
                        &b.value,
                        &b.method,
                        &b.service,
                        &b.sub_account,
                    ))
                })
        });
        rows.into_iter().map(|(_, row)| row).collect()
    }

    /// EffectiveCost and BilledCost per dimension, value and currency that these rules give
    /// a month's facts.
    pub fn totals(&self, sources: &[Vec<CostFact>]) -> BTreeMap<(String, String, String), CostTotals> {
        let mut totals: BTreeMap<(String, String, String), CostTotals> = BTreeMap::new();
        for facts in sources.iter().filter(|facts| !facts.is_empty()) {
            let allocation = self.allocate_period(facts);
            for share in allocation.shares() {
                for (d, choice) in share.choices.iter().enumerate() {
                    let key = (self.dimensions[d].name.clone(), choice.value.clone(), share.currency.to_string());
                    totals.entry(key).or_default().add(&share.costs);
                }
            }
        }
        totals
    }
}

/// How one value's month moves from the current rules to proposed ones.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocationChange {
    pub dimension: String,
    pub value: String,
    pub month: BillingPeriod,
    pub currency: String,
    pub current: Money,
    pub proposed: Money,
}

/// Per dimension value and currency, the EffectiveCost of `month` under both rule sets,
/// where they differ (dimensions only one set has are compared against nothing).
pub fn diff(
    current: &Allocator,
    proposed: &Allocator,
    month: BillingPeriod,
    sources: &[Vec<CostFact>],
) -> Vec<AllocationChange> {
    let before = current.totals(sources);
    let after = proposed.totals(sources);
    let mut keys: Vec<&(String, String, String)> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let current = before.get(key).map_or(Money::ZERO, |c| c.effective_cost);
            let proposed = after.get(key).map_or(Money::ZERO, |c| c.effective_cost);
            (current != proposed).then(|| AllocationChange {
                dimension: key.0.clone(),
                value: key.1.clone(),
                month,
                currency: key.2.clone(),
                current,
                proposed,
            })
        })
        .collect()
}
