//! The `[allocation]` settings: dimensions, their ordered rules, and tag normalisation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::values::{ValueCase, ValueCases};

/// How spend is allocated. Each dimension (`team`, `service`, `cost_center`, …) gives every
/// cost one value: the first rule that matches it sets the value, and costs no rule matches
/// get the dimension's default.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AllocationConfig {
    /// Tag keys that mean the same thing: the canonical key and the keys folded into it,
    /// e.g. `team = ["owner-team", "owner_team"]`. Keys compare case- and
    /// whitespace-insensitively. When a cost carries several, the canonical key wins, then
    /// the aliases in the order listed.
    pub tag_aliases: BTreeMap<String, Vec<String>>,
    /// Tag values that mean the same thing, per canonical tag key: the value to use and the
    /// spellings folded into it, e.g. `[allocation.value_maps.environment]
    /// production = ["prod", "PROD"]`. Spellings compare case- and whitespace-insensitively.
    pub value_maps: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// The dimensions, allocated in this order (a lookup rule may use an earlier one).
    pub dimensions: Vec<DimensionConfig>,
    /// Shared costs (support plans, shared clusters, tax, …) divided among a dimension's
    /// values after the rules have run. For each dimension the first split that matches a
    /// cost divides it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub splits: Vec<SplitConfig>,
}

impl AllocationConfig {
    /// How each dimension compares its values.
    pub fn value_cases(&self) -> ValueCases {
        self.dimensions.iter().map(|d| (d.name.clone(), d.value_case)).collect()
    }
}

impl Default for AllocationConfig {
    /// `team`, `service` and `cost_center` from their tags, with the usual key aliases: what a
    /// new user needs to see showback at once.
    fn default() -> Self {
        let alias = |key: &str, aliases: &[&str]| (key.to_string(), aliases.iter().map(|a| a.to_string()).collect());
        let from_tag = |dimension: &str| DimensionConfig {
            name: dimension.into(),
            default: DEFAULT_VALUE.into(),
            rules: vec![RuleConfig {
                name: format!("{dimension} tag"),
                conditions: Conditions::default(),
                value: None,
                value_from_tag: Some(dimension.into()),
                lookup: None,
            }],
            value_case: ValueCase::Fold,
        };
        AllocationConfig {
            // The spellings ingest keeps by default (`ingest.tag_keys`).
            tag_aliases: [
                alias("team", &["owner-team"]),
                alias("service", &["app"]),
                alias("cost_center", &["cost-center"]),
                alias("environment", &["env"]),
            ]
            .into(),
            value_maps: BTreeMap::new(),
            dimensions: vec![from_tag("team"), from_tag("service"), from_tag("cost_center")],
            splits: Vec::new(),
        }
    }
}

/// What a cost gets when no rule of a dimension matches it.
pub const DEFAULT_VALUE: &str = "unallocated";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DimensionConfig {
    /// The dimension's name, e.g. `team`; reports and `--by` use it.
    pub name: String,
    /// The value of costs no rule matches.
    #[serde(default = "default_value")]
    pub default: String,
    /// Tried in order; the first that matches a cost sets its value.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// How the values the rules take from tags compare: `fold` (the default) makes
    /// `Checkout`, ` checkout ` and `CHECKOUT` one value, shown in the spelling that carries
    /// the most cost, and matches tag conditions and lookup keys the same way; `preserve`
    /// keeps every spelling apart. Values the config writes are kept as written.
    #[serde(default)]
    pub value_case: ValueCase,
}

fn default_value() -> String {
    DEFAULT_VALUE.into()
}

/// One allocation rule: conditions that must all hold, and where the value comes from
/// (exactly one of `value`, `value_from_tag`, `lookup`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Shown by explain and coverage, e.g. `platform accounts`.
    pub name: String,
    /// Every condition given must hold; a rule without conditions matches every cost.
    #[serde(default, rename = "match", skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
    /// A fixed value, e.g. `value = "platform"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value of this tag (after aliases and value maps); a cost without it does not
    /// match the rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from_tag: Option<String>,
    /// The value looked up from an earlier dimension's value, e.g. service → team.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup: Option<LookupConfig>,
}

/// Conditions on a cost's columns and tags. A pattern is exact text (`"Amazon EC2"`),
/// `{ glob = "platform-*" }` or `{ regex = "^prod-[0-9]+$" }`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Conditions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Pattern>,
    /// The billing account's id or name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_account: Option<Pattern>,
    /// The sub-account's (AWS account, Azure subscription, GCP project) id or name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_account: Option<Pattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Pattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_category: Option<Pattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Pattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charge_category: Option<Pattern>,
    /// The seller of a marketplace charge (empty on the provider's own charges):
    /// `{ regex = "." }` matches every marketplace charge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marketplace_publisher: Option<Pattern>,
    /// Tag values by (canonical) key, e.g. `tags = { environment = "production" }`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, Pattern>,
}

impl Conditions {
    fn is_empty(&self) -> bool {
        self == &Conditions::default()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Pattern {
    Exact(String),
    Glob { glob: String },
    Regex { regex: String },
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LookupConfig {
    /// The earlier dimension whose value is looked up, e.g. `service`.
    pub dimension: String,
    /// Its values and what they map to, e.g. `{ checkout = "payments" }`; these win over
    /// the catalog's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub table: BTreeMap<String, String>,
    /// A Backstage catalog file (`catalog-info.yaml`, relative to the config file): each
    /// entity's `metadata.name` maps to its `spec.owner` (`group:default/payments` reads as
    /// `payments`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<std::path::PathBuf>,
}

/// A shared-cost split: costs matching `match` leave the value the rules gave them (kept as
/// the split's origin, for explain) and are divided among `targets`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// Shown by explain and coverage, e.g. `support plan`.
    pub name: String,
    /// The dimension whose values receive the shares, e.g. `team`.
    pub dimension: String,
    /// Which costs are shared; every condition given must hold.
    #[serde(default, rename = "match", skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
    pub method: SplitMethod,
    /// The values that receive shares. Empty: every value other costs of the same day and
    /// currency have in the dimension (the default value and other shared costs excluded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// `fixed` only: percent per target, summing to exactly 100, e.g. `{ payments = 60, search = 40 }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub percentages: BTreeMap<String, f64>,
    /// `proportional` only: the costs that weigh, e.g. `{ service_category = "Compute" }`
    /// to share a cluster by compute spend. Without it every cost of a target weighs.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub basis: Conditions,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SplitMethod {
    /// The same share for each target.
    Even,
    /// In proportion to each target's own EffectiveCost on the same day, in the same
    /// currency (evenly on a day none of them has any).
    Proportional,
    /// Fixed percentages.
    Fixed,
}
