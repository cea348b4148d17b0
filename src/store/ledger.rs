//! Atomic replacement of billing periods, and the ingest ledger that records every attempt.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::Row;

use super::versions::{bump_version, writers};
use super::{Store, StoreError, stored_nanos, values_placeholders};
use crate::focus::money::ONE_CENT;
use crate::focus::{BillingPeriod, CostFact, CostTotals, Money};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    Ok,
    Failed,
}

impl RunOutcome {
    fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestFileRecord {
    pub path: String,
    pub format: String,
    pub checksum: String,
    pub bytes: i64,
    pub line_items: i64,
}

/// Line items whose FOCUS column `column` came from a mapping's fallback `source` (another
/// export column, or a fixed value such as `value "(unknown)"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FallbackCount {
    pub column: String,
    pub source: String,
    pub line_items: i64,
}

/// One line of the ingest ledger.
#[derive(Debug, Clone, Serialize)]
pub struct IngestRunRecord {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub outcome: RunOutcome,
    pub error: Option<String>,
    pub line_items: i64,
    pub facts: i64,
    pub tag_keys: Vec<String>,
    pub files: Vec<IngestFileRecord>,
    pub reconciliation: Vec<ReconciliationLine>,
    /// Rows described by a fallback, per column and source.
    pub fallbacks: Vec<FallbackCount>,
}

/// Per source, billing period and currency: the export's own column sums beside what the
/// store holds after the replacement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconciliationLine {
    pub source: String,
    pub billing_period: String,
    pub currency: String,
    pub export: CostTotals,
    pub stored: CostTotals,
}

impl ReconciliationLine {
    /// The largest difference of the three metrics between export and store.
    pub fn difference(&self) -> Money {
        self.export.max_difference(&self.stored)
    }

    /// Within one cent: the promise made to finance.
    pub fn balances(&self) -> bool {
        self.difference() <= ONE_CENT
    }
}

/// Source, billing period and currency: the unit money is reconciled in.
pub type ReconciliationKey = (String, BillingPeriod, String);

/// What one ingest asks the store to make true, all at once.
pub struct PeriodReplacement<'a> {
    pub started_at: DateTime<Utc>,
    pub tag_keys: &'a [String],
    pub files: &'a [IngestFileRecord],
    pub line_items: i64,
    pub fallbacks: &'a [FallbackCount],
    /// Every (source, billing period) the export covers; each is replaced whole.
    pub periods: &'a [(String, BillingPeriod)],
    pub facts: &'a [CostFact],
    /// The export's own column sums per (source, billing period, currency).
    pub export_totals: &'a [(ReconciliationKey, CostTotals)],
}

/// Columns of `cost_facts`, in insert order.
const FACT_COLUMNS: usize = 21;
/// Rows per INSERT: as many as SQLite's 32,766 parameters allow (PostgreSQL allows 65,535).
const FACTS_PER_INSERT: usize = 32_766 / FACT_COLUMNS;

/// Fixed width (milliseconds, `Z`), so stored times compare in SQL as the times do.
pub(super) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Store {
    /// Replaces every (source, billing period) of `replacement` in one transaction, records
    /// the run in the ledger, and commits only if what the store now holds reconciles with
    /// the export to the cent. On any error nothing is changed.
    pub async fn replace_billing_periods(
        &self,
        replacement: PeriodReplacement<'_>,
    ) -> Result<IngestRunRecord, StoreError> {
        let finished_at = Utc::now();
        let duration_ms = (finished_at - replacement.started_at).num_milliseconds();
        let mut tx = self.pool.begin().await?;

        let run_id: i64 = sqlx::query(
            "INSERT INTO ingest_runs (started_at, finished_at, duration_ms, outcome, error, line_items, facts, tag_keys)
             VALUES ($1, $2, $3, 'ok', NULL, $4, $5, $6) RETURNING id",
        )
        .bind(timestamp(replacement.started_at))
        .bind(timestamp(finished_at))
        .bind(duration_ms)
        .bind(replacement.line_items)
        .bind(replacement.facts.len() as i64)
        .bind(serde_json::to_string(replacement.tag_keys).expect("strings serialise"))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;

        for (source, period) in replacement.periods {
            // Upserting the period row first takes its row lock, so two ingests of the same
            // period queue up instead of both deleting the old facts and both inserting.
            sqlx::query(
                "INSERT INTO billing_periods (source, billing_period, ingest_run_id, replaced_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (source, billing_period) DO UPDATE SET ingest_run_id = excluded.ingest_run_id, replaced_at = excluded.replaced_at",
            )
            .bind(source)
            .bind(period.to_string())
            .bind(run_id)
            .bind(timestamp(finished_at))
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM cost_facts WHERE source = $1 AND billing_period = $2")
                .bind(source)
                .bind(period.to_string())
                .execute(&mut *tx)
                .await?;
            bump_version(&mut tx, &format!("{} {source} {period}", writers::FACTS)).await?;
        }

        for chunk in replacement.facts.chunks(FACTS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO cost_facts (source, billing_period, charge_date, provider, billing_account_id, billing_account_name,
                 sub_account_id, sub_account_name, service_name, service_category, region, charge_category, currency, tags,
                 billed_cost_nanos, effective_cost_nanos, list_cost_nanos, consumed_quantity, line_items, ingest_run_id,
                 marketplace_publisher) VALUES {}",
                values_placeholders(self.engine, chunk.len(), FACT_COLUMNS)
            );
            let mut query = sqlx::query(&sql);
            for fact in chunk {
                let k = &fact.key;
                let a = &fact.amounts;
                let stored = |money: Money| stored_nanos(money, &k.currency);
                query = query
                    .bind(k.source.as_str())
                    .bind(k.billing_period.to_string())
                    .bind(k.charge_date.to_string())
                    .bind(k.provider.as_str())
                    .bind(k.billing_account_id.as_str())
                    .bind(k.billing_account_name.as_str())
                    .bind(k.sub_account_id.as_str())
                    .bind(k.sub_account_name.as_str())
                    .bind(k.service_name.as_str())
                    .bind(k.service_category.as_str())
                    .bind(k.region.as_str())
                    .bind(k.charge_category.as_str())
                    .bind(k.currency.as_str())
                    .bind(k.tags.as_str())
                    .bind(stored(a.costs.billed_cost)?)
                    .bind(stored(a.costs.effective_cost)?)
                    .bind(stored(a.costs.list_cost)?)
                    .bind(a.consumed_quantity)
                    .bind(a.line_items)
                    .bind(run_id)
                    .bind(k.marketplace_publisher.as_str());
            }
            query.execute(&mut *tx).await?;
        }

        let reconciliation = self.reconcile(&mut tx, &replacement).await?;
        if !reconciliation.iter().all(ReconciliationLine::balances) {
            tx.rollback().await?;
            return Err(StoreError::Unreconciled(reconciliation));
        }

        for file in replacement.files {
            insert_file(&mut tx, run_id, file).await?;
        }
        for fallback in replacement.fallbacks {
            sqlx::query(
                "INSERT INTO ingest_fallbacks (run_id, focus_column, source, line_items) VALUES ($1, $2, $3, $4)",
            )
            .bind(run_id)
            .bind(fallback.column.clone())
            .bind(fallback.source.clone())
            .bind(fallback.line_items)
            .execute(&mut *tx)
            .await?;
        }
        for line in &reconciliation {
            sqlx::query(
                "INSERT INTO ingest_reconciliation (run_id, source, billing_period, currency, export_billed_cost, stored_billed_cost,
                 export_effective_cost, stored_effective_cost, export_list_cost, stored_list_cost)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(run_id)
            .bind(line.source.clone())
            .bind(line.billing_period.clone())
            .bind(line.currency.clone())
            .bind(line.export.billed_cost.to_string())
            .bind(line.stored.billed_cost.to_string())
            .bind(line.export.effective_cost.to_string())
            .bind(line.stored.effective_cost.to_string())
            .bind(line.export.list_cost.to_string())
            .bind(line.stored.list_cost.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;

        Ok(IngestRunRecord {
            id: run_id,
            started_at: replacement.started_at,
            finished_at,
            duration_ms,
            outcome: RunOutcome::Ok,
            error: None,
            line_items: replacement.line_items,
            facts: replacement.facts.len() as i64,
            tag_keys: replacement.tag_keys.to_vec(),
            files: replacement.files.to_vec(),
            reconciliation,
            fallbacks: replacement.fallbacks.to_vec(),
        })
    }

    /// What the store holds for the replaced periods, inside the replacing transaction,
    /// beside the export's own sums.
    async fn reconcile(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        replacement: &PeriodReplacement<'_>,
    ) -> Result<Vec<ReconciliationLine>, StoreError> {
        let mut lines = std::collections::BTreeMap::<(String, String, String), (CostTotals, CostTotals)>::new();
        for ((source, period, currency), totals) in replacement.export_totals {
            lines.entry((source.clone(), period.to_string(), currency.clone())).or_default().0.add(totals);
        }
        for (source, period) in replacement.periods {
            let rows = sqlx::query(
                "SELECT currency, CAST(SUM(billed_cost_nanos) AS TEXT), CAST(SUM(effective_cost_nanos) AS TEXT),
                        CAST(SUM(list_cost_nanos) AS TEXT)
                 FROM cost_facts WHERE source = $1 AND billing_period = $2 GROUP BY currency",
            )
            .bind(source)
            .bind(period.to_string())
            .fetch_all(&mut **tx)
            .await?;
            for row in rows {
                let stored = CostTotals {
                    billed_cost: nanos_column(&row, 1)?,
                    effective_cost: nanos_column(&row, 2)?,
                    list_cost: nanos_column(&row, 3)?,
                };
                let currency: String = row.try_get(0)?;
                lines.entry((source.clone(), period.to_string(), currency)).or_default().1.add(&stored);
            }
        }
        Ok(lines
            .into_iter()
            .map(|((source, billing_period, currency), (export, stored))| ReconciliationLine {
                source,
                billing_period,
                currency,
                export,
                stored,
            })
            .collect())
    }

    /// Records an ingest that was refused, so `ingest status` shows it; no facts change.
    pub async fn record_failed_run(
        &self,
        started_at: DateTime<Utc>,
        tag_keys: &[String],
        files: &[IngestFileRecord],
        error: &str,
    ) -> Result<i64, StoreError> {
        let finished_at = Utc::now();
        let mut tx = self.pool.begin().await?;
        let run_id: i64 = sqlx::query(
            "INSERT INTO ingest_runs (started_at, finished_at, duration_ms, outcome, error, line_items, facts, tag_keys)
             VALUES ($1, $2, $3, 'failed', $4, 0, 0, $5) RETURNING id",
        )
        .bind(timestamp(started_at))
        .bind(timestamp(finished_at))
        .bind((finished_at - started_at).num_milliseconds())
        .bind(error.to_string())
        .bind(serde_json::to_string(tag_keys).expect("strings serialise"))
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        for file in files {
            insert_file(&mut tx, run_id, file).await?;
        }
        tx.commit().await?;
        Ok(run_id)
    }

    /// The newest `limit` ledger entries, newest first.
    pub async fn ingest_runs(&self, limit: i64) -> Result<Vec<IngestRunRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, started_at, finished_at, duration_ms, outcome, error, line_items, facts, tag_keys
             FROM ingest_runs ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut runs = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get(0)?;
            let outcome: String = row.try_get(4)?;
            let tag_keys: String = row.try_get(8)?;
            runs.push(IngestRunRecord {
                id,
                started_at: parse_timestamp(&row.try_get::<String, _>(1)?)?,
                finished_at: parse_timestamp(&row.try_get::<String, _>(2)?)?,
                duration_ms: row.try_get(3)?,
                outcome: if outcome == RunOutcome::Ok.as_str() { RunOutcome::Ok } else { RunOutcome::Failed },
                error: row.try_get(5)?,
                line_items: row.try_get(6)?,
                facts: row.try_get(7)?,
                tag_keys: serde_json::from_str(&tag_keys).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                files: self.run_files(id).await?,
                reconciliation: self.run_reconciliation(id).await?,
                fallbacks: self.run_fallbacks(id).await?,
            });
        }
        Ok(runs)
    }

    /// The export's own totals of billing period `month` per currency: the sums of every
    /// source's current figures, as each export stated them (the invoice, to the cent).
    pub async fn invoice_totals(&self, month: BillingPeriod) -> Result<Vec<(String, CostTotals)>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.currency, r.export_billed_cost, r.export_effective_cost, r.export_list_cost
             FROM ingest_reconciliation r
             JOIN billing_periods b
               ON b.ingest_run_id = r.run_id AND b.source = r.source AND b.billing_period = r.billing_period
             WHERE r.billing_period = $1",
        )
        .bind(month.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut totals: std::collections::BTreeMap<String, CostTotals> = std::collections::BTreeMap::new();
        for row in &rows {
            let line = CostTotals {
                billed_cost: decimal_column(row, 1)?,
                effective_cost: decimal_column(row, 2)?,
                list_cost: decimal_column(row, 3)?,
            };
            totals.entry(row.try_get(0)?).or_default().add(&line);
        }
        Ok(totals.into_iter().collect())
    }

    async fn run_files(&self, run_id: i64) -> Result<Vec<IngestFileRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT path, format, checksum, bytes, line_items FROM ingest_files WHERE run_id = $1 ORDER BY path",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(IngestFileRecord {
                    path: row.try_get(0)?,
                    format: row.try_get(1)?,
                    checksum: row.try_get(2)?,
                    bytes: row.try_get(3)?,
                    line_items: row.try_get(4)?,
                })
            })
            .collect()
    }

    async fn run_fallbacks(&self, run_id: i64) -> Result<Vec<FallbackCount>, StoreError> {
        let rows = sqlx::query("SELECT focus_column, source, line_items FROM ingest_fallbacks WHERE run_id = $1")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        let mut fallbacks = rows
            .iter()
            .map(|row| {
                Ok(FallbackCount { column: row.try_get(0)?, source: row.try_get(1)?, line_items: row.try_get(2)? })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // Byte order, as an ingest reports them (a PostgreSQL collation may order otherwise).
        fallbacks.sort_by(|a, b| (&a.column, &a.source).cmp(&(&b.column, &b.source)));
        Ok(fallbacks)
    }

    async fn run_reconciliation(&self, run_id: i64) -> Result<Vec<ReconciliationLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT source, billing_period, currency, export_billed_cost, stored_billed_cost, export_effective_cost,
                    stored_effective_cost, export_list_cost, stored_list_cost
             FROM ingest_reconciliation WHERE run_id = $1 ORDER BY source, billing_period, currency",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ReconciliationLine {
                    source: row.try_get(0)?,
                    billing_period: row.try_get(1)?,
                    currency: row.try_get(2)?,
                    export: CostTotals {
                        billed_cost: decimal_column(row, 3)?,
                        effective_cost: decimal_column(row, 5)?,
                        list_cost: decimal_column(row, 7)?,
                    },
                    stored: CostTotals {
                        billed_cost: decimal_column(row, 4)?,
                        effective_cost: decimal_column(row, 6)?,
                        list_cost: decimal_column(row, 8)?,
                    },
                })
            })
            .collect()
    }
}

async fn insert_file(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    run_id: i64,
    file: &IngestFileRecord,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ingest_files (run_id, path, format, checksum, bytes, line_items) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(run_id)
    .bind(file.path.clone())
    .bind(file.format.clone())
    .bind(file.checksum.clone())
    .bind(file.bytes)
    .bind(file.line_items)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp `{text}`: {e}")))
}

/// A `CAST(SUM(… nanos) AS TEXT)` column: an integer count of nano-units.
pub(super) fn nanos_column(row: &sqlx::any::AnyRow, index: usize) -> Result<Money, StoreError> {
    let text: Option<String> = row.try_get(index)?;
    let text = text.unwrap_or_else(|| "0".into());
    text.parse::<i128>().map(Money::from_nanos).map_err(|_| StoreError::Corrupt(format!("sum of nano-units `{text}`")))
}

pub(super) fn decimal_column(row: &sqlx::any::AnyRow, index: usize) -> Result<Money, StoreError> {
    let text: String = row.try_get(index)?;
    Money::parse_decimal(&text).ok_or_else(|| StoreError::Corrupt(format!("amount `{text}`")))
}
