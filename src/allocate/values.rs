//! How a dimension compares the values it takes from tags, and which spelling of a folded
//! value it shows.
//!
//! Tags drift: `Checkout`, ` checkout ` and `CHECKOUT` are one team written three ways. A
//! dimension that folds (the default) treats them as one value and shows the spelling that
//! carries the most of its cost, so showback, budgets, anomaly series and API restrictions
//! see one team, and coverage lists the other spellings as a tagging clean-up's to-do list.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::focus::Money;

/// How a dimension compares the values it takes from tags: the tag values a rule reads,
/// its tag conditions, and the keys of its lookups.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ValueCase {
    /// Case- and whitespace-insensitively: `Checkout`, ` checkout ` and `CHECKOUT` are one
    /// value, shown in the spelling that carries the most cost.
    #[default]
    Fold,
    /// Exactly as written: three spellings are three values.
    Preserve,
}

impl ValueCase {
    /// The text `value` compares by.
    pub fn key(self, value: &str) -> Cow<'_, str> {
        match self {
            ValueCase::Fold => fold_value(value).into(),
            ValueCase::Preserve => value.into(),
        }
    }

    /// Whether `text` compares equal to `key` (a value already through [`ValueCase::key`]),
    /// without building `text`'s key: rule conditions test every cost this way.
    pub fn matches_key(self, text: &str, key: &str) -> bool {
        match self {
            ValueCase::Fold => crate::focus::folds_to(text, key),
            ValueCase::Preserve => text == key,
        }
    }

    /// Whether `a` and `b` are the same value.
    pub fn same(self, a: &str, b: &str) -> bool {
        a == b || self.key(a) == self.key(b)
    }
}

/// How each dimension compares its values, by name; a dimension not listed folds, as a new
/// one would.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValueCases(BTreeMap<String, ValueCase>);

impl ValueCases {
    /// Whether `a` and `b` are the same value of `dimension`.
    pub fn same(&self, dimension: &str, a: &str, b: &str) -> bool {
        self.0.get(dimension).copied().unwrap_or_default().same(a, b)
    }
}

impl FromIterator<(String, ValueCase)> for ValueCases {
    fn from_iter<I: IntoIterator<Item = (String, ValueCase)>>(cases: I) -> Self {
        ValueCases(cases.into_iter().collect())
    }
}

/// A value as folding compares it (as ingest folds tag keys).
pub use crate::focus::fold_case_and_space as fold_value;

/// What one spelling of a folded value carries: per currency, EffectiveCost and line items.
type SpellingWeight = BTreeMap<String, (Money, i64)>;

/// The cost each spelling of each folded value carries, gathered to choose the spelling shown.
#[derive(Default)]
pub struct SpellingCosts {
    /// (dimension index, folded value) → spelling → what it carries.
    groups: HashMap<(usize, String), HashMap<String, SpellingWeight>>,
}

impl SpellingCosts {
    /// Costs of dimension `dimension` that a tag spells `spelling`.
    pub fn add(&mut self, dimension: usize, spelling: &str, currency: &str, cost: Money, line_items: i64) {
        let group = self.groups.entry((dimension, fold_value(spelling))).or_default();
        let weight = group.entry(spelling.to_string()).or_default().entry(currency.to_string()).or_default();
        weight.0 += cost;
        weight.1 += line_items;
    }
}

/// Which spelling each folded value of each folding dimension shows.
pub struct Spellings {
    /// Per dimension: folded value → the value the config writes.
    written: Vec<HashMap<String, String>>,
    /// Per dimension: folded value → the spelling shown.
    shown: Vec<HashMap<String, String>>,
    /// Per dimension: folded values some cost spells otherwise than shown, which coverage
    /// lists.
    drifted: Vec<HashSet<String>>,
}

impl Spellings {
    /// Before any cost is seen: per dimension, the values the config writes (a rule's fixed
    /// value, a lookup's result, a split target, the default). They are kept as written,
    /// and tag spellings that fold to one of them show it, so the config's spelling and a
    /// tag's never list one value twice. When the config writes one value two ways, the
    /// first wins.
    pub fn new(written: Vec<Vec<&str>>) -> Self {
        let written: Vec<HashMap<String, String>> = written
            .into_iter()
            .map(|values| {
                let mut written = HashMap::new();
                for value in values {
                    written.entry(fold_value(value)).or_insert_with(|| value.to_string());
                }
                written
            })
            .collect();
        let drifted = vec![HashSet::new(); written.len()];
        Spellings { shown: written.clone(), written, drifted }
    }

    /// Chooses the spelling of every folded value `costs` saw, unless the config writes it.
    ///
    /// The spelling shown carries the most cost. Amounts in different currencies are never
    /// added or compared: spellings are ranked by their EffectiveCost in the value's main
    /// currency (the one most of its line items are billed in; ties: alphabetical), then by
    /// their line items in every currency (a count, whatever the currency), then lower case
    /// first, then alphabetically, so the choice never depends on the order costs come in.
    pub fn choose(&mut self, costs: SpellingCosts) {
        self.shown = self.written.clone();
        self.drifted.iter_mut().for_each(HashSet::clear);
        for ((d, folded), spellings) in costs.groups {
            let shown = match self.written[d].get(&folded) {
                Some(written) => written.clone(),
                None => choose_spelling(&spellings),
            };
            if spellings.keys().any(|spelling| *spelling != shown) {
                self.drifted[d].insert(folded.clone());
            }
            self.shown[d].insert(folded, shown);
        }
    }

    /// The value shown for `spelling` in dimension `d` — the chosen spelling of its folded
    /// value, or the folded value itself when none was chosen (costs the choice never saw
    /// still fold together) — and whether some cost spells that value otherwise than shown
    /// (folded once, as every allocated cost asks).
    pub fn show_and_drift(&self, d: usize, spelling: &str) -> (String, bool) {
        let folded = fold_value(spelling);
        let drifted = self.drifted[d].contains(&folded);
        match self.shown[d].get(&folded) {
            Some(shown) => (shown.clone(), drifted),
            None => (folded, drifted),
        }
    }
}

/// The spelling that carries the most cost, by the rule [`Spellings::choose`] states.
fn choose_spelling(spellings: &HashMap<String, SpellingWeight>) -> String {
    let mut line_items: BTreeMap<&str, i64> = BTreeMap::new();
    for weight in spellings.values() {
        for (currency, (_, items)) in weight {
            *line_items.entry(currency).or_default() += items;
        }
    }
    let main = line_items.iter().max_by_key(|(currency, items)| (**items, Reverse(**currency))).map(|(c, _)| *c);
    let rank = |(spelling, weight): &(&String, &SpellingWeight)| {
        let cost = main.and_then(|currency| weight.get(currency)).map_or(Money::ZERO, |(cost, _)| *cost);
        let line_items: i64 = weight.values().map(|(_, items)| items).sum();
        (Reverse(cost), Reverse(line_items), **spelling != spelling.to_lowercase(), (*spelling).clone())
    };
    spellings.iter().min_by_key(rank).map(|(spelling, _)| spelling.clone()).expect("a folded value has a spelling")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(text: &str) -> Money {
        Money::parse_decimal(text).unwrap()
    }

    /// The spelling dimension 0 shows for each `(spelling, currency, cost, line items)`.
    fn chosen(written: &[&str], costs: &[(&str, &str, &str, i64)]) -> Spellings {
        let mut spellings = Spellings::new(vec![written.to_vec()]);
        let mut gathered = SpellingCosts::default();
        for (spelling, currency, cost, line_items) in costs {
            gathered.add(0, spelling, currency, units(cost), *line_items);
        }
        spellings.choose(gathered);
        spellings
    }

    #[test]
    fn values_fold_case_and_whitespace_unless_preserved() {
        assert_eq!(fold_value("  Data \t Platform "), "data platform");
        assert!(ValueCase::Fold.same("CHECKOUT", " checkout "));
        assert!(!ValueCase::Preserve.same("CHECKOUT", "checkout"));
        let cases: ValueCases = [("service".to_string(), ValueCase::Preserve)].into_iter().collect();
        assert!(cases.same("team", "Payments", "payments") && !cases.same("service", "Payments", "payments"));
    }

    #[test]
    fn the_spelling_with_the_most_cost_shows_and_a_tie_goes_to_lower_case() {
        let spellings =
            chosen(&[], &[("Checkout", "USD", "50", 1), ("checkout", "USD", "30", 5), ("CHECKOUT", "USD", "20", 1)]);
        assert_eq!(spellings.show_and_drift(0, " CHECKOUT ").0, "Checkout");
        assert!(spellings.show_and_drift(0, "Checkout").1);
        let tie = chosen(&[], &[("Search", "USD", "10", 1), ("search", "USD", "10", 1), ("SEARCH", "USD", "10", 1)]);
        assert_eq!(tie.show_and_drift(0, "Search").0, "search");
        let one = chosen(&[], &[("Data", "USD", "10", 1)]);
        assert_eq!(one.show_and_drift(0, "data").0, "Data");
        assert!(!one.show_and_drift(0, "Data").1, "one spelling is nothing to clean up");
        // Never seen: shown folded, so it still is one value.
        assert_eq!(one.show_and_drift(0, "New Team").0, "new team");
    }

    #[test]
    fn currencies_are_never_added_the_main_one_decides() {
        // 900 EUR is not more than 100 USD: most line items are in USD.
        let spellings = chosen(&[], &[("Payments", "USD", "100", 3), ("payments", "EUR", "900", 1)]);
        assert_eq!(spellings.show_and_drift(0, "PAYMENTS").0, "Payments");
    }

    #[test]
    fn a_value_the_config_writes_is_kept_and_the_tags_spelling_it_otherwise_fold_into_it() {
        let spellings = chosen(&["platform"], &[("Platform", "USD", "100", 1)]);
        assert_eq!(spellings.show_and_drift(0, "Platform").0, "platform");
        assert!(spellings.show_and_drift(0, "platform").1);
    }
}
