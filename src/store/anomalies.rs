//! Daily cost series for the anomaly monitors, and the anomalies they found, with feedback.

use chrono::{NaiveDate, Utc};
use sqlx::Row;

use super::analysis::date_column;
use super::ledger::{decimal_column, nanos_column};
use super::versions::{bump_version, writers};
use super::{CostDimension, Store, StoreError};
use crate::focus::{CostTotals, Money};

/// Charge categories that are not usage: fees, tax and credits land on their own calendar
/// (the 1st, the invoice day), so they are left out of the series a monitor watches.
pub const NOT_USAGE: [&str; 3] = ["Purchase", "Tax", "Credit"];

/// `NOT_USAGE` as an SQL list.
pub(super) fn not_usage_sql() -> String {
    format!("({})", NOT_USAGE.map(|c| format!("'{c}'")).join(", "))
}

/// How a sub-account is named to people: `name (id)`, or the id alone.
pub fn sub_account_label(id: &str, name: &str) -> String {
    if name.is_empty() || name == id { id.to_string() } else { format!("{name} ({id})") }
}

/// Which of a cost's amounts a series sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CostKind {
    #[default]
    Effective,
    Billed,
}

impl CostKind {
    fn column(self) -> &'static str {
        match self {
            CostKind::Effective => "effective_cost_nanos",
            CostKind::Billed => "billed_cost_nanos",
        }
    }

    pub fn of(self, costs: &CostTotals) -> Money {
        match self {
            CostKind::Effective => costs.effective_cost,
            CostKind::Billed => costs.billed_cost,
        }
    }
}

/// Which costs a monitor's series sum.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesSource {
    /// Cost facts grouped by one of their columns (or a kept tag).
    Facts(CostDimension),
    /// Allocated costs grouped by one allocation dimension.
    Allocation(String),
}

/// One day of one series in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesDay {
    pub key: String,
    pub date: NaiveDate,
    pub currency: String,
    pub cost: Money,
}

/// One day's cost of one contributor (sub-account × service × region × charge category ×
/// tags) to a fact series.
#[derive(Debug, Clone, PartialEq)]
pub struct ContributorDay {
    pub sub_account: String,
    pub service: String,
    pub region: String,
    pub charge_category: String,
    pub tags: String,
    pub date: NaiveDate,
    pub cost: Money,
}

/// An anomaly as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnomaly {
    pub id: String,
    pub monitor: String,
    /// The series' dimension and value as a JSON object.
    pub series: String,
    pub currency: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub status: String,
    pub expected: Money,
    pub actual: Money,
    pub impact: Money,
    pub impact_pct: f64,
    pub severity: Option<String>,
    /// A JSON array of contributors.
    pub root_causes: String,
    pub feedback: Option<String>,
    pub feedback_note: Option<String>,
    /// It ended within the monitor's `alert_max_age_days` of the newest day judged: only
    /// current anomalies are sent; older ones are kept and listed.
    pub current: bool,
}

impl StoredAnomaly {
    /// The series' dimension and value, e.g. (`team`, `payments`).
    pub fn series_key(&self) -> Option<(String, String)> {
        let series: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&self.series).ok()?;
        let (dimension, value) = series.into_iter().next()?;
        Some((dimension, value.as_str().unwrap_or_default().to_string()))
    }

    /// The anomaly as `anomalies list --format json` and the HTTP API show it; money as
    /// decimal text, so no amount passes through a float.
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        Ok(serde_json::json!({
            "id": self.id,
            "monitor": self.monitor,
            "dimension_values": serde_json::from_str::<serde_json::Value>(&self.series)?,
            "currency": self.currency,
            "start": self.start,
            "end": self.end,
            "status": self.status,
            "expected": self.expected.to_string(),
            "actual": self.actual.to_string(),
            "impact": self.impact.to_string(),
            "impact_pct": self.impact_pct,
            "severity": self.severity,
            "root_causes": serde_json::from_str::<serde_json::Value>(&self.root_causes)?,
            "feedback": self.feedback,
            "feedback_note": self.feedback_note,
            "current": self.current,
        }))
    }
}

impl Store {
    /// Usage cost per day, series key and currency over `from..=to`.
    pub async fn daily_series(
        &self,
        source: &SeriesSource,
        cost: CostKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<SeriesDay>, StoreError> {
        let cost = cost.column();
        // Allocation series read the per-value daily sums allocation keeps beside its rows.
        let (key, table, only_dimension) = match source {
            SeriesSource::Facts(dimension) => (dimension.sql(self), "cost_facts", None),
            SeriesSource::Allocation(dimension) => ("value".to_string(), "allocated_daily_costs", Some(dimension)),
        };
        let sql = format!(
            "SELECT {key} AS k, charge_date, currency, CAST(SUM({cost}) AS TEXT) FROM {table}
             WHERE charge_date >= $1 AND charge_date <= $2 AND charge_category NOT IN {}{}
             GROUP BY k, charge_date, currency ORDER BY k, currency, charge_date",
            not_usage_sql(),
            if only_dimension.is_some() { " AND dimension = $3" } else { "" },
        );
        let mut query = sqlx::query(&sql).bind(from.to_string()).bind(to.to_string());
        if let Some(dimension) = only_dimension {
            query = query.bind(dimension.clone());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(SeriesDay {
                    key: row.try_get(0)?,
                    date: date_column(row, 1)?,
                    currency: row.try_get(2)?,
                    cost: nanos_column(row, 3)?,
                })
            })
            .collect()
    }

    /// The daily usage cost of every contributor to the fact series `key` of `dimension`
    /// in `currency`, over `from..=to`.
    pub async fn contributor_costs(
        &self,
        dimension: &CostDimension,
        key: &str,
        currency: &str,
        cost: CostKind,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<ContributorDay>, StoreError> {
        let cost = cost.column();
        let sql = format!(
            "SELECT sub_account_id, sub_account_name, service_name, region, charge_category, tags, charge_date,
                    CAST(SUM({cost}) AS TEXT)
             FROM cost_facts
             WHERE {} = $1 AND currency = $2 AND charge_date >= $3 AND charge_date <= $4
               AND charge_category NOT IN {}
             GROUP BY sub_account_id, sub_account_name, service_name, region, charge_category, tags, charge_date",
            dimension.sql(self),
            not_usage_sql()
        );
        let rows = sqlx::query(&sql)
            .bind(key.to_string())
            .bind(currency.to_string())
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let (id, name): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                Ok(ContributorDay {
                    sub_account: sub_account_label(&id, &name),
                    service: row.try_get(2)?,
                    region: row.try_get(3)?,
                    charge_category: row.try_get(4)?,
                    tags: row.try_get(5)?,
                    date: date_column(row, 6)?,
                    cost: nanos_column(row, 7)?,
                })
            })
            .collect()
    }

    /// Replaces what `monitor` found with `anomalies`, in one transaction. Anomalies with
    /// feedback are kept even when no longer found (their days were accepted); feedback on
    /// one found again is kept.
    pub async fn replace_anomalies(&self, monitor: &str, anomalies: &[StoredAnomaly]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM anomalies WHERE monitor = $1 AND feedback IS NULL")
            .bind(monitor.to_string())
            .execute(&mut *tx)
            .await?;
        let now = Utc::now().to_rfc3339();
        for a in anomalies {
            sqlx::query(
                "INSERT INTO anomalies (id, monitor, series, currency, start_date, end_date, status, expected, actual,
                                        impact, impact_pct, severity, root_causes, detected_at, recency)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (id) DO UPDATE SET end_date = excluded.end_date, status = excluded.status,
                    expected = excluded.expected, actual = excluded.actual, impact = excluded.impact,
                    impact_pct = excluded.impact_pct, severity = excluded.severity,
                    root_causes = excluded.root_causes, detected_at = excluded.detected_at,
                    recency = excluded.recency",
            )
            .bind(a.id.clone())
            .bind(a.monitor.clone())
            .bind(a.series.clone())
            .bind(a.currency.clone())
            .bind(a.start.to_string())
            .bind(a.end.to_string())
            .bind(a.status.clone())
            .bind(a.expected.to_string())
            .bind(a.actual.to_string())
            .bind(a.impact.to_string())
            .bind(a.impact_pct)
            .bind(a.severity.clone())
            .bind(a.root_causes.clone())
            .bind(now.clone())
            .bind(if a.current { "current" } else { "past" })
            .execute(&mut *tx)
            .await?;
        }
        bump_version(&mut tx, &format!("{} {monitor}", writers::ANOMALIES)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every anomaly kept (of one status when given), newest first.
    pub async fn anomalies(&self, status: Option<&str>) -> Result<Vec<StoredAnomaly>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, monitor, series, currency, start_date, end_date, status, expected, actual, impact,
                    impact_pct, severity, root_causes, feedback, feedback_note, recency
             FROM anomalies WHERE $1 = '' OR status = $1 ORDER BY start_date DESC, monitor, series, currency",
        )
        .bind(status.unwrap_or("").to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredAnomaly {
                    id: row.try_get(0)?,
                    monitor: row.try_get(1)?,
                    series: row.try_get(2)?,
                    currency: row.try_get(3)?,
                    start: date_column(row, 4)?,
                    end: date_column(row, 5)?,
                    status: row.try_get(6)?,
                    expected: decimal_column(row, 7)?,
                    actual: decimal_column(row, 8)?,
                    impact: decimal_column(row, 9)?,
                    impact_pct: row.try_get(10)?,
                    severity: row.try_get(11)?,
                    root_causes: row.try_get(12)?,
                    feedback: row.try_get(13)?,
                    feedback_note: row.try_get(14)?,
                    current: row.try_get::<String, _>(15)? == "current",
                })
            })
            .collect()
    }

    /// Records feedback on anomaly `id`; false when there is no such anomaly.
    pub async fn set_anomaly_feedback(&self, id: &str, feedback: &str, note: Option<&str>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query("UPDATE anomalies SET feedback = $1, feedback_note = $2 WHERE id = $3")
            .bind(feedback.to_string())
            .bind(note.map(str::to_string))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        bump_version(&mut tx, writers::FEEDBACK).await?;
        tx.commit().await?;
        Ok(result.rows_affected() == 1)
    }
}
