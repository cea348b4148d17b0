//! Daily groups of line items: the aggregation both readers (CSV and Parquet) feed row by
//! row, and the export totals derived from it.
//!
//! A group is keyed by the raw values of the grain's columns, each written as a
//! little-endian `u32` length and the bytes: building a key is one buffer copy per row, with
//! no allocation unless the group is new. Values are parsed and checked once per group
//! (dates, currency codes, tags), on thousands of groups instead of millions of rows.

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;

use chrono::NaiveDate;
use foldhash::HashMap;

use super::error::Position;
use crate::focus::FocusColumn;

/// Date columns of the grain, grouped on by the calendar date they start on.
pub const KEY_DATES: [FocusColumn; 2] = [FocusColumn::ChargePeriodStart, FocusColumn::BillingPeriodStart];
/// Text columns of the grain, in the order they are grouped on.
pub const KEY_TEXT: [FocusColumn; 9] = [
    FocusColumn::ProviderName,
    FocusColumn::BillingAccountId,
    FocusColumn::SubAccountId,
    FocusColumn::ServiceName,
    FocusColumn::RegionId,
    FocusColumn::ChargeCategory,
    FocusColumn::BillingCurrency,
    FocusColumn::Tags,
    FocusColumn::MarketplacePublisher,
];
/// Names that depend on an id in the grain: carried along (the first non-empty value), not
/// grouped on.
pub const ATTRIBUTE_TEXT: [FocusColumn; 3] =
    [FocusColumn::BillingAccountName, FocusColumn::SubAccountName, FocusColumn::ServiceCategory];
/// Money columns, in the order of [`GroupSums::picos`].
pub const MONEY: [FocusColumn; 3] = [FocusColumn::BilledCost, FocusColumn::EffectiveCost, FocusColumn::ListCost];

/// One daily group of line items, before tag normalisation. Text is `None` where the export
/// left it empty; the caller decides which of those are errors.
#[derive(Debug, Clone)]
pub struct ExportGroup {
    /// `Err` holds a value that is not a date.
    pub charge_date: Result<Option<NaiveDate>, String>,
    pub billing_period_start: Result<Option<NaiveDate>, String>,
    pub provider: Option<String>,
    pub billing_account_id: Option<String>,
    pub billing_account_name: Option<String>,
    pub sub_account_id: Option<String>,
    pub sub_account_name: Option<String>,
    pub service_name: Option<String>,
    pub service_category: Option<String>,
    pub region: Option<String>,
    pub charge_category: Option<String>,
    pub currency: Option<String>,
    pub raw_tags: Option<String>,
    pub marketplace_publisher: Option<String>,
    pub billed_picos: i128,
    pub effective_picos: i128,
    pub list_picos: i128,
    pub consumed_quantity: f64,
    pub line_items: i64,
    /// The first row of the group, where the reader knows it (CSV): a value of the group that
    /// breaks a rule is reported there.
    pub first_row: Option<Position>,
    /// Which of the values that decide where the group's money is stored (its billing
    /// period and source) a mapping's fallback gave, the row leaving its own column empty.
    pub fallback_fed: PartitionFallbacks,
}

/// Whether a group's billing period, provider and billing account came from fallbacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionFallbacks {
    pub billing_period: bool,
    pub provider: bool,
    pub billing_account: bool,
}

/// Marks a key value a fallback gave (see [`GroupKey::push_from_fallback`]): a control
/// character no export writes in a date or an id.
const FROM_FALLBACK: u8 = 0x1f;

/// The export's own column sums for one billing period, currency and billing account.
#[derive(Debug, Clone)]
pub struct ExportTotal {
    pub billing_period_start: Result<Option<NaiveDate>, String>,
    pub currency: Option<String>,
    pub provider: Option<String>,
    pub billing_account_id: Option<String>,
    pub billed_picos: i128,
    pub effective_picos: i128,
    pub list_picos: i128,
    pub line_items: i64,
}

/// What reading (part of) an export gives.
pub struct ExportRead {
    pub groups: Vec<ExportGroup>,
    /// Line items per fallback of the layout (`RowLayout::fallback_uses`) that fed them.
    pub fallback_rows: Vec<i64>,
}

/// The calendar date a date value starts with, in the forms exports write: ISO
/// (`2024-03-01T…`, FOCUS, CUR, MCA), US `M/D/YYYY` (Azure EA) or `M/D/YY` (the FOCUS
/// specification's examples; a two-digit year is in this century), basic `20240301` (CUR
/// manifests), and a month alone, `YYYYMM` (GCP's invoice.month) or `YYYY-MM`, as its first day.
pub fn parse_date_prefix(value: &str) -> Option<NaiveDate> {
    let value = value.trim();
    if let Some(prefix) = value.get(..10).filter(|p| p.as_bytes()[4] == b'-') {
        return NaiveDate::parse_from_str(prefix, "%Y-%m-%d").ok();
    }
    let day = value.get(..10).unwrap_or(value);
    let all_digits = day.bytes().all(|b| b.is_ascii_digit());
    match day.len() {
        8 if all_digits => NaiveDate::parse_from_str(day, "%Y%m%d").ok(),
        6 if all_digits => NaiveDate::parse_from_str(&format!("{day}01"), "%Y%m%d").ok(),
        7 if day.as_bytes()[4] == b'-' => NaiveDate::parse_from_str(&format!("{day}-01"), "%Y-%m-%d").ok(),
        _ if day.contains('/') => us_date(value.split(' ').next()?),
        _ => None,
    }
}

/// `M/D/YYYY` or `M/D/YY`.
fn us_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.split('/');
    let (month, day, year) = (parts.next()?, parts.next()?, parts.next()?);
    let number = |part: &str, digits: std::ops::RangeInclusive<usize>| {
        (digits.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())).then(|| part.parse::<u32>().ok())?
    };
    let year = match year.len() {
        2 => 2000 + number(year, 2..=2)?,
        _ => number(year, 4..=4)?,
    };
    if parts.next().is_some() {
        return None;
    }
    NaiveDate::from_ymd_opt(year as i32, number(month, 1..=2)?, number(day, 1..=2)?)
}

/// A CSV record's place in a chunk or, once merged, in the file: its first physical line
/// (the header is line 1) and its number among the data rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct RowAt {
    pub line: u64,
    pub row: u64,
}

impl RowAt {
    pub fn position(self) -> Position {
        Position::Row { line: self.line, row: self.row }
    }
}

/// The key of a row's group, built value by value in [`KEY_DATES`] then [`KEY_TEXT`] order.
#[derive(Default, Debug)]
pub struct GroupKey(Vec<u8>);

impl GroupKey {
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Appends the next value; empty means the export left it empty.
    pub fn push(&mut self, value: &[u8]) {
        self.0.extend_from_slice(&(value.len() as u32).to_le_bytes());
        self.0.extend_from_slice(value);
    }

    /// Appends the next value, which a fallback gave: rows whose own column holds the same
    /// value are another group, so where the value came from is known per group.
    pub fn push_from_fallback(&mut self, value: &[u8]) {
        self.0.extend_from_slice(&(value.len() as u32 + 1).to_le_bytes());
        self.0.push(FROM_FALLBACK);
        self.0.extend_from_slice(value);
    }
}

/// What one row, or a group of rows, adds up to.
pub struct GroupSums {
    pub first_row: Option<RowAt>,
    /// The first non-empty value of each [`ATTRIBUTE_TEXT`] column.
    pub attributes: [Option<String>; 3],
    pub picos: [i128; 3],
    pub consumed_quantity: f64,
    pub line_items: i64,
}

impl GroupSums {
    fn absorb(&mut self, later: GroupSums) {
        for (mine, theirs) in self.attributes.iter_mut().zip(later.attributes) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        for (mine, theirs) in self.picos.iter_mut().zip(later.picos) {
            *mine += theirs;
        }
        self.consumed_quantity += later.consumed_quantity;
        self.line_items += later.line_items;
    }
}

/// Daily groups being summed.
#[derive(Default)]
pub struct DailyGroups {
    groups: HashMap<Box<[u8]>, GroupSums>,
    /// Line items per fallback the layout used (see `RowLayout::fallback_uses`).
    fallback_rows: Vec<i64>,
}

impl DailyGroups {
    /// Adds a row, or `line_items` rows with the same key summed. `attributes` is called only
    /// for a row that starts a group, or whose group still lacks a name.
    pub fn add_row(
        &mut self,
        key: &GroupKey,
        picos: [i128; 3],
        consumed_quantity: f64,
        line_items: i64,
        first_row: Option<RowAt>,
        mut attributes: impl FnMut(usize) -> Option<String>,
    ) {
        match self.groups.get_mut(key.0.as_slice()) {
            Some(group) => {
                for (slot, name) in group.attributes.iter_mut().enumerate() {
                    if name.is_none() {
                        *name = attributes(slot);
                    }
                }
                for (sum, value) in group.picos.iter_mut().zip(picos) {
                    *sum += value;
                }
                group.consumed_quantity += consumed_quantity;
                group.line_items += line_items;
            }
            None => {
                let sums = GroupSums {
                    first_row,
                    attributes: std::array::from_fn(attributes),
                    picos,
                    consumed_quantity,
                    line_items,
                };
                self.groups.insert(key.0.as_slice().into(), sums);
            }
        }
    }

    /// Counts `line_items` whose value came from fallback `fallback` of the layout.
    pub fn count_fallback(&mut self, fallback: usize, line_items: i64) {
        if self.fallback_rows.len() <= fallback {
            self.fallback_rows.resize(fallback + 1, 0);
        }
        self.fallback_rows[fallback] += line_items;
    }

    /// Merges groups read after these, placing their rows with `place`.
    pub fn merge(&mut self, later: DailyGroups, place: impl Fn(RowAt) -> RowAt) {
        for (fallback, rows) in later.fallback_rows.into_iter().enumerate() {
            self.count_fallback(fallback, rows);
        }
        for (key, mut sums) in later.groups {
            sums.first_row = sums.first_row.map(&place);
            match self.groups.entry(key) {
                Entry::Occupied(mut group) => group.get_mut().absorb(sums),
                Entry::Vacant(group) => {
                    group.insert(sums);
                }
            }
        }
    }

    /// The groups, in file order where rows are known (so the first group that breaks a
    /// rule is the earliest row that does).
    pub fn into_read(self) -> ExportRead {
        let mut groups: Vec<ExportGroup> =
            self.groups.into_iter().map(|(key, sums)| export_group(&key, sums)).collect();
        groups.sort_by_key(|g| match g.first_row {
            Some(Position::Row { row, .. }) => row,
            _ => 0,
        });
        ExportRead { groups, fallback_rows: self.fallback_rows }
    }
}

fn export_group(key: &[u8], sums: GroupSums) -> ExportGroup {
    let mut rest = key;
    let mut fed = [false; KEY_DATES.len() + KEY_TEXT.len()];
    let mut read = 0;
    let mut next = || {
        let (length, tail) = rest.split_at(4);
        let length = u32::from_le_bytes(length.try_into().expect("four bytes")) as usize;
        let (mut text, tail) = tail.split_at(length);
        rest = tail;
        let from_fallback = text.first() == Some(&FROM_FALLBACK);
        if from_fallback {
            text = &text[1..];
        }
        fed[read] = from_fallback;
        read += 1;
        // Readers push UTF-8 text only, and cut dates at a character boundary.
        (!text.is_empty()).then(|| String::from_utf8_lossy(text).into_owned())
    };
    let date = |text: Option<String>| match text {
        None => Ok(None),
        Some(text) => parse_date_prefix(&text).map(Some).ok_or(text),
    };
    let charge_date = date(next());
    let billing_period_start = date(next());
    let provider = next();
    let billing_account_id = next();
    let [billing_account_name, sub_account_name, service_category] = sums.attributes;
    ExportGroup {
        charge_date,
        billing_period_start,
        provider,
        billing_account_id,
        sub_account_id: next(),
        service_name: next(),
        region: next(),
        charge_category: next(),
        currency: next(),
        raw_tags: next(),
        marketplace_publisher: next(),
        billing_account_name,
        sub_account_name,
        service_category,
        billed_picos: sums.picos[0],
        effective_picos: sums.picos[1],
        list_picos: sums.picos[2],
        consumed_quantity: sums.consumed_quantity,
        line_items: sums.line_items,
        first_row: sums.first_row.map(RowAt::position),
        fallback_fed: PartitionFallbacks { billing_period: fed[1], provider: fed[2], billing_account: fed[3] },
    }
}

/// The export's own column sums per billing period, currency and billing account: the
/// groups hold every row's exact money, so their sums are the columns' sums. Summed from the
/// groups as FOCUS values (after a mapping's value tables), so they key like the facts.
pub fn export_totals(groups: &[ExportGroup]) -> Vec<ExportTotal> {
    type TotalKey = (Result<Option<NaiveDate>, String>, Option<String>, Option<String>, Option<String>);
    let mut totals: BTreeMap<TotalKey, ExportTotal> = BTreeMap::new();
    for group in groups {
        let key = (
            group.billing_period_start.clone(),
            group.currency.clone(),
            group.provider.clone(),
            group.billing_account_id.clone(),
        );
        let total = totals.entry(key).or_insert_with(|| ExportTotal {
            billing_period_start: group.billing_period_start.clone(),
            currency: group.currency.clone(),
            provider: group.provider.clone(),
            billing_account_id: group.billing_account_id.clone(),
            billed_picos: 0,
            effective_picos: 0,
            list_picos: 0,
            line_items: 0,
        });
        total.billed_picos += group.billed_picos;
        total.effective_picos += group.effective_picos;
        total.list_picos += group.list_picos;
        total.line_items += group.line_items;
    }
    totals.into_values().collect()
}
