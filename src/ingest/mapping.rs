//! Export mappings: which column of an export format feeds each FOCUS column. They are data
//! (`models/*.toml`), built into the binary and extendable from `ingest.models_dir`, so a new
//! format or a provider's variant is a file, not code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::focus::FocusColumn;

/// The mappings shipped in `models/`; one that `extends` another comes after it.
const BUILT_IN: &[(&str, &str)] = &[
    ("models/focus-1.0.toml", include_str!("../../models/focus-1.0.toml")),
    ("models/focus-1.0-preview.toml", include_str!("../../models/focus-1.0-preview.toml")),
    ("models/focus-1.1.toml", include_str!("../../models/focus-1.1.toml")),
    ("models/focus-1.2.toml", include_str!("../../models/focus-1.2.toml")),
    ("models/focus-1.3.toml", include_str!("../../models/focus-1.3.toml")),
    ("models/aws-cur-2.0.toml", include_str!("../../models/aws-cur-2.0.toml")),
    ("models/aws-cur-legacy.toml", include_str!("../../models/aws-cur-legacy.toml")),
    ("models/azure-ea.toml", include_str!("../../models/azure-ea.toml")),
    ("models/azure-mca.toml", include_str!("../../models/azure-mca.toml")),
    ("models/azure-mca-partner.toml", include_str!("../../models/azure-mca-partner.toml")),
    ("models/azure-usage-legacy.toml", include_str!("../../models/azure-usage-legacy.toml")),
    ("models/gcp-billing-export.toml", include_str!("../../models/gcp-billing-export.toml")),
    ("models/gcp-billing-export-detailed.toml", include_str!("../../models/gcp-billing-export-detailed.toml")),
    ("models/oracle-cost-report.toml", include_str!("../../models/oracle-cost-report.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("mapping file {path} is not valid: {message}")]
    Invalid { path: String, message: String },
    #[error("cannot read the models folder {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportMapping {
    /// Short name, e.g. `focus-1.2`; `--format` takes it and the ledger records it.
    pub name: String,
    pub description: String,
    /// Header columns that identify the format; all must be present (an entry may list
    /// spellings, any of which will do).
    pub detect: Vec<OneOrMany>,
    /// A mapping (built in, or earlier in `models_dir`) whose columns and null values this
    /// one starts from; its own columns replace the base's column by column. A schema
    /// version that renames a few columns is a few lines, not a copy.
    pub extends: Option<String>,
    #[serde(default)]
    pub columns: BTreeMap<FocusColumn, ColumnSource>,
    /// Whole field values that mean "no value" (FOCUS samples write a bare `NULL`), quoted
    /// or not; compared exactly. Inherited through `extends` unless set.
    pub null_values: Option<Vec<String>>,
    /// The format comes as an actual and an amortised export of the same scope and month
    /// (Azure): read together, BilledCost comes from the actual one and EffectiveCost from
    /// the amortised one.
    #[serde(default)]
    pub paired_datasets: bool,
    /// A column that grows with every append to the export (GCP `export_time`): a row at or
    /// below the highest value of an earlier file of the same ingest was read already.
    pub watermark: Option<String>,
    /// Column names are dotted paths into nested records (`service.description`), and a path
    /// through a repeated record collects every element (`credits.amount`). JSON lines hold
    /// such records as they are; a CSV holds one column per path, a repeated record as a
    /// JSON array; a Parquet file as structs and lists of structs.
    #[serde(default)]
    pub nested: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSource {
    /// The export's column, or alternatives in order of preference.
    pub from: Option<OneOrMany>,
    /// A fixed value for every row, when the format has no column for it (CUR has no
    /// provider column: every row is AWS).
    pub value: Option<String>,
    /// Tags only: one export column per tag, named by this prefix and the tag key
    /// (legacy CUR's `resourceTags/user:team`).
    pub columns_prefix: Option<String>,
    /// The column must exist and no row may leave it empty.
    #[serde(default)]
    pub required: bool,
    /// Money only: an empty value counts as zero.
    #[serde(default)]
    pub zero_if_null: bool,
    /// Text only: export value → FOCUS value (CUR line item types → ChargeCategory).
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// Text with `values`: the FOCUS value of an export value not listed (default: the
    /// value unchanged).
    pub other: Option<String>,
    /// Money only: rows matching a case take their amount from the case's columns instead
    /// (CUR amortisation by line item type). The first matching case wins.
    #[serde(default)]
    pub cases: Vec<MoneyCase>,
    /// Tags only: tag key prefixes rewritten before keys are folded (`user_` → nothing,
    /// `aws_` → `aws:`); the first listed prefix a key starts with applies.
    #[serde(default)]
    pub key_prefixes: Vec<(String, String)>,
    /// Text only: the value counts only on rows this condition selects and is empty on the
    /// others (a CUR row is a marketplace charge when its billing entity is `AWS
    /// Marketplace`). A selected row that leaves the value empty takes the condition
    /// column's value instead, so it stays marked.
    pub when: Option<RowCondition>,
    /// Text only: the value is empty on rows where it equals this column's value (a FOCUS
    /// row whose PublisherName is its InvoiceIssuerName is the provider's own charge).
    pub unless_same_as: Option<OneOrMany>,
    /// Text and dates only: where the value comes from on a row that leaves it empty, tried
    /// in order (an Azure row without a MeterCategory takes its ConsumedService). Descriptive
    /// values never refuse a file; the ingest counts the rows each fallback fed.
    #[serde(default)]
    pub fallback: Vec<FallbackSource>,
    /// Text only: the value of a row that leaves the column and every fallback empty.
    pub fallback_value: Option<String>,
}

/// One fallback of a column: another column, read only on the rows `when` selects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackSource {
    /// The column, or its spellings in order of preference.
    pub from: OneOrMany,
    pub when: Option<RowCondition>,
}

/// A condition on one column of a row: its (trimmed) value is one of `is`, or is non-empty
/// and none of `is_not`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowCondition {
    /// The column, or its spellings in order of preference.
    pub column: OneOrMany,
    pub is: Option<OneOrMany>,
    pub is_not: Option<OneOrMany>,
}

/// A per-row rule for a money column: when every condition holds, the amount is
/// Σ `sum` − Σ `minus` (empty values count as zero; no columns at all is zero).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyCase {
    /// Column → the values that select this case (exact text).
    #[serde(default)]
    pub when: BTreeMap<String, OneOrMany>,
    /// Columns that must be non-empty too.
    #[serde(default)]
    pub when_present: Vec<String>,
    #[serde(default)]
    pub sum: Vec<String>,
    #[serde(default)]
    pub minus: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn names(&self) -> &[String] {
        match self {
            OneOrMany::One(name) => std::slice::from_ref(name),
            OneOrMany::Many(names) => names,
        }
    }
}

impl ColumnSource {
    fn names(&self) -> &[String] {
        self.from.as_ref().map_or(&[], OneOrMany::names)
    }

    /// The columns `when`, `unless_same_as` and the fallbacks read.
    fn condition_names(&self) -> impl Iterator<Item = &String> {
        let when = self.when.iter().flat_map(|c| c.column.names());
        let fallbacks = self
            .fallback
            .iter()
            .flat_map(|f| f.from.names().iter().chain(f.when.iter().flat_map(|c| c.column.names())));
        when.chain(self.unless_same_as.iter().flat_map(OneOrMany::names)).chain(fallbacks)
    }
}

/// The first of `names` that `header` has; failing that, the first it has in another letter
/// case (Azure writes `SubscriptionId`, `subscriptionId` or `subscriptionid` depending on the
/// agreement and the export's version). Detection compares exactly.
pub fn first_in_header<'h>(names: &[String], header: &'h [String]) -> Option<&'h str> {
    let exact = names.iter().find_map(|name| header.iter().find(|h| *h == name));
    let any_case = || names.iter().find_map(|name| header.iter().find(|h| h.eq_ignore_ascii_case(name)));
    exact.or_else(any_case).map(String::as_str)
}

/// The FOCUS columns every mapping must feed: a cost fact cannot exist without them.
const FACT_GRAIN_REQUIRED: [FocusColumn; 9] = [
    FocusColumn::ChargePeriodStart,
    FocusColumn::BillingPeriodStart,
    FocusColumn::ProviderName,
    FocusColumn::BillingAccountId,
    FocusColumn::ServiceName,
    FocusColumn::ChargeCategory,
    FocusColumn::BillingCurrency,
    FocusColumn::BilledCost,
    FocusColumn::EffectiveCost,
];

impl ExportMapping {
    /// Reads a mapping file; `earlier` holds the mappings an `extends` may name.
    fn parse(origin: &str, text: &str, earlier: &[ExportMapping]) -> Result<ExportMapping, MappingError> {
        let invalid = |message: String| MappingError::Invalid { path: origin.to_string(), message };
        let mut mapping: ExportMapping = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if let Some(base_name) = &mapping.extends {
            let base = earlier.iter().find(|m| &m.name == base_name).ok_or_else(|| {
                invalid(format!("extends {base_name}, which is not a mapping loaded before this one"))
            })?;
            let own = std::mem::take(&mut mapping.columns);
            mapping.columns = base.columns.clone();
            mapping.columns.extend(own);
            mapping.null_values = mapping.null_values.or_else(|| base.null_values.clone());
        }
        for column in FACT_GRAIN_REQUIRED {
            match mapping.columns.get(&column) {
                Some(source) if source.required => {}
                _ => return Err(invalid(format!("column {column} must be mapped with required = true"))),
            }
        }
        for (column, source) in &mapping.columns {
            let kinds = [source.from.is_some(), source.value.is_some(), source.columns_prefix.is_some()];
            if kinds.iter().filter(|k| **k).count() != 1 {
                return Err(invalid(format!("{column} needs exactly one of from, value or columns_prefix")));
            }
            // Each option and the columns it applies to.
            let (money, tags) = (column.is_money(), *column == FocusColumn::Tags);
            let options = [
                ("zero_if_null", source.zero_if_null, money),
                ("cases", !source.cases.is_empty(), money),
                ("values", !source.values.is_empty(), !money && !tags),
                ("other", source.other.is_some(), !money && !tags),
                ("when", source.when.is_some(), !money && !tags),
                ("unless_same_as", source.unless_same_as.is_some(), !money && !tags),
                ("key_prefixes", !source.key_prefixes.is_empty(), tags),
                ("columns_prefix", kinds[2], tags),
                ("fallback", !source.fallback.is_empty(), !money && !tags),
                ("fallback_value", source.fallback_value.is_some(), !money && !tags && !column.is_date()),
            ];
            let misplaced = options.iter().find(|(_, set, applies)| *set && !applies);
            if let Some((option, ..)) = misplaced {
                return Err(invalid(format!("{option} does not apply to {column}")));
            }
            if source.other.is_some() && source.values.is_empty() {
                return Err(invalid(format!("{column}: other needs values")));
            }
            let conditions = source.when.iter().chain(source.fallback.iter().filter_map(|f| f.when.as_ref()));
            for condition in conditions {
                if condition.is.is_some() == condition.is_not.is_some() {
                    return Err(invalid(format!("{column}: when needs exactly one of is or is_not")));
                }
            }
        }
        if mapping.detect.is_empty() {
            return Err(invalid("detect must name at least one column".into()));
        }
        Ok(mapping)
    }

    /// The export column feeding `column` in a file with this `header`, if any.
    pub fn resolve<'h>(&self, column: FocusColumn, header: &'h [String]) -> Option<&'h str> {
        first_in_header(self.columns.get(&column)?.names(), header)
    }

    /// How `column` is fed, if the mapping feeds it.
    pub fn column_source(&self, column: FocusColumn) -> Option<&ColumnSource> {
        self.columns.get(&column)
    }

    /// Whether `column` can be fed without its own column in `header`: by a constant, by tag
    /// columns, by a fallback column the header has or by a fallback value.
    fn is_fed_without_column(&self, column: FocusColumn, header: &[String]) -> bool {
        self.columns.get(&column).is_some_and(|s| {
            s.value.is_some()
                || s.columns_prefix.is_some()
                || s.fallback_value.is_some()
                || s.fallback.iter().any(|f| first_in_header(f.from.names(), header).is_some())
        })
    }

    /// The tokens that mean an empty field.
    pub fn null_values(&self) -> &[String] {
        self.null_values.as_deref().unwrap_or_default()
    }

    /// The FOCUS value of export value `value` of text column `column`.
    pub fn translate(&self, column: FocusColumn, value: Option<String>) -> Option<String> {
        let Some(source) = self.columns.get(&column).filter(|s| !s.values.is_empty()) else { return value };
        let value = value?;
        Some(source.values.get(&value).or(source.other.as_ref()).cloned().unwrap_or(value))
    }

    /// How tag keys are rewritten before folding.
    pub fn tag_key_prefixes(&self) -> &[(String, String)] {
        self.columns.get(&FocusColumn::Tags).map_or(&[], |s| s.key_prefixes.as_slice())
    }

    /// Every column name the mapping reads (tag column prefixes aside).
    pub fn referenced_columns(&self) -> Vec<&str> {
        let mut names: Vec<&str> =
            self.columns
                .values()
                .flat_map(|source| {
                    let cases = source.cases.iter().flat_map(|case| {
                        case.when.keys().chain(&case.when_present).chain(&case.sum).chain(&case.minus)
                    });
                    source.names().iter().chain(cases).chain(source.condition_names())
                })
                .chain(&self.watermark)
                .map(String::as_str)
                .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Header columns this mapping reads nothing from.
    pub fn unused_columns<'h>(&self, header: &'h [String]) -> Vec<&'h str> {
        let referenced = self.referenced_columns();
        let prefixes: Vec<&str> = self.columns.values().filter_map(|s| s.columns_prefix.as_deref()).collect();
        let used = |name: &str| referenced.contains(&name) || prefixes.iter().any(|p| name.starts_with(p));
        header.iter().map(String::as_str).filter(|name| !used(name)).collect()
    }

    /// Whether an empty value of money column `column` counts as zero.
    pub fn zero_if_null(&self, column: FocusColumn) -> bool {
        self.columns.get(&column).is_some_and(|c| c.zero_if_null)
    }

    /// Required FOCUS columns with no source in `header`, with the names that were looked for.
    pub fn missing_required(&self, header: &[String]) -> Vec<(FocusColumn, String)> {
        self.columns
            .iter()
            .filter(|(column, source)| {
                source.required
                    && !self.is_fed_without_column(**column, header)
                    && self.resolve(**column, header).is_none()
            })
            .map(|(column, source)| (*column, source.names().join(" or ")))
            .collect()
    }

    fn detect_score(&self, header: &[String]) -> usize {
        self.detect.iter().filter(|entry| entry.names().iter().any(|c| header.contains(c))).count()
    }

    /// The detect columns `header` lacks (the first spelling of each).
    pub fn missing_detect_columns(&self, header: &[String]) -> Vec<&str> {
        let missing = self.detect.iter().filter(|entry| !entry.names().iter().any(|c| header.contains(c)));
        missing.filter_map(|entry| entry.names().first().map(String::as_str)).collect()
    }
}

impl FocusColumn {
    pub fn is_money(self) -> bool {
        matches!(self, FocusColumn::BilledCost | FocusColumn::EffectiveCost | FocusColumn::ListCost)
    }

    fn is_date(self) -> bool {
        matches!(self, FocusColumn::ChargePeriodStart | FocusColumn::BillingPeriodStart)
    }
}

/// The header with localised names replaced by the English name they carry in parentheses
/// (Azure portal downloads in German: `Abonnement-GUID (SubscriptionGuid)` →
/// `SubscriptionGuid`); `None` when no name has that form.
pub fn english_header(header: &[String]) -> Option<Vec<String>> {
    let english = |name: &str| {
        let inner = name.strip_suffix(')')?.rsplit_once(" (")?.1;
        let is_name = !inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        is_name.then(|| inner.to_string())
    };
    let renamed: Vec<Option<String>> = header.iter().map(|name| english(name)).collect();
    if renamed.iter().all(Option::is_none) {
        return None;
    }
    Some(header.iter().zip(renamed).map(|(name, english)| english.unwrap_or_else(|| name.clone())).collect())
}

/// All mappings an ingest can use.
#[derive(Debug, Clone)]
pub struct MappingSet {
    mappings: Vec<ExportMapping>,
}

/// How a file's header matched the known formats.
pub enum Detection<'a> {
    Found(&'a ExportMapping),
    /// The closest format, which the header does not fully satisfy.
    Closest(&'a ExportMapping),
    Unknown,
}

impl MappingSet {
    /// The built-in mappings, plus or replaced by those in `models_dir`.
    pub fn load(models_dir: Option<&Path>) -> Result<MappingSet, MappingError> {
        let mut mappings: Vec<ExportMapping> = Vec::new();
        for (origin, text) in BUILT_IN {
            let mapping = ExportMapping::parse(origin, text, &mappings)?;
            mappings.push(mapping);
        }
        if let Some(dir) = models_dir {
            let read_error = |source| MappingError::Read { path: dir.to_path_buf(), source };
            let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
                .map_err(read_error)?
                .map(|entry| entry.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(read_error)?;
            paths.retain(|p| p.extension().is_some_and(|e| e == "toml"));
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| MappingError::Read { path: path.clone(), source })?;
                let mapping = ExportMapping::parse(&path.display().to_string(), &text, &mappings)?;
                mappings.retain(|m| m.name != mapping.name);
                mappings.push(mapping);
            }
        }
        Ok(MappingSet { mappings })
    }

    pub fn by_name(&self, name: &str) -> Option<&ExportMapping> {
        self.mappings.iter().find(|m| m.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.mappings.iter().map(|m| m.name.as_str()).collect()
    }

    /// The most specific mapping whose detect columns are all in `header`.
    pub fn detect(&self, header: &[String]) -> Detection<'_> {
        let full =
            self.mappings.iter().filter(|m| m.detect_score(header) == m.detect.len()).max_by_key(|m| m.detect.len());
        if let Some(mapping) = full {
            return Detection::Found(mapping);
        }
        match self.closest(header) {
            Some(m) if m.detect_score(header) * 2 >= m.detect.len() => Detection::Closest(m),
            _ => Detection::Unknown,
        }
    }

    /// The format `header` comes closest to: most detect columns present, then the fewest
    /// missing (a FOCUS file that lost one column is reported as such); `None` when it has
    /// none of any format's.
    pub fn closest(&self, header: &[String]) -> Option<&ExportMapping> {
        let best = self.mappings.iter().max_by_key(|m| (m.detect_score(header), usize::MAX - m.detect.len()))?;
        (best.detect_score(header) > 0).then_some(best)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|c| c.to_string()).collect()
    }

    const FOCUS_1_0: [&str; 11] = [
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "BillingCurrency",
        "ChargePeriodStart",
        "BillingPeriodStart",
        "ChargeCategory",
        "ProviderName",
        "BillingAccountId",
        "ServiceName",
        "RegionId",
    ];

    #[test]
    fn the_most_specific_focus_version_wins() {
        let set = MappingSet::load(None).unwrap();
        let mut columns = header(&FOCUS_1_0);
        assert!(matches!(set.detect(&columns), Detection::Found(m) if m.name == "focus-1.0"));
        columns.push("ServiceSubcategory".into());
        assert!(matches!(set.detect(&columns), Detection::Found(m) if m.name == "focus-1.1"));
        columns.push("InvoiceId".into());
        assert!(matches!(set.detect(&columns), Detection::Found(m) if m.name == "focus-1.2"));
    }

    #[test]
    fn a_file_missing_one_column_is_named_as_close() {
        let set = MappingSet::load(None).unwrap();
        let columns: Vec<String> = header(&FOCUS_1_0).into_iter().filter(|c| c != "BillingCurrency").collect();
        let Detection::Closest(mapping) = set.detect(&columns) else { panic!("expected a close match") };
        let missing = mapping.missing_required(&columns);
        assert_eq!(missing, vec![(FocusColumn::BillingCurrency, "BillingCurrency".to_string())]);
        assert!(matches!(set.detect(&header(&["a", "b"])), Detection::Unknown));
    }

    #[test]
    fn alternatives_resolve_in_order() {
        let set = MappingSet::load(None).unwrap();
        let mapping = set.by_name("focus-1.0").unwrap();
        assert_eq!(mapping.resolve(FocusColumn::RegionId, &header(&["Region"])), Some("Region"));
        assert_eq!(mapping.resolve(FocusColumn::RegionId, &header(&["Region", "RegionId"])), Some("RegionId"));
    }

    #[test]
    fn a_row_condition_needs_exactly_one_test() {
        let set = MappingSet::load(None).unwrap();
        let header = header(&["line_item_legal_entity", "bill_billing_entity"]);
        assert!(set.by_name("aws-cur-2.0").unwrap().referenced_columns().contains(&"bill_billing_entity"));
        assert!(set.by_name("aws-cur-2.0").unwrap().unused_columns(&header).is_empty());
        let base = BUILT_IN[0].1;
        let both = base
            .replace("unless_same_as = \"InvoiceIssuerName\"", "when = { column = \"a\", is = \"b\", is_not = \"c\" }");
        let err = ExportMapping::parse("x.toml", &both, &[]).unwrap_err();
        assert!(err.to_string().contains("exactly one of is or is_not"), "{err}");
        let on_money = base.replace(
            "BilledCost         = { from = \"BilledCost\", required = true }",
            "BilledCost = { from = \"BilledCost\", required = true, unless_same_as = \"ListCost\" }",
        );
        let err = ExportMapping::parse("x.toml", &on_money, &[]).unwrap_err();
        assert!(err.to_string().contains("unless_same_as does not apply to BilledCost"), "{err}");
    }

    #[test]
    fn mappings_must_feed_the_fact_grain() {
        let err =
            ExportMapping::parse("x.toml", "name='x'\ndescription='x'\ndetect=['a']\n[columns]\n", &[]).unwrap_err();
        assert!(err.to_string().contains("ChargePeriodStart"), "{err}");
    }
}
