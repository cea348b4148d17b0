//! How far each source has delivered, and which sources feed each series a monitor watches:
//! a series is judged only up to the last day all its sources have delivered.

use chrono::NaiveDate;
use sqlx::Row;

use super::analysis::date_column;
use super::anomalies::not_usage_sql;
use super::{SeriesSource, Store, StoreError};

/// The last day of usage a source (one export stream or pull, e.g. `aws:111122223333`) has
/// delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLastDay {
    pub source: String,
    pub last_day: NaiveDate,
}

/// A source that fed one series (key and currency), and the last day it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesFeed {
    pub key: String,
    pub currency: String,
    pub source: String,
    pub last_day: NaiveDate,
}

impl Store {
    /// The newest day of usage any source delivered: fees and credits may be dated ahead of it
    /// (a commitment bought for the 1st), so it is the day lags are counted from.
    pub async fn newest_usage_day(&self) -> Result<Option<NaiveDate>, StoreError> {
        let sql = format!("SELECT MAX(charge_date) FROM cost_facts WHERE charge_category NOT IN {}", not_usage_sql());
        let text: Option<String> = sqlx::query(&sql).fetch_one(&self.pool).await?.try_get(0)?;
        text.map(|t| t.parse().map_err(|_| StoreError::Corrupt(format!("charge date `{t}`")))).transpose()
    }

    /// Each source's last day of usage, of the sources with usage on `since` or later.
    /// Usage only, as the series are: a fee or credit dated ahead (a commitment bought for
    /// the 1st) says nothing about whether the days before it are complete.
    pub async fn source_last_days(&self, since: NaiveDate) -> Result<Vec<SourceLastDay>, StoreError> {
        let sql = format!(
            "SELECT source, MAX(charge_date) FROM cost_facts
             WHERE charge_date >= $1 AND charge_category NOT IN {}
             GROUP BY source ORDER BY source",
            not_usage_sql()
        );
        let rows = sqlx::query(&sql).bind(since.to_string()).fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok(SourceLastDay { source: row.try_get(0)?, last_day: date_column(row, 1)? })).collect()
    }

    /// Which sources fed each series of `series` with usage over `from..=to`, and the last day
    /// each did: the facts' own source, or for an allocation series the source of the facts
    /// allocated to its value.
    pub async fn series_feeds(
        &self,
        series: &SeriesSource,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<SeriesFeed>, StoreError> {
        // The per-value daily sums allocation keeps have no source: the allocated rows do, and
        // the window is a few weeks, so reading their JSON stays cheap.
        let (key, table) = match series {
            SeriesSource::Facts(dimension) => (dimension.sql(self), "cost_facts"),
            SeriesSource::Allocation(dimension) => {
                (self.json_text_sql("dimension_values", dimension), "allocated_costs")
            }
        };
        let sql = format!(
            "SELECT {key} AS k, currency, source, MAX(charge_date) FROM {table}
             WHERE charge_date >= $1 AND charge_date <= $2 AND charge_category NOT IN {}
             GROUP BY k, currency, source",
            not_usage_sql()
        );
        let rows = sqlx::query(&sql).bind(from.to_string()).bind(to.to_string()).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(SeriesFeed {
                    key: row.try_get(0)?,
                    currency: row.try_get(1)?,
                    source: row.try_get(2)?,
                    last_day: date_column(row, 3)?,
                })
            })
            .collect()
    }
}
