//! The canonical record every stage after ingest speaks: FOCUS column names, exact money,
//! and the daily cost fact the store keeps.

pub mod currency;
pub mod money;

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

pub use currency::CurrencyPolicy;
pub use money::Money;

/// The FOCUS columns a cost fact is built from. Mapping files in `models/` say, per export
/// format, which source column feeds each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
pub enum FocusColumn {
    ChargePeriodStart,
    BillingPeriodStart,
    ProviderName,
    BillingAccountId,
    BillingAccountName,
    SubAccountId,
    SubAccountName,
    ServiceName,
    ServiceCategory,
    RegionId,
    ChargeCategory,
    BillingCurrency,
    BilledCost,
    EffectiveCost,
    ListCost,
    ConsumedQuantity,
    Tags,
    /// Not a FOCUS column (hence FOCUS's `x_` prefix for custom columns): the third party
    /// whose product a marketplace charge is for; empty on the provider's own charges.
    #[serde(rename = "x_MarketplacePublisher")]
    MarketplacePublisher,
}

impl FocusColumn {
    pub fn name(self) -> &'static str {
        match self {
            FocusColumn::ChargePeriodStart => "ChargePeriodStart",
            FocusColumn::BillingPeriodStart => "BillingPeriodStart",
            FocusColumn::ProviderName => "ProviderName",
            FocusColumn::BillingAccountId => "BillingAccountId",
            FocusColumn::BillingAccountName => "BillingAccountName",
            FocusColumn::SubAccountId => "SubAccountId",
            FocusColumn::SubAccountName => "SubAccountName",
            FocusColumn::ServiceName => "ServiceName",
            FocusColumn::ServiceCategory => "ServiceCategory",
            FocusColumn::RegionId => "RegionId",
            FocusColumn::ChargeCategory => "ChargeCategory",
            FocusColumn::BillingCurrency => "BillingCurrency",
            FocusColumn::BilledCost => "BilledCost",
            FocusColumn::EffectiveCost => "EffectiveCost",
            FocusColumn::ListCost => "ListCost",
            FocusColumn::ConsumedQuantity => "ConsumedQuantity",
            FocusColumn::Tags => "Tags",
            FocusColumn::MarketplacePublisher => "x_MarketplacePublisher",
        }
    }
}

impl fmt::Display for FocusColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The invoice month a charge belongs to (FOCUS BillingPeriodStart), `YYYY-MM`. It can differ
/// from the month the usage happened in, which is why both are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BillingPeriod {
    year: i32,
    month: u32,
}

impl BillingPeriod {
    pub fn containing(date: NaiveDate) -> Self {
        BillingPeriod { year: date.year(), month: date.month() }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("validated month")
    }

    /// The first day of the following period: billing periods are half-open, like FOCUS's.
    pub fn end(self) -> NaiveDate {
        let (year, month) = if self.month == 12 { (self.year + 1, 1) } else { (self.year, self.month + 1) };
        NaiveDate::from_ymd_opt(year, month, 1).expect("valid month")
    }

    /// A range bound given as a date (`2025-03-14`) or a month (`2025-03`), which means its
    /// first day, or its last when `end_of_month`.
    pub fn parse_day_bound(text: &str, end_of_month: bool) -> Result<NaiveDate, String> {
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(date);
        }
        let period: BillingPeriod =
            text.parse().map_err(|_| format!("`{text}` is neither a date (YYYY-MM-DD) nor a month (YYYY-MM)"))?;
        Ok(if end_of_month { period.end().pred_opt().expect("a day before") } else { period.first_day() })
    }

    pub fn previous(self) -> Self {
        if self.month == 1 {
            BillingPeriod { year: self.year - 1, month: 12 }
        } else {
            BillingPeriod { year: self.year, month: self.month - 1 }
        }
    }
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// As its `YYYY-MM` text.
impl Serialize for BillingPeriod {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl FromStr for BillingPeriod {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("`{text}` is not a month; expected YYYY-MM, e.g. 2024-03");
        if text.len() != 7 || text.as_bytes()[4] != b'-' {
            return Err(invalid());
        }
        let date = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").map_err(|_| invalid())?;
        Ok(BillingPeriod::containing(date))
    }
}

/// Everything that identifies one daily cost fact: the grain of the store. Line items are
/// summed into it; resource ids and SKUs are not part of it (the export stays the source of
/// truth for them), and only the tag keys the config keeps are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FactKey {
    /// The export stream the fact came from, e.g. `focus:aws:123456789012`; a re-ingest
    /// replaces everything one source holds for a billing period.
    pub source: String,
    pub billing_period: BillingPeriod,
    pub charge_date: NaiveDate,
    pub provider: String,
    pub billing_account_id: String,
    pub billing_account_name: String,
    pub sub_account_id: String,
    pub sub_account_name: String,
    pub service_name: String,
    pub service_category: String,
    pub region: String,
    pub charge_category: String,
    pub currency: String,
    /// Kept tags as a JSON object with normalised keys in sorted order, so equal tag sets
    /// compare equal as text.
    pub tags: String,
    /// The seller of a marketplace charge (a third party's product the provider bills for);
    /// empty for the provider's own charges.
    pub marketplace_publisher: String,
}

/// The sums a fact carries. Money is exact; quantity is a plain float because units differ
/// between SKUs and nobody reconciles quantities to an invoice.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FactAmounts {
    pub costs: CostTotals,
    pub consumed_quantity: f64,
    pub line_items: i64,
}

impl FactAmounts {
    pub fn add(&mut self, other: &FactAmounts) {
        self.costs.add(&other.costs);
        self.consumed_quantity += other.consumed_quantity;
        self.line_items += other.line_items;
    }
}

/// One row of the store's `cost_facts` table.
#[derive(Debug, Clone, PartialEq)]
pub struct CostFact {
    pub key: FactKey,
    pub amounts: FactAmounts,
}

/// The three cost metrics, per FOCUS, in one currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CostTotals {
    pub billed_cost: Money,
    pub effective_cost: Money,
    pub list_cost: Money,
}

impl CostTotals {
    /// From pico-unit sums, rounded once to the nano-units that are kept.
    pub fn from_picos(billed: i128, effective: i128, list: i128) -> Self {
        CostTotals {
            billed_cost: Money::from_picos(billed),
            effective_cost: Money::from_picos(effective),
            list_cost: Money::from_picos(list),
        }
    }

    pub fn add(&mut self, other: &CostTotals) {
        self.billed_cost += other.billed_cost;
        self.effective_cost += other.effective_cost;
        self.list_cost += other.list_cost;
    }

    /// The largest absolute difference of the three metrics.
    pub fn max_difference(&self, other: &CostTotals) -> Money {
        [
            (self.billed_cost - other.billed_cost).abs(),
            (self.effective_cost - other.effective_cost).abs(),
            (self.list_cost - other.list_cost).abs(),
        ]
        .into_iter()
        .max()
        .unwrap_or(Money::ZERO)
    }
}

/// Text as people mean it when they write a tag key or value: trimmed, inner whitespace
/// collapsed to one space, lower case (`Team `, `TEAM` and `team` are one key; ` Checkout`
/// and `CHECKOUT` one value).
pub fn fold_case_and_space(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Whether `text` folds to `folded` (as [`fold_case_and_space`] gives it), without building
/// the folded text: rules compare every cost's tags this way.
pub fn folds_to(text: &str, folded: &str) -> bool {
    let mut expected = folded.chars();
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 && expected.next() != Some(' ') {
            return false;
        }
        for lower in word.chars().flat_map(char::to_lowercase) {
            if expected.next() != Some(lower) {
                return false;
            }
        }
    }
    expected.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_compares_without_building_the_folded_text() {
        for text in [" Checkout ", "CHECKOUT", "check out", "Data \t Platform", "", "  ", "ÉQUIPE"] {
            let folded = fold_case_and_space(text);
            assert!(folds_to(text, &folded), "{text:?}");
            assert!(!folds_to(text, &format!("{folded}x")), "{text:?}");
        }
        assert!(!folds_to("checkout", "check out") && !folds_to("check out", "checkout"));
    }

    #[test]
    fn months_as_range_bounds_mean_their_first_and_last_day() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        assert_eq!(BillingPeriod::parse_day_bound("2024-02", false).unwrap(), day(2024, 2, 1));
        assert_eq!(BillingPeriod::parse_day_bound("2024-02", true).unwrap(), day(2024, 2, 29));
        assert_eq!(BillingPeriod::parse_day_bound("2024-02-10", true).unwrap(), day(2024, 2, 10));
        assert!(BillingPeriod::parse_day_bound("last week", false).is_err());
    }

    #[test]
    fn billing_period_parses_and_steps() {
        let period: BillingPeriod = "2024-12".parse().unwrap();
        assert_eq!(period.to_string(), "2024-12");
        assert_eq!(period.end(), NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        assert_eq!(period.previous().to_string(), "2024-11");
        assert!("2024-13".parse::<BillingPeriod>().is_err());
        assert!("24-01".parse::<BillingPeriod>().is_err());
    }
}
