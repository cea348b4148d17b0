//! Where each value of a daily group comes from in one export file's rows, compiled once per
//! file from its mapping and header, and the per-row work both readers (CSV and Parquet)
//! share: the group key, money (with per-row cases such as CUR amortisation) and tags
//! assembled from one column per tag. The readers only say how to get a column's value on
//! the current row ([`RowValues`]).

use super::groups::{ATTRIBUTE_TEXT, DailyGroups, GroupKey, KEY_DATES, KEY_TEXT, MONEY, RowAt};
use super::mapping::{ColumnSource, ExportMapping, FallbackSource, MoneyCase, RowCondition, first_in_header};
use super::tags::{TagFilter, rewrite_key_prefix};
use crate::focus::FocusColumn;

/// What a reader must deliver for a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A date or date-time, as text (`YYYY-MM-DD…`, `M/D/YYYY`, `YYYYMM`) or typed.
    Date,
    Text,
    /// Money, summed exactly.
    Amount,
    Quantity,
    /// A tags value: a JSON object as text, or a Parquet map.
    Tags,
}

/// An export column the layout reads.
#[derive(Debug, Clone)]
pub struct LayoutColumn {
    pub name: String,
    pub kind: ValueKind,
    /// Its place in the file's header.
    pub header_index: usize,
}

/// The values of the row being read, by layout column (an index into [`RowLayout::columns`]).
pub trait RowValues {
    /// The column's text; empty when the row leaves it empty.
    fn text(&mut self, column: usize) -> &[u8];
    /// The column's amount in pico-units; `None` when empty, `Err` with what is wrong when
    /// it is not an amount.
    fn amount(&mut self, column: usize) -> Result<Option<i128>, String>;
    /// The column's quantity; `None` when empty.
    fn quantity(&mut self, column: usize) -> Result<Option<f64>, String>;
    /// Appends the column's tags as JSON object text (nothing when the row has none).
    fn tags_json(&mut self, column: usize, out: &mut Vec<u8>);
    /// The line items the values stand for: one row, or rows already summed with the same
    /// values (whose amounts and quantities are then their sums).
    fn line_items(&self) -> i64 {
        1
    }
}

/// Where one value of the group comes from.
#[derive(Debug, Clone)]
enum Slot {
    /// The file has no column for it.
    Missing,
    Column(usize),
    Constant(Box<[u8]>),
    /// Tags, one column per key: (column, tag key before folding).
    TagColumns(Vec<(usize, String)>),
    /// A value that counts only on some rows (`when`, `unless_same_as` of the mapping).
    Conditional(Box<ConditionalValue>),
    /// A value with fallbacks for rows that leave it empty.
    Fallback(Box<FallbackValue>),
}

/// A column's value, or on a row that leaves it empty the first fallback that has one.
#[derive(Debug, Clone)]
struct FallbackValue {
    /// The value's own column; `None` when the file lacks it.
    column: Option<usize>,
    fallbacks: Vec<FallbackColumn>,
    last_resort: Option<(Box<[u8]>, usize)>,
}

/// One fallback: a column, read on the rows its selector selects.
#[derive(Debug, Clone)]
struct FallbackColumn {
    column: usize,
    when: Option<Selector>,
    /// The [`FallbackUse`] that counts its rows.
    counted: usize,
}

/// A fallback that fed some rows of a file: the ingest summary and the ledger count them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FallbackUse {
    pub column: FocusColumn,
    /// The export column the value came from, or the fixed value, as `value "(unknown)"`.
    pub source: String,
}

/// A text value read only on the rows a condition selects.
#[derive(Debug, Clone)]
struct ConditionalValue {
    /// The value's column; `None` when the file lacks it.
    column: Option<usize>,
    when: Option<Selector>,
    /// The value is empty where it equals this column's.
    unless_same_as: Option<usize>,
}

/// A compiled [`RowCondition`].
#[derive(Debug, Clone)]
struct Selector {
    condition: Condition,
    /// `is_not`: a non-empty value outside the list selects the row.
    negated: bool,
}

/// A money value's rule.
#[derive(Debug, Clone)]
struct MoneyRule {
    focus: FocusColumn,
    main: Option<usize>,
    zero_if_null: bool,
    cases: Vec<CaseRule>,
}

/// A case condition: the column (absent from the file: an empty value) and the values that
/// select the case.
#[derive(Debug, Clone)]
struct Condition {
    column: Option<usize>,
    values: Vec<Box<[u8]>>,
}

#[derive(Debug, Clone)]
struct CaseRule {
    when: Vec<Condition>,
    present: Vec<Option<usize>>,
    plus: Vec<Term>,
    minus: Vec<Term>,
}

#[derive(Debug, Clone)]
enum Term {
    Column(usize),
    /// A column the case needs that the file does not have: an error on a row that needs it.
    Absent(String),
}

/// A row value that breaks a rule.
#[derive(Debug, Clone)]
pub struct RowError {
    /// The layout column, when one is to blame.
    pub column: Option<usize>,
    pub problem: String,
    pub expected: String,
}

/// Buffers reused from row to row.
#[derive(Default)]
pub struct RowScratch {
    key: GroupKey,
    tags: Vec<u8>,
    conditional: Vec<u8>,
}

/// Null tokens (see `ExportMapping::null_values`), checked by length first: nearly every
/// field is longer than any token.
#[derive(Debug, Clone, Default)]
pub struct NullTokens {
    tokens: Vec<Box<[u8]>>,
    longest: usize,
}

impl NullTokens {
    pub fn new(tokens: &[String]) -> Self {
        NullTokens {
            tokens: tokens.iter().map(|t| t.as_bytes().into()).collect(),
            longest: tokens.iter().map(String::len).max().unwrap_or(0),
        }
    }

    /// `field`, or nothing when it is a null token.
    pub fn clean<'f>(&self, field: &'f [u8]) -> &'f [u8] {
        if field.len() <= self.longest && self.tokens.iter().any(|t| **t == *field) { b"" } else { field }
    }
}

/// How one file's rows become daily groups.
#[derive(Debug, Clone)]
pub struct RowLayout {
    pub columns: Vec<LayoutColumn>,
    /// [`KEY_DATES`], then [`KEY_TEXT`].
    key: Vec<Slot>,
    attributes: Vec<Slot>,
    money: Vec<MoneyRule>,
    quantity: Option<usize>,
    watermark: Option<usize>,
    /// The tag keys the store keeps: tag columns of other keys are not read, and readers that
    /// can (a Parquet map) leave other keys out of a row's tags before grouping.
    pub kept_tags: KeptTagKeys,
    /// Field values that mean "empty".
    pub null_tokens: NullTokens,
    /// The fallbacks the layout may use, indexed as `DailyGroups` counts them.
    pub fallback_uses: Vec<FallbackUse>,
}

/// Which export tag keys are kept, with the mapping's key prefixes rewritten before folding.
#[derive(Debug, Clone)]
pub struct KeptTagKeys {
    filter: TagFilter,
    prefixes: Vec<(String, String)>,
}

impl KeptTagKeys {
    pub fn new(filter: &TagFilter, prefixes: &[(String, String)]) -> Self {
        KeptTagKeys { filter: filter.clone(), prefixes: prefixes.to_vec() }
    }

    pub fn keeps(&self, key: &str) -> bool {
        self.filter.keeps(&rewrite_key_prefix(key, &self.prefixes))
    }
}

impl RowLayout {
    /// The layout of a file with `header` read through `mapping`; tag columns are read only
    /// for the keys `tags` keeps.
    pub fn new(mapping: &ExportMapping, header: &[String], tags: &TagFilter) -> Self {
        let mut layout = RowLayout {
            columns: Vec::new(),
            key: Vec::new(),
            attributes: Vec::new(),
            money: Vec::new(),
            quantity: None,
            watermark: None,
            kept_tags: KeptTagKeys::new(tags, mapping.tag_key_prefixes()),
            null_tokens: NullTokens::new(mapping.null_values()),
            fallback_uses: Vec::new(),
        };
        for focus in KEY_DATES {
            let slot = layout.slot(mapping, header, focus, ValueKind::Date);
            layout.key.push(slot);
        }
        for focus in KEY_TEXT {
            let kind = if focus == FocusColumn::Tags { ValueKind::Tags } else { ValueKind::Text };
            let slot = layout.slot(mapping, header, focus, kind);
            layout.key.push(slot);
        }
        for focus in ATTRIBUTE_TEXT {
            let slot = layout.slot(mapping, header, focus, ValueKind::Text);
            layout.attributes.push(slot);
        }
        for focus in MONEY {
            let rule = layout.money_rule(mapping, header, focus);
            layout.money.push(rule);
        }
        layout.quantity = mapping
            .resolve(FocusColumn::ConsumedQuantity, header)
            .map(|name| layout.column(header, name, ValueKind::Quantity).expect("resolved from the header"));
        layout.watermark = mapping.watermark.as_deref().and_then(|name| layout.column(header, name, ValueKind::Text));
        layout
    }

    /// Writes the row's watermark value (see `ExportMapping::watermark`) into `mark` and the
    /// billing account it counts for into `account`; `false` when the file has no watermark
    /// column.
    pub fn watermark(&self, row: &mut impl RowValues, account: &mut Vec<u8>, mark: &mut Vec<u8>) -> bool {
        let Some(column) = self.watermark else { return false };
        mark.clear();
        mark.extend_from_slice(row.text(column));
        account.clear();
        let account_slot =
            KEY_DATES.len() + KEY_TEXT.iter().position(|c| *c == FocusColumn::BillingAccountId).expect("in the grain");
        match &self.key[account_slot] {
            Slot::Column(column) => account.extend_from_slice(row.text(*column)),
            Slot::Constant(value) => account.extend_from_slice(value),
            Slot::Fallback(value) => {
                value.read(row, false, account);
            }
            Slot::Missing | Slot::TagColumns(_) | Slot::Conditional(_) => {}
        }
        true
    }

    pub fn column_name(&self, column: usize) -> &str {
        &self.columns[column].name
    }

    /// The layout column reading `name` as `kind`, added on first use; `None` when the
    /// header has no such column.
    fn column(&mut self, header: &[String], name: &str, kind: ValueKind) -> Option<usize> {
        if let Some(found) = self.columns.iter().position(|c| c.name == name && c.kind == kind) {
            return Some(found);
        }
        // The mapping's names match the header in another letter case too, as `first_in_header`.
        let header_index = header
            .iter()
            .position(|h| h == name)
            .or_else(|| header.iter().position(|h| h.eq_ignore_ascii_case(name)))?;
        self.columns.push(LayoutColumn { name: name.to_string(), kind, header_index });
        Some(self.columns.len() - 1)
    }

    fn slot(&mut self, mapping: &ExportMapping, header: &[String], focus: FocusColumn, kind: ValueKind) -> Slot {
        let Some(source) = mapping.column_source(focus) else { return Slot::Missing };
        if let Some(value) = &source.value {
            return Slot::Constant(value.as_bytes().into());
        }
        if let Some(prefix) = &source.columns_prefix {
            let mut columns = Vec::new();
            for name in header {
                let Some(key) = name.strip_prefix(prefix.as_str()) else { continue };
                if self.kept_tags.keeps(key) {
                    let column = self.column(header, name, ValueKind::Text).expect("a header column");
                    columns.push((column, key.to_string()));
                }
            }
            return Slot::TagColumns(columns);
        }
        let column = mapping.resolve(focus, header).map(|name| self.column(header, name, kind).expect("in the header"));
        if !source.fallback.is_empty() || source.fallback_value.is_some() {
            return self.fallback_slot(header, focus, kind, column, source);
        }
        if source.when.is_none() && source.unless_same_as.is_none() {
            return column.map_or(Slot::Missing, Slot::Column);
        }
        let when = source.when.as_ref().map(|condition| self.selector(header, condition));
        let unless_same_as = source
            .unless_same_as
            .as_ref()
            .and_then(|names| first_in_header(names.names(), header))
            .and_then(|name| self.column(header, name, ValueKind::Text));
        Slot::Conditional(Box::new(ConditionalValue { column, when, unless_same_as }))
    }

    fn fallback_slot(
        &mut self,
        header: &[String],
        focus: FocusColumn,
        kind: ValueKind,
        column: Option<usize>,
        source: &ColumnSource,
    ) -> Slot {
        let mut fallbacks = Vec::new();
        for FallbackSource { from, when } in &source.fallback {
            // A fallback the file has no column for is passed over. It is read as the column it
            // stands in for: a date fallback that is a Parquet timestamp is decoded to days, not
            // formatted as text on every row (and is often the usage date, already read).
            let Some(name) = first_in_header(from.names(), header) else { continue };
            let column = self.column(header, name, kind).expect("in the header");
            let when = when.as_ref().map(|condition| self.selector(header, condition));
            let counted = self.fallback_use(focus, name.to_string());
            fallbacks.push(FallbackColumn { column, when, counted });
        }
        let last_resort = source.fallback_value.as_ref().map(|value| {
            let counted = self.fallback_use(focus, format!("value \"{value}\""));
            (value.as_bytes().into(), counted)
        });
        Slot::Fallback(Box::new(FallbackValue { column, fallbacks, last_resort }))
    }

    fn fallback_use(&mut self, column: FocusColumn, source: String) -> usize {
        self.fallback_uses.push(FallbackUse { column, source });
        self.fallback_uses.len() - 1
    }

    fn selector(&mut self, header: &[String], condition: &RowCondition) -> Selector {
        let column =
            first_in_header(condition.column.names(), header).and_then(|n| self.column(header, n, ValueKind::Text));
        let (values, negated) = match (&condition.is, &condition.is_not) {
            (Some(values), _) => (values, false),
            (None, Some(values)) => (values, true),
            (None, None) => unreachable!("a mapping's when has is or is_not (checked when it is loaded)"),
        };
        let values = values.names().iter().map(|v| v.as_bytes().into()).collect();
        Selector { condition: Condition { column, values }, negated }
    }

    fn money_rule(&mut self, mapping: &ExportMapping, header: &[String], focus: FocusColumn) -> MoneyRule {
        let source: Option<&ColumnSource> = mapping.column_source(focus);
        let main = mapping.resolve(focus, header).and_then(|name| self.column(header, name, ValueKind::Amount));
        let cases = source.map_or(&[][..], |s| s.cases.as_slice()).iter().map(|case| self.case_rule(header, case));
        MoneyRule {
            focus,
            main,
            // A money column the file does not have counts as zero; required ones were
            // checked before the layout was built.
            zero_if_null: main.is_none() || mapping.zero_if_null(focus),
            cases: cases.collect(),
        }
    }

    fn case_rule(&mut self, header: &[String], case: &MoneyCase) -> CaseRule {
        let when = case
            .when
            .iter()
            .map(|(name, values)| {
                let column = self.column(header, name, ValueKind::Text);
                Condition { column, values: values.names().iter().map(|v| v.as_bytes().into()).collect() }
            })
            .collect();
        let present = case.when_present.iter().map(|name| self.column(header, name, ValueKind::Text)).collect();
        let mut terms = |names: &[String]| -> Vec<Term> {
            names
                .iter()
                .map(|name| match self.column(header, name, ValueKind::Amount) {
                    Some(column) => Term::Column(column),
                    None => Term::Absent(name.clone()),
                })
                .collect()
        };
        let plus = terms(&case.sum);
        let minus = terms(&case.minus);
        CaseRule { when, present, plus, minus }
    }

    /// Adds one row to `groups`.
    pub fn add_row(
        &self,
        row: &mut impl RowValues,
        scratch: &mut RowScratch,
        groups: &mut DailyGroups,
        at: Option<RowAt>,
    ) -> Result<(), RowError> {
        let mut picos = [0i128; 3];
        for (sum, rule) in picos.iter_mut().zip(&self.money) {
            *sum = rule.amount(row, self)?;
        }
        let consumed_quantity = match self.quantity {
            Some(column) => row.quantity(column).map_err(|problem| not_a_number(column, problem))?,
            None => None,
        };
        let line_items = row.line_items();
        let RowScratch { key, tags, conditional } = scratch;
        key.clear();
        for (index, slot) in self.key.iter().enumerate() {
            match slot {
                Slot::Missing => key.push(b""),
                Slot::Constant(value) => key.push(value),
                Slot::Column(column) if index < KEY_DATES.len() => key.push(date_key(row.text(*column))),
                Slot::Column(column) if self.columns[*column].kind == ValueKind::Tags => {
                    tags.clear();
                    row.tags_json(*column, tags);
                    key.push(tags);
                }
                Slot::Column(column) => key.push(row.text(*column)),
                Slot::TagColumns(columns) => {
                    tag_columns_json(row, columns, tags);
                    key.push(tags);
                }
                Slot::Conditional(value) => {
                    value.read(row, conditional);
                    key.push(conditional);
                }
                Slot::Fallback(value) => match value.read(row, index < KEY_DATES.len(), conditional) {
                    Some(counted) => {
                        groups.count_fallback(counted, line_items);
                        key.push_from_fallback(conditional);
                    }
                    None => key.push(conditional),
                },
            }
        }
        groups.add_row(key, picos, consumed_quantity.unwrap_or(0.0), line_items, at, |slot| {
            match &self.attributes[slot] {
                Slot::Column(column) => {
                    let text = row.text(*column);
                    (!text.is_empty()).then(|| String::from_utf8_lossy(text).into_owned())
                }
                Slot::Constant(value) => Some(String::from_utf8_lossy(value).into_owned()),
                Slot::Conditional(value) => {
                    let mut text = Vec::new();
                    value.read(row, &mut text);
                    (!text.is_empty()).then(|| String::from_utf8_lossy(&text).into_owned())
                }
                // Not counted: a group's names are read from one of its rows, not from each.
                Slot::Fallback(value) => {
                    let mut text = Vec::new();
                    value.read(row, false, &mut text);
                    (!text.is_empty()).then(|| String::from_utf8_lossy(&text).into_owned())
                }
                Slot::Missing | Slot::TagColumns(_) => None,
            }
        });
        Ok(())
    }
}

impl MoneyRule {
    fn amount(&self, row: &mut impl RowValues, layout: &RowLayout) -> Result<i128, RowError> {
        if let Some(case) = self.cases.iter().find(|case| case.selects(row)) {
            return case.amount(row, self.focus);
        }
        let Some(column) = self.main else { return Ok(0) };
        match row.amount(column) {
            Ok(Some(picos)) => Ok(picos),
            Ok(None) if self.zero_if_null => Ok(0),
            Ok(None) => Err(RowError {
                column: Some(column),
                problem: "the value is empty".into(),
                expected: format!("a value: {} ({}) is required on every row", self.focus, layout.column_name(column)),
            }),
            Err(problem) => Err(not_a_number(column, problem)),
        }
    }
}

impl Condition {
    /// The row's (trimmed) value of the condition's column, and whether it is listed.
    fn test<'r>(&self, row: &'r mut impl RowValues) -> (&'r [u8], bool) {
        let text = self.column.map_or(&b""[..], |c| row.text(c)).trim_ascii();
        (text, self.values.iter().any(|v| **v == *text))
    }
}

impl ConditionalValue {
    /// Writes the row's value into `out`: empty unless the row is selected.
    fn read(&self, row: &mut impl RowValues, out: &mut Vec<u8>) {
        out.clear();
        if let Some(Selector { condition, negated }) = &self.when {
            let (text, listed) = condition.test(row);
            if text.is_empty() || listed == *negated {
                return;
            }
            // Kept for a row that leaves the value itself empty: selected, it stays marked.
            out.extend_from_slice(text);
        }
        if let Some(column) = self.column {
            let value = row.text(column).trim_ascii();
            if !value.is_empty() {
                out.clear();
                out.extend_from_slice(value);
            }
        }
        if let Some(other) = self.unless_same_as
            && row.text(other).trim_ascii() == out.as_slice()
        {
            out.clear();
        }
    }
}

impl FallbackValue {
    /// Writes the row's value into `out` (cut to its date for a date) and returns the
    /// fallback that gave it, if one did.
    fn read(&self, row: &mut impl RowValues, date: bool, out: &mut Vec<u8>) -> Option<usize> {
        out.clear();
        if let Some(column) = self.column {
            let text = row.text(column).trim_ascii();
            if !text.is_empty() {
                out.extend_from_slice(if date { date_key(text) } else { text });
                return None;
            }
        }
        for fallback in &self.fallbacks {
            if let Some(Selector { condition, negated }) = &fallback.when {
                let (text, listed) = condition.test(row);
                if text.is_empty() || listed == *negated {
                    continue;
                }
            }
            let text = row.text(fallback.column).trim_ascii();
            if !text.is_empty() {
                out.extend_from_slice(if date { date_key(text) } else { text });
                return Some(fallback.counted);
            }
        }
        let (value, counted) = self.last_resort.as_ref()?;
        out.extend_from_slice(value);
        Some(*counted)
    }
}

impl CaseRule {
    fn selects(&self, row: &mut impl RowValues) -> bool {
        self.when.iter().all(|condition| condition.test(row).1)
            && self.present.iter().all(|column| column.is_some_and(|c| !row.text(c).trim_ascii().is_empty()))
    }

    fn amount(&self, row: &mut impl RowValues, focus: FocusColumn) -> Result<i128, RowError> {
        let mut total = 0i128;
        for (terms, sign) in [(&self.plus, 1), (&self.minus, -1)] {
            for term in terms {
                let column = match term {
                    Term::Column(column) => *column,
                    Term::Absent(name) => {
                        return Err(RowError {
                            column: None,
                            problem: format!("the row's {focus} is computed from column {name}, which the file lacks"),
                            expected: format!("a column named {name}"),
                        });
                    }
                };
                // Case columns are filled only on the rows they concern.
                let picos = row.amount(column).map_err(|problem| not_a_number(column, problem))?.unwrap_or(0);
                total += sign * picos;
            }
        }
        Ok(total)
    }
}

fn not_a_number(column: usize, problem: String) -> RowError {
    RowError { column: Some(column), problem, expected: "a decimal number such as 12.34, -0.5 or 5.6E-05".into() }
}

/// The part of a date or date-time value a row is grouped on: the date before a `T` or a
/// space (`2024-03-01T10:00:00Z`, `3/1/2024 00:00`, `20240301T000000.000Z`), at most ten
/// characters. Parsing happens once per group.
pub fn date_key(text: &[u8]) -> &[u8] {
    let end = text.iter().take(11).position(|&b| b == b'T' || b == b' ').unwrap_or(text.len().min(10));
    // A UTF-8 continuation byte is 0b10xx_xxxx: never cut inside a character.
    if text.get(end).is_none_or(|&b| (b as i8) >= -0x40) { &text[..end] } else { text }
}

/// Tags from one column per key, as a JSON object (empty when the row has none).
fn tag_columns_json(row: &mut impl RowValues, columns: &[(usize, String)], out: &mut Vec<u8>) {
    out.clear();
    for (column, key) in columns {
        push_tag(out, key, &String::from_utf8_lossy(row.text(*column).trim_ascii()));
    }
    close_tags(out);
}

/// Appends one tag to the JSON object being written into `out`, opening it on the first
/// tag; a tag without a value is left out. Every reader assembles tags this way.
pub fn push_tag(out: &mut Vec<u8>, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    out.push(if out.is_empty() { b'{' } else { b',' });
    write_json_string(out, key);
    out.push(b':');
    write_json_string(out, value);
}

/// Closes the object [`push_tag`] opened; a row without tags stays empty.
pub fn close_tags(out: &mut Vec<u8>) {
    if !out.is_empty() {
        out.push(b'}');
    }
}

/// Appends `text` as a JSON string.
fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // Tag keys and values rarely need escaping; this runs once per tag per row.
    if !text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        return;
    }
    serde_json::to_writer(&mut *out, text).expect("writing to memory");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped_only_when_needed() {
        let mut out = Vec::new();
        write_json_string(&mut out, "team");
        write_json_string(&mut out, "a\"b\\c\n");
        assert_eq!(String::from_utf8(out).unwrap(), r#""team""a\"b\\c\n""#);
    }

    #[test]
    fn dates_are_cut_before_the_time() {
        assert_eq!(date_key(b"2024-03-01T10:00:00Z"), b"2024-03-01");
        assert_eq!(date_key(b"3/1/2024 00:00:00"), b"3/1/2024");
        assert_eq!(date_key(b"20240301T000000.000Z"), b"20240301");
        assert_eq!(date_key(b"202403"), b"202403");
        assert_eq!(date_key(b"2024-03-01"), b"2024-03-01");
    }
}
