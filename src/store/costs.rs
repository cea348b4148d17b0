//! "What did we spend": cost facts summed by the dimensions a person asks for, per currency.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use sqlx::Row;

use super::ledger::nanos_column;
use super::{Store, StoreError};
use crate::focus::CostTotals;

/// A dimension `finopsd costs --by` groups on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CostDimension {
    Day,
    /// The month the usage happened in.
    Month,
    /// The invoice month (FOCUS BillingPeriodStart), which can differ from `Month`.
    BillingPeriod,
    Provider,
    BillingAccount,
    SubAccount,
    Service,
    Region,
    ChargeCategory,
    /// The seller of marketplace charges; empty for the provider's own.
    Marketplace,
    /// A kept tag, by its normalised key.
    Tag(String),
}

impl CostDimension {
    pub const NAMES: &'static str = "day, month, billing_period, provider, billing_account, sub_account, service, region, charge_category, marketplace, tag:<key>";

    pub(super) fn sql(&self, store: &Store) -> String {
        match self {
            CostDimension::Month => "substr(charge_date, 1, 7)".into(),
            CostDimension::Tag(key) => store.json_text_sql("tags", key),
            other => other.column().into(),
        }
    }

    /// The fact column the dimension's value is read from.
    fn column(&self) -> &'static str {
        match self {
            CostDimension::Day | CostDimension::Month => "charge_date",
            CostDimension::BillingPeriod => "billing_period",
            CostDimension::Provider => "provider",
            CostDimension::BillingAccount => "billing_account_id",
            CostDimension::SubAccount => "sub_account_id",
            CostDimension::Service => "service_name",
            CostDimension::Region => "region",
            CostDimension::ChargeCategory => "charge_category",
            CostDimension::Marketplace => "marketplace_publisher",
            CostDimension::Tag(_) => "tags",
        }
    }

    /// Time dimensions sort chronologically; the rest by cost.
    pub fn is_time(&self) -> bool {
        matches!(self, CostDimension::Day | CostDimension::Month | CostDimension::BillingPeriod)
    }
}

impl fmt::Display for CostDimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            CostDimension::Day => "day",
            CostDimension::Month => "month",
            CostDimension::BillingPeriod => "billing_period",
            CostDimension::Provider => "provider",
            CostDimension::BillingAccount => "billing_account",
            CostDimension::SubAccount => "sub_account",
            CostDimension::Service => "service",
            CostDimension::Region => "region",
            CostDimension::ChargeCategory => "charge_category",
            CostDimension::Marketplace => "marketplace",
            CostDimension::Tag(key) => return write!(f, "tag:{key}"),
        };
        f.write_str(name)
    }
}

impl FromStr for CostDimension {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text.trim() {
            "day" => CostDimension::Day,
            "month" => CostDimension::Month,
            "billing_period" => CostDimension::BillingPeriod,
            "provider" => CostDimension::Provider,
            "billing_account" => CostDimension::BillingAccount,
            "sub_account" => CostDimension::SubAccount,
            "service" => CostDimension::Service,
            "region" => CostDimension::Region,
            "charge_category" => CostDimension::ChargeCategory,
            "marketplace" => CostDimension::Marketplace,
            other => match other.strip_prefix("tag:") {
                Some(key) if !key.trim().is_empty() => CostDimension::Tag(crate::ingest::normalise_tag_key(key)),
                _ => return Err(format!("unknown dimension `{other}`; use one of: {}", CostDimension::NAMES)),
            },
        })
    }
}

/// Charge dates `from..=to`, grouped by `group_by`, one row per group and currency.
#[derive(Debug, Clone)]
pub struct CostQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: Vec<CostDimension>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CostRow {
    /// One value per `group_by` dimension, in order.
    pub keys: Vec<String>,
    pub currency: String,
    pub totals: CostTotals,
}

impl Store {
    pub async fn costs(&self, query: &CostQuery) -> Result<Vec<CostRow>, StoreError> {
        let keys: Vec<String> = query.group_by.iter().map(|d| d.sql(self)).collect();
        let mut select = String::new();
        for (i, key) in keys.iter().enumerate() {
            select.push_str(&format!("{key} AS k{i}, "));
        }
        let group: String = (0..keys.len()).map(|i| format!("k{i}, ")).collect();
        // The facts are summed by the columns the keys are read from first, and the keys
        // (a tag out of the JSON, a month out of a day) taken from those sums: far fewer
        // JSON extractions than one per fact.
        let mut columns: Vec<&str> = query.group_by.iter().map(CostDimension::column).collect();
        columns.sort_unstable();
        columns.dedup();
        let columns: String = columns.iter().map(|c| format!("{c}, ")).collect();
        let sql = format!(
            "SELECT {select}currency, CAST(SUM(billed_nanos) AS TEXT), CAST(SUM(effective_nanos) AS TEXT),
                    CAST(SUM(list_nanos) AS TEXT)
             FROM (SELECT {columns}currency, SUM(billed_cost_nanos) AS billed_nanos,
                          SUM(effective_cost_nanos) AS effective_nanos, SUM(list_cost_nanos) AS list_nanos
                   FROM cost_facts WHERE charge_date >= $1 AND charge_date <= $2
                   GROUP BY {columns}currency) AS sums
             GROUP BY {group}currency ORDER BY {group}currency"
        );
        let rows =
            sqlx::query(&sql).bind(query.from.to_string()).bind(query.to.to_string()).fetch_all(&self.pool).await?;
        let n = keys.len();
        rows.iter()
            .map(|row| {
                let keys = (0..n).map(|i| row.try_get::<String, _>(i)).collect::<Result<Vec<_>, _>>()?;
                Ok(CostRow {
                    keys,
                    currency: row.try_get(n)?,
                    totals: CostTotals {
                        billed_cost: nanos_column(row, n + 1)?,
                        effective_cost: nanos_column(row, n + 2)?,
                        list_cost: nanos_column(row, n + 3)?,
                    },
                })
            })
            .collect()
    }

    /// The first and last charge date the store holds, if any.
    pub async fn charge_date_range(&self) -> Result<Option<(NaiveDate, NaiveDate)>, StoreError> {
        // Two subqueries, not `SELECT MIN(..), MAX(..)`: SQLite reads one end of the index
        // for a lone MIN or MAX, but scans every row for the pair.
        let row =
            sqlx::query("SELECT (SELECT MIN(charge_date) FROM cost_facts), (SELECT MAX(charge_date) FROM cost_facts)")
                .fetch_one(&self.pool)
                .await?;
        let parse = |text: Option<String>| -> Result<Option<NaiveDate>, StoreError> {
            text.map(|t| t.parse().map_err(|_| StoreError::Corrupt(format!("charge date `{t}`")))).transpose()
        };
        let first = parse(row.try_get(0)?)?;
        let last = parse(row.try_get(1)?)?;
        Ok(first.zip(last))
    }
}
