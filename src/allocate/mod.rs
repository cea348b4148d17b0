//! Allocation: every cost fact gets one value per dimension (`team`, `service`, …) from the
//! first rule that matches it, or the dimension's default. Allocation moves money and never
//! makes or loses it: each fact's amounts go whole to its values, so allocated plus
//! unallocated equals ingested for every day, dimension and currency.
//!
//! Allocations are derived data: `finopsd allocate` recomputes them from the stored facts in
//! one transaction whenever rules or facts change.

pub mod config;
mod review;
mod rules;
mod split;
mod values;

use std::collections::BTreeMap;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

pub use config::{AllocationConfig, DEFAULT_VALUE};
pub use review::{AllocationChange, ExplainFilter, ExplainRow, diff};
use rules::{CompiledRule, RuleValue, TagNormaliser};
use split::{CompiledSplit, Division};
use values::{SpellingCosts, Spellings};
pub use values::{ValueCase, ValueCases};

use crate::focus::{CostFact, CostTotals, FactKey, Money};
use crate::store::{
    AllocatedCost, AllocatedCosts, AllocationBatch, AllocationSummary, CoverageRow, FoldedSpelling, Store, StoreError,
    UnallocatedItem,
};

#[derive(Debug, thiserror::Error)]
pub enum AllocationError {
    #[error("allocation rule `{rule}` of dimension `{dimension}`: {problem}")]
    Rule { dimension: String, rule: String, problem: String },
    #[error("allocation dimension `{dimension}`: {problem}")]
    Dimension { dimension: String, problem: String },
    #[error("allocation split `{split}`: {problem}")]
    Split { split: String, problem: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a cost got its value in one dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AllocationMethod {
    /// A rule that takes the value from a tag.
    Tag { rule: String },
    /// A rule with a fixed or looked-up value.
    Rule { rule: String },
    /// A share of a shared cost; `from` is the value the rules gave the whole cost.
    Split { split: String, from: String },
    /// No rule matched.
    Default,
}

impl std::fmt::Display for AllocationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllocationMethod::Tag { rule } => write!(f, "tag: {rule}"),
            AllocationMethod::Rule { rule } => write!(f, "rule: {rule}"),
            AllocationMethod::Split { split, from } => write!(f, "split: {split} (from {from})"),
            AllocationMethod::Default => f.write_str("default"),
        }
    }
}

/// The kind of a stored method (its text before the colon): `tag`, `rule`, `split` or
/// `default`, which coverage reports on.
pub fn method_kind(method: &str) -> &str {
    method.split(':').next().unwrap_or(method)
}

/// A dimension's allocated EffectiveCost of one billing period, provider and currency, by
/// how it was allocated.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CoverageSummary {
    pub dimension: String,
    pub provider: String,
    pub currency: String,
    pub by_tag: Money,
    pub by_rule: Money,
    pub by_split: Money,
    pub unallocated: Money,
}

impl CoverageSummary {
    pub fn total(&self) -> Money {
        self.by_tag + self.by_rule + self.by_split + self.unallocated
    }

    /// The share of the total that some tag, rule or split allocated.
    pub fn allocated_share(&self) -> Option<f64> {
        let total = self.total();
        (total - self.unallocated).fraction_of(total)
    }
}

/// The stored coverage rows summed per dimension, provider and currency, in that order.
pub fn summarise_coverage(rows: &[CoverageRow]) -> Vec<CoverageSummary> {
    let mut groups: BTreeMap<(&str, &str, &str), CoverageSummary> = BTreeMap::new();
    for row in rows {
        let summary = groups.entry((&row.dimension, &row.provider, &row.currency)).or_insert_with(|| CoverageSummary {
            dimension: row.dimension.clone(),
            provider: row.provider.clone(),
            currency: row.currency.clone(),
            ..CoverageSummary::default()
        });
        let slot = match method_kind(&row.method) {
            "tag" => &mut summary.by_tag,
            "rule" => &mut summary.by_rule,
            "split" => &mut summary.by_split,
            _ => &mut summary.unallocated,
        };
        *slot += row.effective_cost;
    }
    groups.into_values().collect()
}

/// One dimension's value for a cost and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Choice {
    pub value: String,
    pub method: AllocationMethod,
}

struct Dimension {
    name: String,
    default: String,
    rules: Vec<CompiledRule>,
    case: ValueCase,
}

/// The rules and splits of every dimension, compiled and checked once, and the spelling each
/// folded value shows.
pub struct Allocator {
    dimensions: Vec<Dimension>,
    splits: Vec<CompiledSplit>,
    tags: TagNormaliser,
    spellings: Spellings,
}

impl Allocator {
    pub fn new(config: &AllocationConfig) -> Result<Self, AllocationError> {
        let mut dimensions: Vec<Dimension> = Vec::new();
        for dimension in &config.dimensions {
            let invalid = |problem: String| AllocationError::Dimension { dimension: dimension.name.clone(), problem };
            if dimension.name.trim().is_empty() {
                return Err(invalid("the name is empty".into()));
            }
            if dimensions.iter().any(|d| d.name == dimension.name) {
                return Err(invalid("it is defined twice".into()));
            }
            let earlier: Vec<(&str, ValueCase)> = dimensions.iter().map(|d| (d.name.as_str(), d.case)).collect();
            let rules = dimension
                .rules
                .iter()
                .map(|rule| {
                    CompiledRule::new(rule, dimension.value_case, &earlier).map_err(|problem| AllocationError::Rule {
                        dimension: dimension.name.clone(),
                        rule: rule.name.clone(),
                        problem,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            dimensions.push(Dimension {
                name: dimension.name.clone(),
                default: dimension.default.clone(),
                rules,
                case: dimension.value_case,
            });
        }
        let names: Vec<(&str, ValueCase)> = dimensions.iter().map(|d| (d.name.as_str(), d.case)).collect();
        let mut splits: Vec<CompiledSplit> = Vec::new();
        for split in &config.splits {
            let invalid = |problem: String| AllocationError::Split { split: split.name.clone(), problem };
            if splits.iter().any(|s| s.name == split.name) {
                return Err(invalid("the name is used twice".into()));
            }
            splits.push(CompiledSplit::new(split, &names).map_err(invalid)?);
        }
        let written = dimensions
            .iter()
            .enumerate()
            .map(|(d, dimension)| {
                let rules = dimension.rules.iter().flat_map(|rule| rule.written_values());
                let targets = splits.iter().filter(|s| s.dimension == d).flat_map(|s| &s.targets);
                [dimension.default.as_str()].into_iter().chain(rules).chain(targets.map(|(t, _)| t.as_str())).collect()
            })
            .collect();
        let spellings = Spellings::new(written);
        Ok(Allocator { dimensions, splits, tags: TagNormaliser::new(config), spellings })
    }

    /// Chooses the spelling each folded value shows from the costs to allocate: all of them
    /// (`finopsd allocate` hands their sums per set of attributes), so every billing period
    /// shows a value the same way. Without it a folded value shows folded (lower case).
    pub fn learn_spellings(&mut self, facts: &[CostFact]) {
        let mut costs = SpellingCosts::default();
        let mut normalised: HashMap<&str, BTreeMap<String, String>> = HashMap::new();
        for fact in facts {
            let key = &fact.key;
            let tags = normalised.entry(key.tags.as_str()).or_insert_with(|| self.tags.normalise(&key.tags));
            for (d, choice) in self.allocate(key, tags).iter().enumerate() {
                if self.folds_from_tag(d, choice) {
                    let amounts = &fact.amounts;
                    costs.add(d, &choice.value, &key.currency, amounts.costs.effective_cost, amounts.line_items);
                }
            }
        }
        self.spellings.choose(costs);
    }

    /// Whether `choice` of dimension `d` is a tag's spelling that folds.
    fn folds_from_tag(&self, d: usize, choice: &Choice) -> bool {
        self.dimensions[d].case == ValueCase::Fold && matches!(choice.method, AllocationMethod::Tag { .. })
    }

    /// `choices` (as [`Allocator::allocate`] makes them) with every folded value in the
    /// spelling it shows; returns the spellings replaced where some cost spells the value
    /// otherwise, by dimension, for coverage to list.
    fn show_spellings(&self, choices: &mut [Choice]) -> Vec<(usize, String)> {
        let mut spelled = Vec::new();
        for (d, choice) in choices.iter_mut().enumerate() {
            if self.folds_from_tag(d, choice) {
                let (shown, drifted) = self.spellings.show_and_drift(d, &choice.value);
                if drifted {
                    spelled.push((d, std::mem::replace(&mut choice.value, shown)));
                } else {
                    choice.value = shown;
                }
            }
        }
        spelled
    }

    pub fn dimension_names(&self) -> Vec<String> {
        self.dimensions.iter().map(|d| d.name.clone()).collect()
    }

    /// Whether `a` and `b` are one value of dimension `d`, as its `value_case` compares them.
    pub fn same_value(&self, d: usize, a: &str, b: &str) -> bool {
        self.dimensions[d].case.same(a, b)
    }

    /// Tag keys (as stored, normalised) that rules and splits read, with the rule or split
    /// that reads each: a key ingest does not keep can never match.
    pub fn tag_keys_read(&self) -> Vec<(String, String)> {
        let mut read: Vec<(&str, String)> = Vec::new();
        for dimension in &self.dimensions {
            for rule in &dimension.rules {
                read.extend(
                    rule.tag_keys().into_iter().map(|key| (key, format!("{} / {}", dimension.name, rule.name))),
                );
            }
        }
        for split in &self.splits {
            let conditions = split.conditions.tag_keys().chain(split.basis.iter().flat_map(|b| b.tag_keys()));
            read.extend(conditions.map(|key| (key, format!("split {}", split.name))));
        }
        read.into_iter()
            .flat_map(|(key, reader)| {
                self.tags.stored_keys(key).into_iter().map(move |stored| (stored, reader.clone()))
            })
            .collect()
    }

    /// The rules' choice in each dimension, in dimension order (before any split), with
    /// values as the tags spell them.
    pub fn allocate(&self, fact: &FactKey, tags: &BTreeMap<String, String>) -> Vec<Choice> {
        let mut chosen: Vec<Choice> = Vec::with_capacity(self.dimensions.len());
        for dimension in &self.dimensions {
            let earlier = |name: &str| {
                self.dimensions.iter().zip(&chosen).find(|(d, _)| d.name == name).map(|(_, c)| c.value.as_str())
            };
            let found = dimension.rules.iter().find_map(|rule| {
                if !rule.conditions.matches(fact, tags) {
                    return None;
                }
                let (value, method) = match &rule.value {
                    RuleValue::Fixed(value) => (value.clone(), AllocationMethod::Rule { rule: rule.name.clone() }),
                    RuleValue::FromTag(key) => (
                        tags.get(key).filter(|v| !v.is_empty())?.clone(),
                        AllocationMethod::Tag { rule: rule.name.clone() },
                    ),
                    RuleValue::Lookup { dimension, table, case } => (
                        table.get(case.key(earlier(dimension)?).as_ref())?.clone(),
                        AllocationMethod::Rule { rule: rule.name.clone() },
                    ),
                };
                Some(Choice { value, method })
            });
            chosen.push(
                found.unwrap_or_else(|| Choice { value: dimension.default.clone(), method: AllocationMethod::Default }),
            );
        }
        chosen
    }

    /// Allocates the facts of one source and billing period as the store keeps them: per
    /// day, provider, charge category, currency and outcome. The rules first, then the
    /// splits, dimension by dimension (a split's weights are the day's costs after the rules
    /// and any earlier dimension's splits); shared costs of the same kind are summed before
    /// they are divided, so each stored row is rounded once.
    pub fn allocate_period<'f>(&self, facts: &'f [CostFact]) -> PeriodAllocation<'f> {
        let decided = self.decide(facts);
        let mut index: HashMap<(NaiveDate, u32, u32), usize> = HashMap::new();
        // At most one entry per fact; pages never written are never touched.
        let mut entries: Vec<Entry<()>> = Vec::with_capacity(facts.len());
        for (fact, &attribute) in facts.iter().zip(&decided.fact_attributes) {
            let Attributes { outcome, class } = decided.attributes[attribute as usize];
            let date = fact.key.charge_date;
            let at = *index.entry((date, class, outcome)).or_insert_with(|| {
                entries.push(Entry { date, class, outcome, origin: (), costs: CostTotals::default() });
                entries.len() - 1
            });
            entries[at].costs.add(&fact.amounts.costs);
        }
        self.split(decided, entries)
    }

    /// Allocates the facts of one source and billing period fact by fact, for explaining
    /// where each went.
    pub fn allocate_facts<'f>(&self, facts: &'f [CostFact]) -> FactAllocation<'f> {
        let decided = self.decide(facts);
        let entries = facts
            .iter()
            .zip(&decided.fact_attributes)
            .enumerate()
            .map(|(index, (fact, &attribute))| {
                let Attributes { outcome, class } = decided.attributes[attribute as usize];
                Entry { date: fact.key.charge_date, class, outcome, origin: index as u32, costs: fact.amounts.costs }
            })
            .collect();
        self.split(decided, entries)
    }

    /// The rules' outcome and the splits that apply, once per distinct set of attributes:
    /// rules read only a fact's attributes, not its day.
    fn decide<'f>(&self, facts: &'f [CostFact]) -> Decided<'f> {
        let mut decided = Decided {
            facts,
            outcomes: Vec::new(),
            interned: HashMap::new(),
            attributes: Vec::new(),
            fact_attributes: Vec::with_capacity(facts.len()),
            classes: Vec::new(),
            basis_sets: Vec::new(),
            row_texts: Vec::new(),
            unsplit: HashSet::new(),
            spelled: Vec::new(),
        };
        let mut seen: HashMap<[&str; 12], u32> = HashMap::new();
        let mut basis_sets: HashMap<Vec<bool>, u32> = HashMap::new();
        let mut row_texts: HashMap<[&str; 3], u32> = HashMap::new();
        let mut classes: HashMap<Class, u32> = HashMap::new();
        for fact in facts {
            let key = attribute_key(&fact.key);
            let attribute = match seen.get(&key) {
                Some(&attribute) => attribute,
                None => {
                    let tags = self.tags.normalise(&fact.key.tags);
                    let mut choices = self.allocate(&fact.key, &tags);
                    let spelled = self.show_spellings(&mut choices);
                    let outcome = intern(&mut decided.interned, &mut decided.outcomes, choices);
                    let split = (0..self.dimensions.len())
                        .map(|d| {
                            self.splits.iter().position(|s| s.dimension == d && s.conditions.matches(&fact.key, &tags))
                        })
                        .collect();
                    let weighs: Vec<bool> = self
                        .splits
                        .iter()
                        .map(|s| s.basis.as_ref().is_none_or(|b| b.matches(&fact.key, &tags)))
                        .collect();
                    let basis = intern(&mut basis_sets, &mut decided.basis_sets, weighs);
                    let k = &fact.key;
                    let text = [k.provider.as_str(), k.charge_category.as_str(), k.currency.as_str()];
                    let row_text = intern(&mut row_texts, &mut decided.row_texts, text);
                    let class = intern(&mut classes, &mut decided.classes, Class { row_text, split, basis });
                    let attribute = decided.attributes.len() as u32;
                    decided.attributes.push(Attributes { outcome, class });
                    decided.spelled.push(spelled);
                    seen.insert(key, attribute);
                    attribute
                }
            };
            decided.fact_attributes.push(attribute);
        }
        decided
    }

    fn split<'f, O: Copy>(&self, mut decided: Decided<'f>, mut entries: Vec<Entry<O>>) -> Allocation<'f, O> {
        for d in 0..self.dimensions.len() {
            if self.splits.iter().any(|s| s.dimension == d) {
                entries = self.split_dimension(&mut decided, d, entries);
            }
        }
        Allocation {
            dimensions: self.dimension_names(),
            split_names: self.splits.iter().map(|s| s.name.clone()).collect(),
            decided,
            entries,
        }
    }

    fn split_dimension<'f, O: Copy>(
        &self,
        decided: &mut Decided<'f>,
        d: usize,
        entries: Vec<Entry<O>>,
    ) -> Vec<Entry<O>> {
        // Each outcome's value in this dimension, by id; the default weighs for nobody.
        let default = &self.dimensions[d].default;
        let mut value_ids: HashMap<&str, u32> = HashMap::new();
        let mut values: Vec<&str> = Vec::new();
        let value_of: Vec<Option<u32>> = decided
            .outcomes
            .iter()
            .map(|choices| {
                let value = choices[d].value.as_str();
                (value != default).then(|| intern(&mut value_ids, &mut values, value))
            })
            .collect();
        // The day's weights: EffectiveCost of costs not shared in this dimension, per value.
        let mut sums: HashMap<(NaiveDate, u32, u32, u32), i128> = HashMap::new();
        for entry in &entries {
            let class = &decided.classes[entry.class as usize];
            if let (None, Some(value)) = (class.split[d], value_of[entry.outcome as usize]) {
                *sums.entry((entry.date, class.row_text, value, class.basis)).or_default() +=
                    entry.costs.effective_cost.nanos();
            }
        }
        // Per day and currency: value → its cost on each split's basis.
        let mut days: HashMap<(NaiveDate, &'f str), DayWeights> = HashMap::new();
        for ((date, row_text, value, basis), nanos) in sums {
            let currency: &'f str = decided.row_texts[row_text as usize][2];
            let weights = days
                .entry((date, currency))
                .or_default()
                .entry(values[value as usize])
                .or_insert_with(|| vec![0; self.splits.len()]);
            for (s, weighs) in decided.basis_sets[basis as usize].iter().enumerate() {
                if *weighs {
                    weights[s] += nanos;
                }
            }
        }
        // Per split, day and currency: the targets by id, and how they divide a cost. Keys
        // are integers (the currency by id) since every entry looks one up.
        let mut currency_ids: HashMap<&str, u32> = HashMap::new();
        let mut currencies: Vec<&'f str> = Vec::new();
        let currency_of: Vec<u32> =
            decided.row_texts.iter().map(|texts| intern(&mut currency_ids, &mut currencies, texts[2])).collect();
        let mut day_target_ids: HashMap<(usize, NaiveDate, u32), u32> = HashMap::new();
        let mut day_targets: Vec<(usize, Option<DayTargets>)> = Vec::new();
        let mut target_values: Vec<String> = Vec::new();
        let mut target_ids: HashMap<String, u32> = HashMap::new();
        // Each entry's day targets (`NOT_SHARED` when none), and how many entries come out,
        // before any is made.
        const NOT_SHARED: u32 = u32::MAX;
        let mut keys: Vec<u32> = Vec::with_capacity(entries.len());
        let mut count = 0;
        for entry in &entries {
            let class = &decided.classes[entry.class as usize];
            let Some(s) = class.split[d] else {
                keys.push(NOT_SHARED);
                count += 1;
                continue;
            };
            let currency = currency_of[class.row_text as usize];
            let key = *day_target_ids.entry((s, entry.date, currency)).or_insert_with(|| {
                let currency = currencies[currency as usize];
                let targets = split_targets(&self.splits[s], s, days.get(&(entry.date, currency)));
                let targets = if targets.is_empty() {
                    decided.unsplit.insert((s, entry.date, currency));
                    None
                } else {
                    let (values, weights): (Vec<String>, Vec<i128>) = targets.into_iter().unzip();
                    let ids =
                        values.into_iter().map(|value| intern(&mut target_ids, &mut target_values, value)).collect();
                    Some(DayTargets { ids, division: Division::new(&weights) })
                };
                day_targets.push((s, targets));
                day_targets.len() as u32 - 1
            });
            count += day_targets[key as usize].1.as_ref().map_or(1, |targets| targets.ids.len());
            keys.push(key);
        }
        // (outcome, split) → by target id, the outcome of that target's share.
        let mut derived: HashMap<(u32, usize), Vec<Option<u32>>> = HashMap::new();
        let mut parts: [Vec<Money>; 3] = Default::default();
        let mut split_entries = Vec::with_capacity(count);
        for (entry, key) in entries.into_iter().zip(keys) {
            // Not shared in this dimension, or nobody to share with on this day: the cost
            // keeps the rules' value.
            let Some(&(s, Some(DayTargets { ref ids, ref division }))) = day_targets.get(key as usize) else {
                split_entries.push(entry);
                continue;
            };
            division.divide(entry.costs.billed_cost, &mut parts[0]);
            division.divide(entry.costs.effective_cost, &mut parts[1]);
            division.divide(entry.costs.list_cost, &mut parts[2]);
            let outcomes = derived.entry((entry.outcome, s)).or_default();
            for (i, &id) in ids.iter().enumerate() {
                let costs =
                    CostTotals { billed_cost: parts[0][i], effective_cost: parts[1][i], list_cost: parts[2][i] };
                if costs == CostTotals::default() {
                    continue;
                }
                if outcomes.len() <= id as usize {
                    outcomes.resize(id as usize + 1, None);
                }
                let outcome = *outcomes[id as usize].get_or_insert_with(|| {
                    let mut choices = decided.outcomes[entry.outcome as usize].clone();
                    let from = std::mem::take(&mut choices[d].value);
                    choices[d] = Choice {
                        value: target_values[id as usize].clone(),
                        method: AllocationMethod::Split { split: self.splits[s].name.clone(), from },
                    };
                    intern(&mut decided.interned, &mut decided.outcomes, choices)
                });
                split_entries.push(Entry { outcome, costs, ..entry });
            }
        }
        split_entries
    }
}

/// The id of `value` in `values`, adding it when new.
fn intern<T: Clone + Eq + std::hash::Hash>(ids: &mut HashMap<T, u32>, values: &mut Vec<T>, value: T) -> u32 {
    if let Some(&id) = ids.get(&value) {
        return id;
    }
    let id = values.len() as u32;
    values.push(value.clone());
    ids.insert(value, id);
    id
}

/// One day and currency's values in a dimension with their cost on each split's basis (all
/// their cost for a split without one), in nano-units.
type DayWeights<'v> = BTreeMap<&'v str, Vec<i128>>;
/// Values with their weights.
type Targets = Vec<(String, i128)>;
/// A split's targets on one day in one currency, by id, and how they divide a cost.
struct DayTargets {
    ids: Vec<u32>,
    division: Division,
}

/// A split's targets on one day with their weights; empty when there is nobody to share with.
fn split_targets(split: &CompiledSplit, s: usize, day: Option<&DayWeights>) -> Targets {
    let empty = BTreeMap::new();
    let day = day.unwrap_or(&empty);
    match split.method {
        config::SplitMethod::Fixed => split.targets.clone(),
        config::SplitMethod::Even if !split.targets.is_empty() => split.targets.clone(),
        config::SplitMethod::Even => day.keys().map(|value| (value.to_string(), 1)).collect(),
        config::SplitMethod::Proportional => {
            let candidates: Vec<String> = if split.targets.is_empty() {
                day.keys().map(|value| value.to_string()).collect()
            } else {
                split.targets.iter().map(|(target, _)| target.clone()).collect()
            };
            let weighted: Vec<(String, i128)> = candidates
                .into_iter()
                .map(|value| {
                    let weight = day.get(value.as_str()).map_or(0, |basis| basis[s]).max(0);
                    (value, weight)
                })
                .collect();
            if weighted.iter().any(|(_, weight)| *weight > 0) {
                weighted.into_iter().filter(|(_, weight)| *weight > 0).collect()
            } else {
                // No target has cost on the basis that day: share evenly rather than not at all.
                weighted.into_iter().map(|(value, _)| (value, 1)).collect()
            }
        }
    }
}

/// The fact columns rules and splits can read, and the currency (everything but source,
/// period and day).
fn attribute_key(fact: &FactKey) -> [&str; 12] {
    [
        &fact.currency,
        &fact.provider,
        &fact.billing_account_id,
        &fact.billing_account_name,
        &fact.sub_account_id,
        &fact.sub_account_name,
        &fact.service_name,
        &fact.service_category,
        &fact.region,
        &fact.charge_category,
        &fact.tags,
        &fact.marketplace_publisher,
    ]
}

#[derive(Clone, Copy)]
struct Attributes {
    outcome: u32,
    class: u32,
}

/// What the splits and the stored rows need of a set of attributes.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Class {
    /// Index of the provider, charge category and currency in `row_texts`.
    row_text: u32,
    /// Per dimension, the split that shares these costs.
    split: Vec<Option<usize>>,
    /// Which splits' basis these costs are on (an index into `basis_sets`).
    basis: u32,
}

/// The rules' decisions on one source's billing period.
struct Decided<'f> {
    facts: &'f [CostFact],
    /// Distinct choices over all dimensions.
    outcomes: Vec<Vec<Choice>>,
    interned: HashMap<Vec<Choice>, u32>,
    attributes: Vec<Attributes>,
    fact_attributes: Vec<u32>,
    classes: Vec<Class>,
    basis_sets: Vec<Vec<bool>>,
    /// Distinct provider, charge category and currency of the facts.
    row_texts: Vec<[&'f str; 3]>,
    /// Split, day and currency of costs a split found no targets for.
    unsplit: HashSet<(usize, NaiveDate, &'f str)>,
    /// Per set of attributes and dimension, the tag's spelling of a value some cost spells
    /// otherwise (for coverage).
    spelled: Vec<Vec<(usize, String)>>,
}

/// Costs with one day, class and outcome: one fact (`origin` is its index) or, as the store
/// keeps them, the sum of all such facts (`origin` is `()`); after a split, one target's share.
#[derive(Clone, Copy)]
struct Entry<O> {
    date: NaiveDate,
    class: u32,
    outcome: u32,
    origin: O,
    costs: CostTotals,
}

/// The allocation of one source's billing period: costs with a value in every dimension.
pub struct Allocation<'f, O> {
    dimensions: Vec<String>,
    split_names: Vec<String>,
    decided: Decided<'f>,
    entries: Vec<Entry<O>>,
}

/// Allocated costs summed as the store keeps them.
pub type PeriodAllocation<'f> = Allocation<'f, ()>;
/// Allocated costs fact by fact.
pub type FactAllocation<'f> = Allocation<'f, u32>;

/// Allocated costs of one day and currency and their value in every dimension.
pub struct AllocatedShare<'a> {
    pub charge_date: NaiveDate,
    pub currency: &'a str,
    pub choices: &'a [Choice],
    pub costs: CostTotals,
}

/// A fact, or one target's share of it, and its value in every dimension.
pub struct FactShare<'a> {
    pub fact: &'a CostFact,
    pub choices: &'a [Choice],
    pub costs: CostTotals,
}

impl<'f, O> Allocation<'f, O> {
    pub fn dimensions(&self) -> &[String] {
        &self.dimensions
    }

    pub fn shares(&self) -> impl Iterator<Item = AllocatedShare<'_>> {
        self.entries.iter().map(|entry| AllocatedShare {
            charge_date: entry.date,
            currency: self.decided.row_texts[self.decided.classes[entry.class as usize].row_text as usize][2],
            choices: &self.decided.outcomes[entry.outcome as usize],
            costs: entry.costs,
        })
    }

    /// Days on which a split found no one to share with, per split.
    pub fn unsplit_days(&self) -> BTreeMap<&str, usize> {
        let mut days: BTreeMap<usize, Vec<NaiveDate>> = BTreeMap::new();
        for (split, date, _) in &self.decided.unsplit {
            days.entry(*split).or_default().push(*date);
        }
        days.into_iter()
            .map(|(split, mut dates)| {
                dates.sort();
                dates.dedup();
                (self.split_names[split].as_str(), dates.len())
            })
            .collect()
    }

    /// The rows the store keeps: summed per day, provider, charge category, currency and
    /// outcome. `None` without facts.
    pub fn allocated_costs(&self) -> Option<AllocatedCosts> {
        let decided = &self.decided;
        let first = &decided.facts.first()?.key;
        // Entries grouped by day and row text with a counting sort (a billing period has a
        // few dozen days and row texts), then summed per outcome through a table indexed by
        // outcome id: linear in the entries, no comparison sort and no hashing.
        let texts = decided.row_texts.len();
        let first_day = self.entries.iter().map(|entry| entry.date.num_days_from_ce()).min()?;
        let days = self.entries.iter().map(|entry| entry.date.num_days_from_ce()).max()? - first_day + 1;
        let group = |entry: &Entry<O>| {
            (entry.date.num_days_from_ce() - first_day) as usize * texts
                + decided.classes[entry.class as usize].row_text as usize
        };
        let mut starts = vec![0usize; days as usize * texts + 1];
        for entry in &self.entries {
            starts[group(entry) + 1] += 1;
        }
        for g in 1..starts.len() {
            starts[g] += starts[g - 1];
        }
        let mut grouped = vec![0u32; self.entries.len()];
        let mut next = starts.clone();
        for (i, entry) in self.entries.iter().enumerate() {
            let g = group(entry);
            grouped[next[g]] = i as u32;
            next[g] += 1;
        }
        // At most one row per entry; pages never written are never touched.
        let mut rows: Vec<AllocatedCost> = Vec::with_capacity(self.entries.len());
        // The row of each outcome in the group being summed: a row from an earlier group is
        // below the group's first row.
        let mut row_of: Vec<usize> = vec![usize::MAX; decided.outcomes.len()];
        for g in 0..starts.len() - 1 {
            let group_start = rows.len();
            for &i in &grouped[starts[g]..starts[g + 1]] {
                let entry = &self.entries[i as usize];
                let row = &mut row_of[entry.outcome as usize];
                if *row != usize::MAX && *row >= group_start {
                    rows[*row].costs.add(&entry.costs);
                } else {
                    *row = rows.len();
                    rows.push(AllocatedCost {
                        charge_date: entry.date,
                        row_text: decided.classes[entry.class as usize].row_text,
                        outcome: entry.outcome,
                        costs: entry.costs,
                    });
                }
            }
        }
        // Outcomes some row has, renumbered in order of first use: splits leave intermediate
        // ones behind.
        let mut used: Vec<u32> = vec![u32::MAX; decided.outcomes.len()];
        let mut outcomes: Vec<(String, String)> = Vec::new();
        for row in &mut rows {
            let id = &mut used[row.outcome as usize];
            if *id == u32::MAX {
                *id = outcomes.len() as u32;
                outcomes.push(self.outcome_json(&decided.outcomes[row.outcome as usize]));
            }
            row.outcome = *id;
        }
        Some(AllocatedCosts {
            source: first.source.clone(),
            billing_period: first.billing_period,
            row_texts: decided.row_texts.iter().map(|texts| texts.map(String::from)).collect(),
            outcomes,
            rows,
        })
    }

    /// An outcome as the store keeps it: JSON objects dimension → value and dimension → method.
    fn outcome_json(&self, choices: &[Choice]) -> (String, String) {
        // Written directly, as serde_json writes a map: a split leaves tens of thousands of
        // outcomes per billing period, and building a map for each cost more than the rows.
        let (mut values, mut methods, mut method) = (vec![b'{'], vec![b'{'], String::new());
        for (d, (dimension, choice)) in self.dimensions.iter().zip(choices).enumerate() {
            use std::fmt::Write;
            method.clear();
            write!(method, "{}", choice.method).expect("writing to a string");
            for (out, text) in [(&mut values, choice.value.as_str()), (&mut methods, method.as_str())] {
                if d > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, dimension).expect("writing to memory");
                out.push(b':');
                serde_json::to_writer(&mut *out, text).expect("writing to memory");
            }
        }
        let close = |mut out: Vec<u8>| {
            out.push(b'}');
            String::from_utf8(out).expect("serde_json writes UTF-8")
        };
        (close(values), close(methods))
    }

    /// The largest costs no rule allocated, per dimension and currency: the sub-accounts and
    /// services to tag or write rules for first. A cost stays unallocated in a dimension
    /// unless a split shared it there, so the facts and the days a split found no targets
    /// tell, whatever the entries' grain.
    pub fn unallocated_items(&self, per_dimension: usize) -> Vec<UnallocatedItem> {
        type Item<'a> = (usize, &'a str, &'a str, &'a str, &'a str, &'a str);
        let decided = &self.decided;
        let mut sums: HashMap<Item<'_>, CostTotals> = HashMap::new();
        for (fact, &attribute) in decided.facts.iter().zip(&decided.fact_attributes) {
            let Attributes { outcome, class } = decided.attributes[attribute as usize];
            let k = &fact.key;
            for (d, choice) in decided.outcomes[outcome as usize].iter().enumerate() {
                let shared = decided.classes[class as usize].split[d]
                    .is_some_and(|s| !decided.unsplit.contains(&(s, k.charge_date, k.currency.as_str())));
                if choice.method == AllocationMethod::Default && !shared {
                    let item = (
                        d,
                        k.currency.as_str(),
                        k.provider.as_str(),
                        k.sub_account_id.as_str(),
                        k.sub_account_name.as_str(),
                        k.service_name.as_str(),
                    );
                    sums.entry(item).or_default().add(&fact.amounts.costs);
                }
            }
        }
        let mut items: Vec<(Item<'_>, CostTotals)> = sums.into_iter().collect();
        items.sort_by(|(a, ca), (b, cb)| {
            (a.0, a.1).cmp(&(b.0, b.1)).then(cb.effective_cost.cmp(&ca.effective_cost)).then(a.cmp(b))
        });
        let mut kept: Vec<UnallocatedItem> = Vec::new();
        for ((d, currency, provider, sub_account_id, sub_account_name, service_name), costs) in items {
            let same = kept.iter().filter(|i| i.dimension == self.dimensions[d] && i.currency == currency).count();
            if same < per_dimension {
                kept.push(UnallocatedItem {
                    billing_period: decided.facts[0].key.billing_period,
                    dimension: self.dimensions[d].clone(),
                    currency: currency.into(),
                    provider: provider.into(),
                    sub_account_id: sub_account_id.into(),
                    sub_account_name: sub_account_name.into(),
                    service_name: service_name.into(),
                    costs,
                });
            }
        }
        kept
    }

    /// Per dimension, the spellings of values some cost spells more than one way, with the
    /// EffectiveCost each carries per currency: a tagging clean-up's to-do list.
    pub fn folded_spellings(&self) -> Vec<FoldedSpelling> {
        let decided = &self.decided;
        let mut sums: BTreeMap<(usize, &str, &str, &str), Money> = BTreeMap::new();
        for (fact, &attribute) in decided.facts.iter().zip(&decided.fact_attributes) {
            let outcome = &decided.outcomes[decided.attributes[attribute as usize].outcome as usize];
            for (d, spelling) in &decided.spelled[attribute as usize] {
                let key = (*d, outcome[*d].value.as_str(), spelling.as_str(), fact.key.currency.as_str());
                *sums.entry(key).or_default() += fact.amounts.costs.effective_cost;
            }
        }
        sums.into_iter()
            .map(|((d, value, spelling, currency), effective_cost)| FoldedSpelling {
                billing_period: decided.facts[0].key.billing_period,
                dimension: self.dimensions[d].clone(),
                value: value.into(),
                spelling: spelling.into(),
                currency: currency.into(),
                effective_cost,
            })
            .collect()
    }
}

impl FactAllocation<'_> {
    pub fn fact_shares(&self) -> impl Iterator<Item = FactShare<'_>> {
        self.entries.iter().map(|entry| FactShare {
            fact: &self.decided.facts[entry.origin as usize],
            choices: &self.decided.outcomes[entry.outcome as usize],
            costs: entry.costs,
        })
    }
}

fn rules_json(rules: &AllocationConfig) -> String {
    serde_json::to_string(rules).expect("the allocation config serialises")
}

/// Allocates like [`allocate_store`] unless the current allocations were made with `rules`
/// from the facts as they are; `None` when they were.
pub async fn allocate_store_if_changed(
    store: &Store,
    allocator: Allocator,
    rules: &AllocationConfig,
) -> Result<Option<AllocationSummary>, AllocationError> {
    if store.allocation_is_current(&rules_json(rules)).await? {
        return Ok(None);
    }
    allocate_store(store, allocator, rules).await.map(Some)
}

/// Unallocated items kept per billing period, dimension and currency: coverage shows the top.
const UNALLOCATED_ITEMS_KEPT: usize = 20;

/// Recomputes every allocation from the stored facts with `allocator`, in one transaction;
/// folded values show the spelling that carries the most of the store's cost.
pub async fn allocate_store(
    store: &Store,
    mut allocator: Allocator,
    rules: &AllocationConfig,
) -> Result<AllocationSummary, AllocationError> {
    let started = std::time::Instant::now();
    allocator.learn_spellings(&store.fact_sums_by_attributes().await?);
    let allocator = Arc::new(allocator);
    let rules_json = rules_json(rules);
    let summary = store
        .replace_allocations(&rules_json, move |facts| {
            let allocation = allocator.allocate_period(facts);
            for (split, days) in allocation.unsplit_days() {
                let first = &facts[0].key;
                tracing::warn!(
                    split,
                    days,
                    source = %first.source,
                    billing_period = %first.billing_period,
                    "a split found no targets on some days; those costs keep the value the rules gave them"
                );
            }
            AllocationBatch {
                costs: allocation.allocated_costs().expect("the store hands over facts"),
                unallocated: allocation.unallocated_items(UNALLOCATED_ITEMS_KEPT),
                spellings: allocation.folded_spellings(),
            }
        })
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        facts = summary.facts,
        allocated_rows = summary.allocated_rows,
        seconds = format!("{seconds:.2}"),
        facts_per_second = format!("{:.0}", summary.facts as f64 / seconds.max(1e-9)),
        "allocated the stored facts"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocate::config::{
        Conditions, DimensionConfig, LookupConfig, Pattern, RuleConfig, SplitConfig, SplitMethod,
    };
    use crate::focus::{FactAmounts, FactKey, Money};

    fn fact(service: &str, sub_account: (&str, &str), region: &str, tags: &str) -> CostFact {
        CostFact {
            key: FactKey {
                source: "aws:1".into(),
                billing_period: "2025-03".parse().unwrap(),
                charge_date: "2025-03-02".parse().unwrap(),
                provider: "AWS".into(),
                billing_account_id: "1".into(),
                billing_account_name: "Payer".into(),
                sub_account_id: sub_account.0.into(),
                sub_account_name: sub_account.1.into(),
                service_name: service.into(),
                service_category: "Compute".into(),
                region: region.into(),
                charge_category: "Usage".into(),
                currency: "USD".into(),
                tags: tags.into(),
                marketplace_publisher: String::new(),
            },
            amounts: FactAmounts::default(),
        }
    }

    fn rule(name: &str, conditions: Conditions, value: &str) -> RuleConfig {
        RuleConfig { name: name.into(), conditions, value: Some(value.into()), value_from_tag: None, lookup: None }
    }

    fn tag_rule(name: &str, key: &str) -> RuleConfig {
        RuleConfig { value: None, value_from_tag: Some(key.into()), ..rule(name, Conditions::default(), "") }
    }

    fn config(dimensions: Vec<(&str, Vec<RuleConfig>)>) -> AllocationConfig {
        AllocationConfig {
            dimensions: dimensions
                .into_iter()
                .map(|(name, rules)| DimensionConfig {
                    name: name.into(),
                    default: DEFAULT_VALUE.into(),
                    rules,
                    value_case: ValueCase::Fold,
                })
                .collect(),
            ..AllocationConfig::default()
        }
    }

    fn values(config: &AllocationConfig, fact: &CostFact) -> Vec<(String, AllocationMethod)> {
        let allocator = Allocator::new(config).unwrap();
        let tags = allocator.tags.normalise(&fact.key.tags);
        allocator.allocate(&fact.key, &tags).into_iter().map(|c| (c.value, c.method)).collect()
    }

    fn first_value(config: &AllocationConfig, fact: &CostFact) -> String {
        values(config, fact)[0].0.clone()
    }

    #[test]
    fn the_first_matching_rule_wins_and_the_default_takes_the_rest() {
        let ec2 = Conditions { service: Some(Pattern::Exact("Amazon EC2".into())), ..Conditions::default() };
        let config = config(vec![(
            "team",
            vec![rule("ec2 is platform", ec2, "platform"), rule("everything", Conditions::default(), "shared")],
        )]);
        let chosen = values(&config, &fact("Amazon EC2", ("1", "a"), "us-east-1", "{}"));
        assert_eq!(chosen[0], ("platform".into(), AllocationMethod::Rule { rule: "ec2 is platform".into() }));
        assert_eq!(first_value(&config, &fact("Amazon S3", ("1", "a"), "us-east-1", "{}")), "shared");
        let no_rules = super::tests::config(vec![("team", vec![])]);
        assert_eq!(
            values(&no_rules, &fact("x", ("1", "a"), "r", "{}"))[0],
            ("unallocated".into(), AllocationMethod::Default)
        );
    }

    #[test]
    fn outcomes_are_stored_as_json_objects_in_dimension_order() {
        let config = config(vec![
            ("team", vec![tag_rule("team tag", "team")]),
            ("env", vec![rule("all", Conditions::default(), "prod")]),
        ]);
        let allocator = Allocator::new(&config).unwrap();
        let facts = [fact("x", ("1", "a"), "r", r#"{"team":"se\"arch\\"}"#)];
        let costs = allocator.allocate_period(&facts).allocated_costs().unwrap();
        let expected = |pairs: [(&str, &str); 2]| {
            let map: serde_json::Map<String, serde_json::Value> =
                pairs.iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string()))).collect();
            serde_json::Value::Object(map).to_string()
        };
        assert_eq!(costs.outcomes[0].0, expected([("team", "se\"arch\\"), ("env", "prod")]));
        assert_eq!(costs.outcomes[0].1, expected([("team", "tag: team tag"), ("env", "rule: all")]));
    }

    #[test]
    fn a_tag_rule_falls_through_when_the_cost_lacks_the_tag() {
        let config = config(vec![(
            "team",
            vec![tag_rule("team tag", "team"), rule("fallback", Conditions::default(), "finance-it")],
        )]);
        let tagged = values(&config, &fact("x", ("1", "a"), "r", r#"{"team":"search"}"#));
        assert_eq!(tagged[0], ("search".into(), AllocationMethod::Tag { rule: "team tag".into() }));
        assert_eq!(first_value(&config, &fact("x", ("1", "a"), "r", "{}")), "finance-it");
    }

    #[test]
    fn exact_glob_and_regex_patterns_and_all_conditions_must_hold() {
        let conditions = Conditions {
            sub_account: Some(Pattern::Glob { glob: "platform-*".into() }),
            region: Some(Pattern::Regex { regex: "^eu-(west|central)-[0-9]$".into() }),
            ..Conditions::default()
        };
        let config = config(vec![("team", vec![rule("eu platform", conditions, "platform")])]);
        // The sub-account matches by its name as well as its id.
        assert_eq!(first_value(&config, &fact("x", ("123", "platform-prod"), "eu-west-1", "{}")), "platform");
        assert_eq!(first_value(&config, &fact("x", ("platform-dev", ""), "eu-central-1", "{}")), "platform");
        assert_eq!(first_value(&config, &fact("x", ("123", "platform-prod"), "us-east-1", "{}")), "unallocated");
        assert_eq!(first_value(&config, &fact("x", ("123", "search-prod"), "eu-west-1", "{}")), "unallocated");
    }

    #[test]
    fn a_marketplace_rule_matches_third_party_charges_only() {
        let marketplace =
            Conditions { marketplace_publisher: Some(Pattern::Regex { regex: ".".into() }), ..Conditions::default() };
        let config = config(vec![("cost_center", vec![rule("marketplace", marketplace, "procurement")])]);
        let mut sold = fact("prod-abc123", ("1", "a"), "us-east-1", "{}");
        sold.key.marketplace_publisher = "Acme Observability Inc.".into();
        assert_eq!(first_value(&config, &sold), "procurement");
        assert_eq!(first_value(&config, &fact("AmazonEC2", ("1", "a"), "us-east-1", "{}")), "unallocated");
    }

    #[test]
    fn tag_conditions_see_aliased_keys_and_mapped_values() {
        let mut config = config(vec![(
            "team",
            vec![rule(
                "production search",
                Conditions {
                    tags: [("environment".to_string(), Pattern::Exact("production".into()))].into(),
                    ..Conditions::default()
                },
                "search",
            )],
        )]);
        config.value_maps =
            [("environment".to_string(), [("production".to_string(), vec!["prod".to_string()])].into())].into();
        assert_eq!(first_value(&config, &fact("x", ("1", "a"), "r", r#"{"env":" PROD "}"#)), "search");
        assert_eq!(first_value(&config, &fact("x", ("1", "a"), "r", r#"{"environment":"Production"}"#)), "search");
        assert_eq!(first_value(&config, &fact("x", ("1", "a"), "r", r#"{"env":"dev"}"#)), "unallocated");
    }

    #[test]
    fn a_folding_dimension_matches_tag_conditions_and_lookup_keys_whatever_the_case() {
        let production = Conditions {
            tags: [("environment".to_string(), Pattern::Exact("production".into()))].into(),
            ..Conditions::default()
        };
        let lookup = checkout_owner_lookup();
        let mut config = config(vec![
            ("service", vec![tag_rule("service tag", "service")]),
            ("team", vec![rule("production search", production, "search"), lookup]),
        ]);
        let tagged = fact("x", ("1", "a"), "r", r#"{"environment":" PRODUCTION "}"#);
        assert_eq!(values(&config, &tagged)[1].0, "search");
        let checkout = fact("x", ("1", "a"), "r", r#"{"service":"CheckOut"}"#);
        assert_eq!(values(&config, &checkout)[1].0, "payments");
        // Kept apart: exact conditions, and lookups keyed exactly by the service as spelled.
        for dimension in &mut config.dimensions {
            dimension.value_case = ValueCase::Preserve;
        }
        assert_eq!(values(&config, &tagged)[1].0, "unallocated");
        assert_eq!(values(&config, &checkout)[1].0, "unallocated");
    }

    #[test]
    fn spellings_of_a_folded_value_allocate_as_one_and_are_listed_for_coverage() {
        let config = config(vec![("team", vec![tag_rule("team tag", "team")])]);
        let mut allocator = Allocator::new(&config).unwrap();
        let tagged = |team: &str, nanos| {
            costing(fact("x", ("1", "a"), "r", &format!(r#"{{"team":"{team}"}}"#)), "2025-03-02", nanos)
        };
        let facts = [tagged("Checkout", 50), tagged("CHECKOUT", 20), tagged("checkout", 30), tagged("search", 7)];
        allocator.learn_spellings(&facts);
        let allocation = allocator.allocate_period(&facts);
        let mut teams: BTreeMap<String, i128> = BTreeMap::new();
        for share in allocation.shares() {
            *teams.entry(share.choices[0].value.clone()).or_default() += share.costs.effective_cost.nanos();
        }
        assert_eq!(teams, [("Checkout".to_string(), 100), ("search".to_string(), 7)].into());
        let listed: Vec<(String, String, i128)> = allocation
            .folded_spellings()
            .into_iter()
            .map(|s| (s.value, s.spelling, s.effective_cost.nanos()))
            .collect();
        let expected = [("Checkout", "CHECKOUT", 20), ("Checkout", "Checkout", 50), ("Checkout", "checkout", 30)];
        assert_eq!(listed, expected.map(|(v, s, n)| (v.to_string(), s.to_string(), n)));
    }

    #[test]
    fn the_canonical_tag_key_wins_over_its_aliases() {
        let config = config(vec![("team", vec![tag_rule("team tag", "team")])]);
        let both = fact("x", ("1", "a"), "r", r#"{"owner-team":"data","team":"search"}"#);
        assert_eq!(first_value(&config, &both), "search");
        assert_eq!(first_value(&config, &fact("x", ("1", "a"), "r", r#"{"owner-team":"data"}"#)), "data");
    }

    /// A team rule looking the service up: `checkout` is `payments`'.
    fn checkout_owner_lookup() -> RuleConfig {
        RuleConfig {
            value: None,
            lookup: Some(LookupConfig {
                dimension: "service".into(),
                table: [("checkout".to_string(), "payments".to_string())].into(),
                catalog: None,
            }),
            ..rule("service owner", Conditions::default(), "")
        }
    }

    #[test]
    fn a_lookup_maps_an_earlier_dimension() {
        let lookup = checkout_owner_lookup();
        let config = config(vec![("service", vec![tag_rule("service tag", "service")]), ("team", vec![lookup])]);
        let chosen = values(&config, &fact("x", ("1", "a"), "r", r#"{"app":"checkout"}"#));
        assert_eq!(chosen[1].0, "payments");
        assert_eq!(values(&config, &fact("x", ("1", "a"), "r", r#"{"app":"search"}"#))[1].0, "unallocated");
    }

    fn costing(mut fact: CostFact, day: &str, nanos: i128) -> CostFact {
        fact.key.charge_date = day.parse().unwrap();
        let money = Money::from_nanos(nanos);
        fact.amounts.costs = CostTotals { billed_cost: money, effective_cost: money, list_cost: money };
        fact
    }

    fn split(name: &str, service: &str, method: SplitMethod) -> SplitConfig {
        SplitConfig {
            name: name.into(),
            dimension: "team".into(),
            conditions: Conditions { service: Some(Pattern::Exact(service.into())), ..Conditions::default() },
            method,
            targets: Vec::new(),
            percentages: Default::default(),
            basis: Conditions::default(),
        }
    }

    /// Team totals (EffectiveCost in nano-units) with the method of each share.
    fn split_outcome(splits: Vec<SplitConfig>, facts: &[CostFact]) -> Vec<(String, String, i128)> {
        let mut config = config(vec![("team", vec![tag_rule("team tag", "team")])]);
        config.splits = splits;
        let allocator = Allocator::new(&config).unwrap();
        let allocation = allocator.allocate_period(facts);
        let mut totals: BTreeMap<(String, String), i128> = BTreeMap::new();
        for share in allocation.shares() {
            let choice = &share.choices[0];
            *totals.entry((choice.value.clone(), choice.method.to_string())).or_default() +=
                share.costs.effective_cost.nanos();
        }
        totals.into_iter().map(|((value, method), nanos)| (value, method, nanos)).collect()
    }

    /// Two teams with compute and storage on day 2, and a shared support charge.
    fn shared_day() -> Vec<CostFact> {
        let ec2 = |team: &str| fact("Amazon EC2", ("1", "a"), "r", &format!(r#"{{"team":"{team}"}}"#));
        let mut storage = fact("Amazon S3", ("1", "a"), "r", r#"{"team":"search"}"#);
        storage.key.service_category = "Storage".into();
        vec![
            costing(ec2("payments"), "2025-03-02", 300),
            costing(ec2("search"), "2025-03-02", 100),
            costing(storage, "2025-03-02", 600),
            costing(fact("AWS Support", ("1", "a"), "r", "{}"), "2025-03-02", 1001),
        ]
    }

    fn outcome(rows: &[(&str, &str, i128)]) -> Vec<(String, String, i128)> {
        rows.iter().map(|(v, m, n)| (v.to_string(), m.to_string(), *n)).collect()
    }

    #[test]
    fn an_even_split_shares_equally_among_the_days_values_and_keeps_the_origin() {
        let got = split_outcome(vec![split("support", "AWS Support", SplitMethod::Even)], &shared_day());
        assert_eq!(
            got,
            outcome(&[
                ("payments", "split: support (from unallocated)", 501),
                ("payments", "tag: team tag", 300),
                ("search", "split: support (from unallocated)", 500),
                ("search", "tag: team tag", 700),
            ])
        );
        let listed = SplitConfig {
            targets: vec!["platform".into(), "payments".into()],
            ..split("support", "AWS Support", SplitMethod::Even)
        };
        let got = split_outcome(vec![listed], &shared_day());
        assert!(got.contains(&("platform".into(), "split: support (from unallocated)".into(), 501)), "{got:?}");
        assert!(got.contains(&("payments".into(), "split: support (from unallocated)".into(), 500)), "{got:?}");
    }

    #[test]
    fn a_proportional_split_follows_each_targets_cost_optionally_on_a_basis() {
        let got = split_outcome(vec![split("support", "AWS Support", SplitMethod::Proportional)], &shared_day());
        // payments 300 of 1000, search 700 of 1000.
        assert!(got.contains(&("payments".into(), "split: support (from unallocated)".into(), 300)), "{got:?}");
        assert!(got.contains(&("search".into(), "split: support (from unallocated)".into(), 701)), "{got:?}");
        let compute = SplitConfig {
            basis: Conditions { service_category: Some(Pattern::Exact("Compute".into())), ..Conditions::default() },
            ..split("support", "AWS Support", SplitMethod::Proportional)
        };
        let got = split_outcome(vec![compute], &shared_day());
        // On compute alone: payments 300 of 400, search 100 of 400.
        assert!(got.contains(&("payments".into(), "split: support (from unallocated)".into(), 751)), "{got:?}");
        assert!(got.contains(&("search".into(), "split: support (from unallocated)".into(), 250)), "{got:?}");
    }

    #[test]
    fn a_fixed_split_uses_its_percentages_and_they_must_sum_to_100() {
        let fixed = SplitConfig {
            percentages: [("payments".to_string(), 33.3), ("search".to_string(), 66.7)].into(),
            ..split("support", "AWS Support", SplitMethod::Fixed)
        };
        let got = split_outcome(vec![fixed.clone()], &shared_day());
        assert!(got.contains(&("payments".into(), "split: support (from unallocated)".into(), 333)), "{got:?}");
        assert!(got.contains(&("search".into(), "split: support (from unallocated)".into(), 668)), "{got:?}");
        let mut wrong = fixed;
        wrong.percentages.insert("search".into(), 60.0);
        let mut config = config(vec![("team", vec![])]);
        config.splits = vec![wrong];
        let err = Allocator::new(&config).err().unwrap().to_string();
        assert!(err.contains("`support`") && err.contains("93.3") && err.contains("not 100"), "{err}");
    }

    #[test]
    fn a_split_with_nobody_to_share_with_leaves_the_cost_where_the_rules_put_it() {
        let support = costing(fact("AWS Support", ("1", "a"), "r", "{}"), "2025-03-05", 42);
        let config = {
            let mut c = config(vec![("team", vec![tag_rule("team tag", "team")])]);
            c.splits = vec![split("support", "AWS Support", SplitMethod::Proportional)];
            c
        };
        let allocator = Allocator::new(&config).unwrap();
        let facts = [support];
        let allocation = allocator.allocate_period(&facts);
        let shares: Vec<_> =
            allocation.shares().map(|s| (s.choices[0].value.clone(), s.costs.effective_cost)).collect();
        assert_eq!(shares, vec![("unallocated".to_string(), Money::from_nanos(42))]);
        assert_eq!(allocation.unsplit_days().get("support"), Some(&1));
    }

    #[test]
    fn a_lookup_reads_owners_from_a_backstage_catalog_and_its_table_wins() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = dir.path().join("catalog-info.yaml");
        std::fs::write(
            &catalog,
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: checkout\n\
             spec:\n  type: service\n  owner: group:default/payments\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: search-api\n\
             spec:\n  owner: search\n---\n\
             apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: payments\nspec:\n  type: team\n",
        )
        .unwrap();
        let lookup = RuleConfig {
            value: None,
            lookup: Some(LookupConfig {
                dimension: "service".into(),
                table: [("search-api".to_string(), "discovery".to_string())].into(),
                catalog: Some(catalog.clone()),
            }),
            ..rule("catalog owner", Conditions::default(), "")
        };
        let config = config(vec![("service", vec![tag_rule("service tag", "service")]), ("team", vec![lookup])]);
        let team_of =
            |app: &str| values(&config, &fact("x", ("1", "a"), "r", &format!(r#"{{"app":"{app}"}}"#)))[1].0.clone();
        assert_eq!(team_of("checkout"), "payments");
        assert_eq!(team_of("search-api"), "discovery");
        assert_eq!(team_of("unknown"), "unallocated");

        std::fs::write(&catalog, "kind: Component\nmetadata: [not, a, map]\n").unwrap();
        let err = Allocator::new(&config).err().unwrap().to_string();
        assert!(
            err.contains("catalog-info.yaml") && err.contains("entity 1") && err.contains("catalog owner"),
            "{err}"
        );
    }

    #[test]
    fn broken_rules_are_refused_with_their_names() {
        let bad_regex = rule(
            "bad",
            Conditions { region: Some(Pattern::Regex { regex: "(".into() }), ..Conditions::default() },
            "x",
        );
        let err = Allocator::new(&config(vec![("team", vec![bad_regex])])).err().unwrap().to_string();
        assert!(err.contains("`bad`") && err.contains("team") && err.contains("regex"), "{err}");
        let two_values = RuleConfig { value_from_tag: Some("team".into()), ..rule("both", Conditions::default(), "x") };
        let err = Allocator::new(&config(vec![("team", vec![two_values])])).err().unwrap().to_string();
        assert!(err.contains("exactly one"), "{err}");
        let forward = RuleConfig {
            value: None,
            lookup: Some(LookupConfig { dimension: "service".into(), table: Default::default(), catalog: None }),
            ..rule("forward", Conditions::default(), "")
        };
        let err =
            Allocator::new(&config(vec![("team", vec![forward]), ("service", vec![])])).err().unwrap().to_string();
        assert!(err.contains("not allocated before"), "{err}");
    }
}
