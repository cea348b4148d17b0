//! Rules compiled for matching, and tag normalisation (aliases, value maps).

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::config::{AllocationConfig, Conditions, Pattern, RuleConfig};
use super::values::{ValueCase, fold_value};
use crate::focus::FactKey;
use crate::ingest::normalise_tag_key;

/// A pattern ready to test text with. Exact text compares by `case` (folded or as written),
/// a glob ignores letter case when `case` folds; a regex is as written (`(?i)` makes it
/// ignore case).
enum Matcher {
    Exact { key: String, case: ValueCase },
    Glob(globset::GlobMatcher),
    Regex(regex::Regex),
}

impl Matcher {
    fn new(pattern: &Pattern, case: ValueCase) -> Result<Self, String> {
        Ok(match pattern {
            Pattern::Exact(text) => Matcher::Exact { key: case.key(text).into_owned(), case },
            Pattern::Glob { glob } => Matcher::Glob(
                globset::GlobBuilder::new(glob)
                    .case_insensitive(case == ValueCase::Fold)
                    .build()
                    .map_err(|e| format!("`{glob}` is not a valid glob: {e}"))?
                    .compile_matcher(),
            ),
            Pattern::Regex { regex } => {
                Matcher::Regex(regex::Regex::new(regex).map_err(|e| format!("`{regex}` is not a valid regex: {e}"))?)
            }
        })
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Matcher::Exact { key, case } => case.matches_key(text, key),
            Matcher::Glob(glob) => glob.is_match(text),
            Matcher::Regex(regex) => regex.is_match(text),
        }
    }
}

/// Which part of a fact a condition looks at.
#[derive(Clone, Copy)]
enum FactField {
    Provider,
    BillingAccount,
    SubAccount,
    Service,
    ServiceCategory,
    Region,
    ChargeCategory,
    MarketplacePublisher,
}

impl FactField {
    /// The fact's values for this field: an account matches by its id or its name.
    fn values(self, fact: &FactKey) -> [&str; 2] {
        match self {
            FactField::Provider => [&fact.provider, ""],
            FactField::BillingAccount => [&fact.billing_account_id, &fact.billing_account_name],
            FactField::SubAccount => [&fact.sub_account_id, &fact.sub_account_name],
            FactField::Service => [&fact.service_name, ""],
            FactField::ServiceCategory => [&fact.service_category, ""],
            FactField::Region => [&fact.region, ""],
            FactField::ChargeCategory => [&fact.charge_category, ""],
            FactField::MarketplacePublisher => [&fact.marketplace_publisher, ""],
        }
    }
}

pub enum RuleValue {
    Fixed(String),
    /// A canonical tag key.
    FromTag(String),
    Lookup {
        dimension: String,
        /// Keyed by the looked-up dimension's values as its `value_case` compares them: a
        /// folding dimension has one value per folded spelling, so its keys fold too.
        table: BTreeMap<String, String>,
        case: ValueCase,
    },
}

/// Conditions ready to test facts with. Columns match as written; tag values compare by the
/// `value_case` of the dimension the conditions allocate.
pub struct CompiledConditions {
    fields: Vec<(FactField, Matcher)>,
    /// By canonical tag key.
    tags: Vec<(String, Matcher)>,
}

impl CompiledConditions {
    pub fn new(conditions: &Conditions, case: ValueCase) -> Result<Self, String> {
        let Conditions {
            provider,
            billing_account,
            sub_account,
            service,
            service_category,
            region,
            charge_category,
            marketplace_publisher,
            tags,
        } = conditions;
        let mut fields = Vec::new();
        for (field, pattern) in [
            (FactField::Provider, provider),
            (FactField::BillingAccount, billing_account),
            (FactField::SubAccount, sub_account),
            (FactField::Service, service),
            (FactField::ServiceCategory, service_category),
            (FactField::Region, region),
            (FactField::ChargeCategory, charge_category),
            (FactField::MarketplacePublisher, marketplace_publisher),
        ] {
            if let Some(pattern) = pattern {
                fields.push((field, Matcher::new(pattern, ValueCase::Preserve)?));
            }
        }
        let tags = tags
            .iter()
            .map(|(key, pattern)| Ok((normalise_tag_key(key), Matcher::new(pattern, case)?)))
            .collect::<Result<_, String>>()?;
        Ok(CompiledConditions { fields, tags })
    }

    /// All conditions hold (no conditions match every fact).
    pub fn matches(&self, fact: &FactKey, tags: &BTreeMap<String, String>) -> bool {
        self.fields.iter().all(|(field, matcher)| {
            let [first, second] = field.values(fact);
            matcher.matches(first) || (!second.is_empty() && matcher.matches(second))
        }) && self.tags.iter().all(|(key, matcher)| tags.get(key).is_some_and(|value| matcher.matches(value)))
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.tags.is_empty()
    }

    /// The canonical tag keys the conditions read.
    pub fn tag_keys(&self) -> impl Iterator<Item = &str> {
        self.tags.iter().map(|(key, _)| key.as_str())
    }
}

pub struct CompiledRule {
    pub name: String,
    pub conditions: CompiledConditions,
    pub value: RuleValue,
}

impl CompiledRule {
    /// `case` is the rule's dimension's; `earlier` names the dimensions allocated before it,
    /// with theirs.
    pub fn new(rule: &RuleConfig, case: ValueCase, earlier: &[(&str, ValueCase)]) -> Result<Self, String> {
        let value = match (&rule.value, &rule.value_from_tag, &rule.lookup) {
            (Some(value), None, None) => RuleValue::Fixed(value.clone()),
            (None, Some(key), None) => RuleValue::FromTag(normalise_tag_key(key)),
            (None, None, Some(lookup)) => {
                let Some(&(_, looked_up)) = earlier.iter().find(|(name, _)| *name == lookup.dimension) else {
                    let names: Vec<&str> = earlier.iter().map(|(name, _)| *name).collect();
                    return Err(format!(
                        "the lookup reads dimension `{}`, which is not allocated before this one (earlier: {})",
                        lookup.dimension,
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    ));
                };
                let mut table = match &lookup.catalog {
                    Some(path) => catalog_owners(path)?,
                    None => BTreeMap::new(),
                };
                table.extend(lookup.table.clone());
                let table = table.into_iter().map(|(key, value)| (looked_up.key(&key).into_owned(), value)).collect();
                RuleValue::Lookup { dimension: lookup.dimension.clone(), table, case: looked_up }
            }
            _ => return Err("give exactly one of value, value_from_tag and lookup".into()),
        };
        Ok(CompiledRule {
            name: rule.name.clone(),
            conditions: CompiledConditions::new(&rule.conditions, case)?,
            value,
        })
    }

    /// The values the rule writes itself (not taken from a tag): its fixed value or its
    /// lookup's results.
    pub fn written_values(&self) -> Vec<&str> {
        match &self.value {
            RuleValue::Fixed(value) => vec![value],
            RuleValue::FromTag(_) => Vec::new(),
            RuleValue::Lookup { table, .. } => table.values().map(String::as_str).collect(),
        }
    }

    /// The canonical tag keys the rule reads.
    pub fn tag_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.conditions.tag_keys().collect();
        if let RuleValue::FromTag(key) = &self.value {
            keys.push(key);
        }
        keys
    }
}

/// A Backstage catalog's entities by `metadata.name`, with their `spec.owner` without the
/// entity-reference kind and namespace.
fn catalog_owners(path: &std::path::Path) -> Result<BTreeMap<String, String>, String> {
    #[derive(serde::Deserialize)]
    struct Entity {
        metadata: Metadata,
        #[serde(default)]
        spec: Option<Spec>,
    }
    #[derive(serde::Deserialize)]
    struct Metadata {
        name: String,
    }
    #[derive(serde::Deserialize)]
    struct Spec {
        owner: Option<String>,
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the catalog {}: {e}", path.display()))?;
    let mut owners = BTreeMap::new();
    for (i, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let value = serde_yaml_ng::Value::deserialize(document)
            .map_err(|e| format!("the catalog {} is not valid YAML: {e}", path.display()))?;
        if value.is_null() {
            continue;
        }
        let entity: Entity = serde_yaml_ng::from_value(value).map_err(|e| {
            format!("entity {} of the catalog {} lacks what a Backstage entity has: {e}", i + 1, path.display())
        })?;
        if let Some(owner) = entity.spec.and_then(|spec| spec.owner) {
            // `group:default/payments` → `payments`.
            let name = owner.rsplit(['/', ':']).next().unwrap_or(&owner).to_string();
            owners.insert(entity.metadata.name, name);
        }
    }
    Ok(owners)
}

/// Folds tag keys into their canonical key and tag values into their canonical spelling.
pub struct TagNormaliser {
    /// Stored key → (canonical key, precedence: 0 for the canonical key itself).
    keys: HashMap<String, (String, usize)>,
    /// Canonical key → folded spelling → value.
    values: HashMap<String, HashMap<String, String>>,
}

impl TagNormaliser {
    pub fn new(config: &AllocationConfig) -> Self {
        let mut keys = HashMap::new();
        for (canonical, aliases) in &config.tag_aliases {
            let canonical = normalise_tag_key(canonical);
            keys.insert(canonical.clone(), (canonical.clone(), 0));
            for (i, alias) in aliases.iter().enumerate() {
                keys.entry(normalise_tag_key(alias)).or_insert((canonical.clone(), i + 1));
            }
        }
        let values = config
            .value_maps
            .iter()
            .map(|(key, map)| {
                let spellings = map
                    .iter()
                    .flat_map(|(value, spellings)| {
                        spellings.iter().chain([value]).map(move |spelling| (fold_value(spelling), value.clone()))
                    })
                    .collect();
                (normalise_tag_key(key), spellings)
            })
            .collect();
        TagNormaliser { keys, values }
    }

    /// The stored (ingest-normalised) keys that fold into `canonical`.
    pub fn stored_keys(&self, canonical: &str) -> Vec<String> {
        let mut keys: Vec<String> =
            self.keys.iter().filter(|(_, (c, _))| c == canonical).map(|(stored, _)| stored.clone()).collect();
        if keys.is_empty() {
            keys.push(canonical.to_string());
        }
        keys.sort();
        keys
    }

    /// A fact's kept tags (a JSON object of normalised keys) under canonical keys and values.
    pub fn normalise(&self, tags_json: &str) -> BTreeMap<String, String> {
        // Facts hold what ingest wrote: a JSON object of text values.
        let stored: BTreeMap<String, String> = serde_json::from_str(tags_json).unwrap_or_default();
        let mut chosen: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for (key, value) in stored {
            let (canonical, precedence) = self.keys.get(&key).cloned().unwrap_or((key, 0));
            let value = match self.values.get(&canonical).and_then(|map| map.get(&fold_value(&value))) {
                Some(canonical_value) => canonical_value.clone(),
                None => value,
            };
            match chosen.get(&canonical) {
                Some((existing, _)) if *existing <= precedence => {}
                _ => {
                    chosen.insert(canonical, (precedence, value));
                }
            }
        }
        chosen.into_iter().map(|(key, (_, value))| (key, value)).collect()
    }
}
