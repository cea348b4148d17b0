//! Allocation: every cost fact gets one value per dimension (`team`, `service`, …) from the
//! first rule that matches it, or the dimension's default. Allocation moves money and never
//! makes or loses it: each fact's amounts go whole to its values, so allocated plus
//! unallocated equals ingested for every day, dimension and currency.
//!
//! Allocations are derived data: `finopsd allocate` recomputes them from the stored facts in
//! one transaction whenever rules or facts change.

pub mod config;
mod rules;

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;

pub use config::{AllocationConfig, DEFAULT_VALUE};
use rules::{CompiledRule, RuleValue, TagNormaliser};

use crate::focus::{BillingPeriod, CostFact, CostTotals};
use crate::store::{AllocatedCost, AllocationSummary, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AllocationError {
    #[error("allocation rule `{rule}` of dimension `{dimension}`: {problem}")]
    Rule { dimension: String, rule: String, problem: String },
    #[error("allocation dimension `{dimension}`: {problem}")]
    Dimension { dimension: String, problem: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a fact got its value in one dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AllocationMethod {
    /// A rule that takes the value from a tag.
    Tag { rule: String },
    /// A rule with a fixed or looked-up value.
    Rule { rule: String },
    /// No rule matched.
    Default,
}

impl std::fmt::Display for AllocationMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllocationMethod::Tag { rule } => write!(f, "tag: {rule}"),
            AllocationMethod::Rule { rule } => write!(f, "rule: {rule}"),
            AllocationMethod::Default => f.write_str("default"),
        }
    }
}

struct Dimension {
    name: String,
    default: String,
    rules: Vec<CompiledRule>,
}

/// The rules of every dimension, compiled and checked once.
pub struct Allocator {
    dimensions: Vec<Dimension>,
    tags: TagNormaliser,
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
            let earlier: Vec<&str> = dimensions.iter().map(|d| d.name.as_str()).collect();
            let rules = dimension
                .rules
                .iter()
                .map(|rule| {
                    CompiledRule::new(rule, &earlier).map_err(|problem| AllocationError::Rule {
                        dimension: dimension.name.clone(),
                        rule: rule.name.clone(),
                        problem,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            dimensions.push(Dimension { name: dimension.name.clone(), default: dimension.default.clone(), rules });
        }
        Ok(Allocator { dimensions, tags: TagNormaliser::new(config) })
    }

    /// Tag keys (as stored, normalised) that rules read, with the rule that reads each: a key
    /// ingest does not keep can never match.
    pub fn tag_keys_read(&self) -> Vec<(String, String)> {
        let mut keys = Vec::new();
        for dimension in &self.dimensions {
            for rule in &dimension.rules {
                for key in rule.tag_keys() {
                    for stored in self.tags.stored_keys(key) {
                        keys.push((stored, format!("{} / {}", dimension.name, rule.name)));
                    }
                }
            }
        }
        keys
    }

    /// One value per dimension, in dimension order, with how it was chosen.
    pub fn allocate(&self, fact: &CostFact, tags: &BTreeMap<String, String>) -> Vec<(String, AllocationMethod)> {
        let mut chosen: Vec<(String, AllocationMethod)> = Vec::with_capacity(self.dimensions.len());
        for dimension in &self.dimensions {
            let earlier = |name: &str| {
                self.dimensions.iter().zip(&chosen).find(|(d, _)| d.name == name).map(|(_, (value, _))| value.as_str())
            };
            let found = dimension.rules.iter().find_map(|rule| {
                if !rule.matches(&fact.key, tags) {
                    return None;
                }
                match &rule.value {
                    RuleValue::Fixed(value) => {
                        Some((value.clone(), AllocationMethod::Rule { rule: rule.name.clone() }))
                    }
                    RuleValue::FromTag(key) => tags
                        .get(key)
                        .filter(|v| !v.is_empty())
                        .map(|value| (value.clone(), AllocationMethod::Tag { rule: rule.name.clone() })),
                    RuleValue::Lookup { dimension, table } => earlier(dimension)
                        .and_then(|value| table.get(value))
                        .map(|value| (value.clone(), AllocationMethod::Rule { rule: rule.name.clone() })),
                }
            });
            chosen.push(found.unwrap_or_else(|| (dimension.default.clone(), AllocationMethod::Default)));
        }
        chosen
    }

    /// Allocates a batch of facts, summed per day, source, provider, currency and outcome;
    /// tags are normalised once per distinct tag set.
    pub fn allocate_facts(
        &self,
        facts: &[CostFact],
        normalised: &mut HashMap<String, BTreeMap<String, String>>,
    ) -> Vec<AllocatedCost> {
        type Outcome = (String, BillingPeriod, NaiveDate, String, String, Vec<(String, AllocationMethod)>);
        let mut sums: BTreeMap<Outcome, CostTotals> = BTreeMap::new();
        for fact in facts {
            let tags = normalised.entry(fact.key.tags.clone()).or_insert_with(|| self.tags.normalise(&fact.key.tags));
            let chosen = self.allocate(fact, tags);
            let k = &fact.key;
            let outcome =
                (k.source.clone(), k.billing_period, k.charge_date, k.provider.clone(), k.currency.clone(), chosen);
            sums.entry(outcome).or_default().add(&fact.amounts.costs);
        }
        let names: Vec<String> = self.dimensions.iter().map(|d| d.name.clone()).collect();
        sums.into_iter()
            .map(|((source, billing_period, charge_date, provider, currency, chosen), costs)| AllocatedCost {
                source,
                billing_period,
                charge_date,
                provider,
                currency,
                values: names.iter().cloned().zip(chosen.iter().map(|(value, _)| value.clone())).collect(),
                methods: names.iter().cloned().zip(chosen.iter().map(|(_, method)| method.to_string())).collect(),
                costs,
            })
            .collect()
    }
}

/// Recomputes every allocation from the stored facts with `allocator`, in one transaction.
pub async fn allocate_store(
    store: &Store,
    allocator: &Allocator,
    rules: &AllocationConfig,
) -> Result<AllocationSummary, AllocationError> {
    let rules_json = serde_json::to_string(rules).expect("the allocation config serialises");
    let mut normalised = HashMap::new();
    Ok(store.replace_allocations(&rules_json, |facts| allocator.allocate_facts(facts, &mut normalised)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocate::config::{Conditions, DimensionConfig, LookupConfig, Pattern, RuleConfig};
    use crate::focus::{FactAmounts, FactKey};

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
                .map(|(name, rules)| DimensionConfig { name: name.into(), default: DEFAULT_VALUE.into(), rules })
                .collect(),
            ..AllocationConfig::default()
        }
    }

    fn values(config: &AllocationConfig, fact: &CostFact) -> Vec<(String, AllocationMethod)> {
        let allocator = Allocator::new(config).unwrap();
        let tags = allocator.tags.normalise(&fact.key.tags);
        allocator.allocate(fact, &tags)
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
    fn the_canonical_tag_key_wins_over_its_aliases() {
        let config = config(vec![("team", vec![tag_rule("team tag", "team")])]);
        let both = fact("x", ("1", "a"), "r", r#"{"owner-team":"data","team":"search"}"#);
        assert_eq!(first_value(&config, &both), "search");
        assert_eq!(first_value(&config, &fact("x", ("1", "a"), "r", r#"{"owner-team":"data"}"#)), "data");
    }

    #[test]
    fn a_lookup_maps_an_earlier_dimension() {
        let lookup = RuleConfig {
            value: None,
            lookup: Some(LookupConfig {
                dimension: "service".into(),
                table: [("checkout".to_string(), "payments".to_string())].into(),
            }),
            ..rule("service owner", Conditions::default(), "")
        };
        let config = config(vec![("service", vec![tag_rule("service tag", "service")]), ("team", vec![lookup])]);
        let chosen = values(&config, &fact("x", ("1", "a"), "r", r#"{"app":"checkout"}"#));
        assert_eq!(chosen[1].0, "payments");
        assert_eq!(values(&config, &fact("x", ("1", "a"), "r", r#"{"app":"search"}"#))[1].0, "unallocated");
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
            lookup: Some(LookupConfig { dimension: "service".into(), table: Default::default() }),
            ..rule("forward", Conditions::default(), "")
        };
        let err =
            Allocator::new(&config(vec![("team", vec![forward]), ("service", vec![])])).err().unwrap().to_string();
        assert!(err.contains("not allocated before"), "{err}");
    }
}
