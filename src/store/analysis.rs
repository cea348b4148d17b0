//! What analysis reads and keeps: unit metrics from feeds, daily allocated costs per
//! dimension value, and budget alerts for delivery.

use chrono::{NaiveDate, Utc};
use sqlx::Row;

use super::ledger::nanos_column;
use super::versions::{bump_version, writers};
use super::{Store, StoreError, values_placeholders};
use crate::focus::Money;

/// A day's quantity of one metric for one dimension value, e.g. 1.2M `requests` of
/// `service = checkout` on 2025-03-02.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitMetric {
    pub date: NaiveDate,
    pub dimension: String,
    pub value: String,
    pub metric: String,
    pub quantity: f64,
}

/// A day's allocated EffectiveCost of one dimension value, charge category and currency.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyCost {
    pub value: String,
    pub date: NaiveDate,
    pub charge_category: String,
    pub currency: String,
    pub effective_cost: Money,
}

/// A budget threshold crossed, as kept for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetAlert {
    pub budget: String,
    pub period_start: NaiveDate,
    pub currency: String,
    /// `actual` or `forecast`.
    pub kind: String,
    pub threshold_pct: f64,
    pub as_of: NaiveDate,
    pub amount: Money,
    pub actual: Money,
    pub forecast: Money,
}

const METRICS_PER_INSERT: usize = 500;

pub(super) fn date_column(row: &sqlx::any::AnyRow, index: usize) -> Result<NaiveDate, StoreError> {
    let text: String = row.try_get(index)?;
    text.parse().map_err(|_| StoreError::Corrupt(format!("date `{text}`")))
}

impl Store {
    /// Replaces what `feed` holds for the days `from..=to` (every day when `None`) with
    /// `metrics`, in one transaction.
    pub async fn replace_unit_metrics(
        &self,
        feed: &str,
        days: Option<(NaiveDate, NaiveDate)>,
        metrics: &[UnitMetric],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        match days {
            Some((from, to)) => {
                sqlx::query("DELETE FROM unit_metrics WHERE feed = $1 AND metric_date >= $2 AND metric_date <= $3")
                    .bind(feed)
                    .bind(from.to_string())
                    .bind(to.to_string())
                    .execute(&mut *tx)
                    .await?
            }
            None => sqlx::query("DELETE FROM unit_metrics WHERE feed = $1").bind(feed).execute(&mut *tx).await?,
        };
        for chunk in metrics.chunks(METRICS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO unit_metrics (feed, metric_date, dimension, value, metric, quantity) VALUES {}",
                values_placeholders(self.engine, chunk.len(), 6)
            );
            let mut query = sqlx::query(&sql);
            for metric in chunk {
                query = query
                    .bind(feed.to_string())
                    .bind(metric.date.to_string())
                    .bind(metric.dimension.clone())
                    .bind(metric.value.clone())
                    .bind(metric.metric.clone())
                    .bind(metric.quantity);
            }
            query.execute(&mut *tx).await?;
        }
        bump_version(&mut tx, &format!("{} {feed}", writers::UNIT_METRICS)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unit metrics of the days `from..=to`, summed over feeds.
    pub async fn unit_metrics(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<UnitMetric>, StoreError> {
        let rows = sqlx::query(
            "SELECT metric_date, dimension, value, metric, SUM(quantity) FROM unit_metrics
             WHERE metric_date >= $1 AND metric_date <= $2
             GROUP BY metric_date, dimension, value, metric ORDER BY dimension, value, metric, metric_date",
        )
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UnitMetric {
                    date: date_column(row, 0)?,
                    dimension: row.try_get(1)?,
                    value: row.try_get(2)?,
                    metric: row.try_get(3)?,
                    quantity: row.try_get(4)?,
                })
            })
            .collect()
    }

    /// Allocated EffectiveCost per value of `dimension`, charge day, charge category and
    /// currency, over the days `from..=to`.
    pub async fn daily_allocated_costs(
        &self,
        dimension: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyCost>, StoreError> {
        self.daily_allocated_costs_where(dimension, None, from, to).await
    }

    /// The same, of one value only.
    pub async fn daily_allocated_costs_of(
        &self,
        dimension: &str,
        value: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyCost>, StoreError> {
        self.daily_allocated_costs_where(dimension, Some(value), from, to).await
    }

    async fn daily_allocated_costs_where(
        &self,
        dimension: &str,
        only: Option<&str>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyCost>, StoreError> {
        let only_value = if only.is_some() { " AND value = $4" } else { "" };
        let sql = format!(
            "SELECT value, charge_date, charge_category, currency, CAST(SUM(effective_cost_nanos) AS TEXT)
             FROM allocated_daily_costs WHERE dimension = $1 AND charge_date >= $2 AND charge_date <= $3{only_value}
             GROUP BY value, charge_date, charge_category, currency
             ORDER BY value, currency, charge_date, charge_category"
        );
        let mut query = sqlx::query(&sql).bind(dimension.to_string()).bind(from.to_string()).bind(to.to_string());
        if let Some(only) = only {
            query = query.bind(only.to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(DailyCost {
                    value: row.try_get(0)?,
                    date: date_column(row, 1)?,
                    charge_category: row.try_get(2)?,
                    currency: row.try_get(3)?,
                    effective_cost: nanos_column(row, 4)?,
                })
            })
            .collect()
    }

    /// Keeps `alert` unless the same budget, period, currency and threshold already has one;
    /// true when it is new.
    pub async fn record_budget_alert(&self, alert: &BudgetAlert) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO budget_alerts (budget, period_start, currency, kind, threshold_pct, created_at, as_of, amount,
                                        actual, forecast)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (budget, period_start, currency, kind, threshold_pct) DO NOTHING",
        )
        .bind(alert.budget.clone())
        .bind(alert.period_start.to_string())
        .bind(alert.currency.clone())
        .bind(alert.kind.clone())
        .bind(alert.threshold_pct)
        .bind(Utc::now().to_rfc3339())
        .bind(alert.as_of.to_string())
        .bind(alert.amount.to_string())
        .bind(alert.actual.to_string())
        .bind(alert.forecast.to_string())
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Every budget alert kept, oldest first.
    pub async fn budget_alerts(&self) -> Result<Vec<BudgetAlert>, StoreError> {
        let rows = sqlx::query(
            "SELECT budget, period_start, currency, kind, threshold_pct, as_of, amount, actual, forecast
             FROM budget_alerts ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        let money = |row: &sqlx::any::AnyRow, i: usize| -> Result<Money, StoreError> {
            let text: String = row.try_get(i)?;
            Money::parse_decimal(&text).ok_or_else(|| StoreError::Corrupt(format!("amount `{text}`")))
        };
        rows.iter()
            .map(|row| {
                Ok(BudgetAlert {
                    budget: row.try_get(0)?,
                    period_start: date_column(row, 1)?,
                    currency: row.try_get(2)?,
                    kind: row.try_get(3)?,
                    threshold_pct: row.try_get(4)?,
                    as_of: date_column(row, 5)?,
                    amount: money(row, 6)?,
                    actual: money(row, 7)?,
                    forecast: money(row, 8)?,
                })
            })
            .collect()
    }
}
