//! Allocated costs: written by `finopsd allocate` from the stored facts, read by showback.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use sqlx::Row;

use super::ledger::nanos_column;
use super::versions::{bump_version, version_of, writers};
use super::{Engine, Store, StoreError, stored_nanos, values_placeholders};
use crate::allocate::{ValueCase, ValueCases};
use crate::focus::{BillingPeriod, CostFact, CostTotals, FactAmounts, FactKey, Money};

/// The allocated costs of one source's billing period as the store keeps them. Rows name
/// their text by index, so a batch of millions of rows holds each string once.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocatedCosts {
    pub source: String,
    pub billing_period: BillingPeriod,
    /// Distinct provider, FOCUS ChargeCategory (Usage, Purchase, Tax, Credit or Adjustment)
    /// and currency of the rows.
    pub row_texts: Vec<[String; 3]>,
    /// Distinct outcomes of the rows: a JSON object dimension → value, and one dimension →
    /// how the value was chosen (`tag: <rule>`, `rule: <rule>`, `split: <split> (from
    /// <value>)`, `default`).
    pub outcomes: Vec<(String, String)>,
    pub rows: Vec<AllocatedCost>,
}

/// Facts of one day, provider, charge category and currency that got the same value in
/// every dimension, the same way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllocatedCost {
    pub charge_date: NaiveDate,
    /// Index into `AllocatedCosts::row_texts`.
    pub row_text: u32,
    /// Index into `AllocatedCosts::outcomes`.
    pub outcome: u32,
    pub costs: CostTotals,
}

/// One of the largest costs a dimension left at its default in a billing period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnallocatedItem {
    pub billing_period: BillingPeriod,
    pub dimension: String,
    pub currency: String,
    pub provider: String,
    pub sub_account_id: String,
    pub sub_account_name: String,
    pub service_name: String,
    pub costs: CostTotals,
}

/// One spelling of a value that costs spell more than one way, folded into the value shown,
/// and the EffectiveCost it carries in a billing period and currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldedSpelling {
    pub billing_period: BillingPeriod,
    pub dimension: String,
    /// The value shown.
    pub value: String,
    /// As the tags spell it.
    pub spelling: String,
    pub currency: String,
    pub effective_cost: Money,
}

/// What allocating one source's billing period yields.
#[derive(Debug, Clone)]
pub struct AllocationBatch {
    pub costs: AllocatedCosts,
    pub unallocated: Vec<UnallocatedItem>,
    pub spellings: Vec<FoldedSpelling>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AllocationSummary {
    pub run_id: i64,
    pub facts: i64,
    pub allocated_rows: i64,
    pub billing_periods: i64,
}

/// Allocated rows per INSERT: 12 values each, 6,000 parameters.
const ROWS_PER_INSERT: usize = 500;
const ALLOCATED_COLUMNS: usize = 12;
const UNALLOCATED_COLUMNS: usize = 12;
const DAILY_COLUMNS: usize = 8;
const SPELLING_COLUMNS: usize = 8;
const MONTHLY_COLUMNS: usize = 8;

/// A batch's allocated costs summed per dimension value: by day, provider, charge category
/// and currency, and over the billing period by method, provider and currency. Readers of
/// one dimension read these, not the JSON of every allocated row. Sums are keyed by small
/// indices so that tens of millions of rows sum without a string copied per row.
#[derive(Debug, Default)]
struct AllocationRollups {
    /// Distinct (dimension, value, method) of the batch's outcomes.
    choices: Vec<(String, String, String)>,
    /// (choice, day, row text) → billed, effective
    daily: HashMap<(u32, NaiveDate, u32), (Money, Money)>,
    /// (choice, row text) → billed, effective
    monthly: HashMap<(u32, u32), (Money, Money)>,
}

impl AllocationRollups {
    fn of(costs: &AllocatedCosts) -> AllocationRollups {
        let mut rollups = AllocationRollups::default();
        let mut known: HashMap<(String, String, String), u32> = HashMap::new();
        // Each outcome's choices, parsed once.
        let outcomes: Vec<Vec<u32>> = costs
            .outcomes
            .iter()
            .map(|(values, methods)| {
                let values: BTreeMap<String, String> = serde_json::from_str(values).expect("outcomes are JSON objects");
                let methods: BTreeMap<String, String> =
                    serde_json::from_str(methods).expect("outcomes are JSON objects");
                values
                    .into_iter()
                    .map(|(dimension, value)| {
                        let method = methods.get(&dimension).cloned().unwrap_or_default();
                        *known.entry((dimension, value, method)).or_insert_with_key(|choice| {
                            rollups.choices.push(choice.clone());
                            (rollups.choices.len() - 1) as u32
                        })
                    })
                    .collect()
            })
            .collect();
        for row in &costs.rows {
            for &choice in &outcomes[row.outcome as usize] {
                for sums in [
                    rollups.daily.entry((choice, row.charge_date, row.row_text)).or_default(),
                    rollups.monthly.entry((choice, row.row_text)).or_default(),
                ] {
                    sums.0 += row.costs.billed_cost;
                    sums.1 += row.costs.effective_cost;
                }
            }
        }
        rollups
    }
}

const FACT_COLUMNS: &str = "SELECT source, billing_period, charge_date, provider, billing_account_id,
    billing_account_name, sub_account_id, sub_account_name, service_name, service_category, region, charge_category,
    currency, tags, billed_cost_nanos, effective_cost_nanos, list_cost_nanos, consumed_quantity, line_items,
    marketplace_publisher FROM cost_facts";

impl Store {
    /// Replaces every allocation in one transaction: the facts of each billing period that
    /// has any are read and handed to `allocate`, whose rows are written; readers see the old
    /// figures until the new ones are complete. Billing periods are allocated on blocking
    /// threads, as many at once as there are cores, while earlier ones are written in order.
    pub async fn replace_allocations(
        &self,
        rules_json: &str,
        allocate: impl Fn(&[CostFact]) -> AllocationBatch + Send + Sync + 'static,
    ) -> Result<AllocationSummary, StoreError> {
        let allocate = Arc::new(allocate);
        let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut tx = self.pool.begin().await?;
        for table in [
            "allocated_costs",
            "allocated_daily_costs",
            "allocated_monthly_costs",
            "unallocated_items",
            "folded_spellings",
        ] {
            sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *tx).await?;
        }
        // Read before the facts: an ingest committing meanwhile leaves the allocation marked
        // older than what it read, so it is made again, never skipped.
        let facts_version = version_of(&mut *tx, &[writers::FACTS]).await?;
        let run_id: i64 = sqlx::query(
            "INSERT INTO allocation_runs (allocated_at, rules, facts, facts_version) VALUES ($1, $2, 0, $3) RETURNING id",
        )
        .bind(Utc::now().to_rfc3339())
        .bind(rules_json)
        .bind(facts_version)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        let periods: Vec<(String, String)> =
            sqlx::query("SELECT source, billing_period FROM billing_periods ORDER BY source, billing_period")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<_, sqlx::Error>>()?;
        let (mut facts, mut allocated_rows) = (0i64, 0i64);
        let mut allocating: VecDeque<tokio::task::JoinHandle<(AllocationBatch, AllocationRollups)>> = VecDeque::new();
        for (source, period) in &periods {
            let period_facts = source_period_facts(&mut tx, self.engine, source, period).await?;
            if period_facts.is_empty() {
                continue;
            }
            facts += period_facts.len() as i64;
            let allocate = allocate.clone();
            allocating.push_back(tokio::task::spawn_blocking(move || {
                let batch = allocate(&period_facts);
                let rollups = AllocationRollups::of(&batch.costs);
                (batch, rollups)
            }));
            if allocating.len() >= parallel {
                let (batch, rollups) = allocated(allocating.pop_front().expect("one is allocating")).await;
                allocated_rows += write_allocation_batch(&mut tx, run_id, self.engine, &batch, &rollups).await?;
            }
        }
        while let Some(next) = allocating.pop_front() {
            let (batch, rollups) = allocated(next).await;
            allocated_rows += write_allocation_batch(&mut tx, run_id, self.engine, &batch, &rollups).await?;
        }
        sqlx::query("UPDATE allocation_runs SET facts = $1 WHERE id = $2")
            .bind(facts)
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
        bump_version(&mut tx, writers::ALLOCATION).await?;
        tx.commit().await?;
        Ok(AllocationSummary { run_id, facts, allocated_rows, billing_periods: periods.len() as i64 })
    }
}

/// A billing period's allocation once its thread is done; its panic, if it panicked.
async fn allocated<T>(allocation: tokio::task::JoinHandle<T>) -> T {
    allocation.await.unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()))
}

/// Writes one billing period's allocation; returns the rows written.
async fn write_allocation_batch(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    run_id: i64,
    engine: Engine,
    batch: &AllocationBatch,
    rollups: &AllocationRollups,
) -> Result<i64, StoreError> {
    let allocated = &batch.costs;
    // Every allocated row and monthly sum of the batch is of its one billing period.
    let period = allocated.billing_period.to_string();
    for chunk in allocated.rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO allocated_costs (allocation_run_id, source, billing_period, charge_date, provider,
             charge_category, currency, dimension_values, methods, billed_cost_nanos, effective_cost_nanos,
             list_cost_nanos)
             VALUES {}",
            values_placeholders(engine, chunk.len(), ALLOCATED_COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            let [provider, charge_category, currency] = &allocated.row_texts[row.row_text as usize];
            let (dimension_values, methods) = &allocated.outcomes[row.outcome as usize];
            let stored = |money: Money| stored_nanos(money, currency);
            query = query
                .bind(run_id)
                .bind(allocated.source.as_str())
                .bind(period.as_str())
                .bind(row.charge_date.to_string())
                .bind(provider.as_str())
                .bind(charge_category.as_str())
                .bind(currency.as_str())
                .bind(dimension_values.as_str())
                .bind(methods.as_str())
                .bind(stored(row.costs.billed_cost)?)
                .bind(stored(row.costs.effective_cost)?)
                .bind(stored(row.costs.list_cost)?);
        }
        query.execute(&mut **tx).await?;
    }
    for chunk in batch.unallocated.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO unallocated_items (allocation_run_id, source, billing_period, dimension, currency,
             provider, sub_account_id, sub_account_name, service_name, billed_cost_nanos,
             effective_cost_nanos, list_cost_nanos)
             VALUES {}",
            values_placeholders(engine, chunk.len(), UNALLOCATED_COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for item in chunk {
            let stored = |money: Money| stored_nanos(money, &item.currency);
            query = query
                .bind(run_id)
                .bind(allocated.source.as_str())
                .bind(item.billing_period.to_string())
                .bind(item.dimension.clone())
                .bind(item.currency.clone())
                .bind(item.provider.clone())
                .bind(item.sub_account_id.clone())
                .bind(item.sub_account_name.clone())
                .bind(item.service_name.clone())
                .bind(stored(item.costs.billed_cost)?)
                .bind(stored(item.costs.effective_cost)?)
                .bind(stored(item.costs.list_cost)?);
        }
        query.execute(&mut **tx).await?;
    }
    for chunk in batch.spellings.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO folded_spellings (allocation_run_id, source, billing_period, dimension, value, spelling,
             currency, effective_cost_nanos)
             VALUES {}",
            values_placeholders(engine, chunk.len(), SPELLING_COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for spelling in chunk {
            query = query
                .bind(run_id)
                .bind(allocated.source.as_str())
                .bind(period.as_str())
                .bind(spelling.dimension.as_str())
                .bind(spelling.value.as_str())
                .bind(spelling.spelling.as_str())
                .bind(spelling.currency.as_str())
                .bind(stored_nanos(spelling.effective_cost, &spelling.currency)?);
        }
        query.execute(&mut **tx).await?;
    }
    let daily: Vec<_> = rollups.daily.iter().collect();
    for chunk in daily.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO allocated_daily_costs (dimension, value, charge_date, provider, charge_category, currency,
             billed_cost_nanos, effective_cost_nanos)
             VALUES {}",
            values_placeholders(engine, chunk.len(), DAILY_COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for ((choice, day, row_text), (billed, effective)) in chunk {
            let (dimension, value, _) = &rollups.choices[*choice as usize];
            let [provider, charge_category, currency] = &allocated.row_texts[*row_text as usize];
            query = query
                .bind(dimension.as_str())
                .bind(value.as_str())
                .bind(day.to_string())
                .bind(provider.as_str())
                .bind(charge_category.as_str())
                .bind(currency.as_str())
                .bind(stored_nanos(*billed, currency)?)
                .bind(stored_nanos(*effective, currency)?);
        }
        query.execute(&mut **tx).await?;
    }
    let monthly: Vec<_> = rollups.monthly.iter().collect();
    for chunk in monthly.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO allocated_monthly_costs (dimension, value, method, billing_period, provider, currency,
             billed_cost_nanos, effective_cost_nanos)
             VALUES {}",
            values_placeholders(engine, chunk.len(), MONTHLY_COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for ((choice, row_text), (billed, effective)) in chunk {
            let (dimension, value, method) = &rollups.choices[*choice as usize];
            let [provider, _, currency] = &allocated.row_texts[*row_text as usize];
            query = query
                .bind(dimension.as_str())
                .bind(value.as_str())
                .bind(method.as_str())
                .bind(period.as_str())
                .bind(provider.as_str())
                .bind(currency.as_str())
                .bind(stored_nanos(*billed, currency)?)
                .bind(stored_nanos(*effective, currency)?);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(batch.costs.rows.len() as i64)
}

/// Showback for one billing period (invoice month), grouped by allocation dimensions.
#[derive(Debug, Clone)]
pub struct ShowbackQuery {
    pub month: BillingPeriod,
    pub by: Vec<String>,
}

/// One group's figures in a month and the month before, in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct ShowbackRow {
    /// One value per `by` dimension, in order.
    pub values: Vec<String>,
    pub currency: String,
    pub effective_cost: Money,
    pub billed_cost: Money,
    pub previous_effective_cost: Money,
}

/// A dimension value's allocated costs of one billing period, in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyAllocatedCost {
    pub month: BillingPeriod,
    pub value: String,
    pub currency: String,
    pub billed_cost: Money,
    pub effective_cost: Money,
}

impl Store {
    /// Allocated costs of `query.month` and the month before, by the dimensions asked for.
    pub async fn showback(&self, query: &ShowbackQuery) -> Result<Vec<ShowbackRow>, StoreError> {
        let keys: Vec<String> = query.by.iter().map(|d| self.json_text_sql("dimension_values", d)).collect();
        let select: String = keys.iter().enumerate().map(|(i, key)| format!("{key} AS k{i}, ")).collect();
        let group: String = (0..keys.len()).map(|i| format!("k{i}, ")).collect();
        let sum = |column: &str, period: &str| {
            format!("CAST(SUM(CASE WHEN billing_period = {period} THEN {column} ELSE 0 END) AS TEXT)")
        };
        let sql = format!(
            "SELECT {select}currency, {}, {}, {}
             FROM allocated_costs WHERE billing_period IN ($1, $2)
             GROUP BY {group}currency ORDER BY {group}currency",
            sum("effective_cost_nanos", "$1"),
            sum("billed_cost_nanos", "$1"),
            sum("effective_cost_nanos", "$2"),
        );
        let rows = sqlx::query(&sql)
            .bind(query.month.to_string())
            .bind(query.month.previous().to_string())
            .fetch_all(&self.pool)
            .await?;
        let n = keys.len();
        rows.iter()
            .map(|row| {
                Ok(ShowbackRow {
                    values: (0..n).map(|i| row.try_get::<String, _>(i)).collect::<Result<_, _>>()?,
                    currency: row.try_get(n)?,
                    effective_cost: nanos_column(row, n + 1)?,
                    billed_cost: nanos_column(row, n + 2)?,
                    previous_effective_cost: nanos_column(row, n + 3)?,
                })
            })
            .collect()
    }

    /// Allocated costs of `dimension` per value, billing period and currency over the billing
    /// periods `from..=to`, oldest first.
    pub async fn monthly_allocated_costs(
        &self,
        dimension: &str,
        from: BillingPeriod,
        to: BillingPeriod,
    ) -> Result<Vec<MonthlyAllocatedCost>, StoreError> {
        let rows = sqlx::query(
            "SELECT billing_period, value, currency, CAST(SUM(billed_cost_nanos) AS TEXT),
                    CAST(SUM(effective_cost_nanos) AS TEXT)
             FROM allocated_monthly_costs WHERE dimension = $1 AND billing_period >= $2 AND billing_period <= $3
             GROUP BY billing_period, value, currency ORDER BY billing_period, value, currency",
        )
        .bind(dimension.to_string())
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let month: String = row.try_get(0)?;
                Ok(MonthlyAllocatedCost {
                    month: month.parse().map_err(|_| StoreError::Corrupt(format!("billing period `{month}`")))?,
                    value: row.try_get(1)?,
                    currency: row.try_get(2)?,
                    billed_cost: nanos_column(row, 3)?,
                    effective_cost: nanos_column(row, 4)?,
                })
            })
            .collect()
    }

    /// Whether the current allocations were made with `rules_json` from the facts as they are.
    pub async fn allocation_is_current(&self, rules_json: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT rules, facts_version FROM allocation_runs ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(false) };
        let (rules, made_from): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        Ok(rules == rules_json && made_from == self.version_of(&[writers::FACTS]).await?)
    }

    /// The dimensions the current allocations were made with, if any were made.
    pub async fn allocated_dimensions(&self) -> Result<Option<Vec<String>>, StoreError> {
        Ok(self
            .allocated_dimension_rules()
            .await?
            .map(|dimensions| dimensions.iter().filter_map(|d| d["name"].as_str()).map(String::from).collect()))
    }

    /// How each dimension of the current allocations compares its values, as the rules they
    /// were made with say: what a budget or a report on one value matches the stored values
    /// by. Allocations made before values folded kept every spelling apart.
    pub async fn allocated_value_cases(&self) -> Result<ValueCases, StoreError> {
        let dimensions = self.allocated_dimension_rules().await?.unwrap_or_default();
        Ok(dimensions
            .iter()
            .filter_map(|d| {
                let case = serde_json::from_value(d["value_case"].clone()).unwrap_or(ValueCase::Preserve);
                Some((d["name"].as_str()?.to_string(), case))
            })
            .collect())
    }

    /// The `dimensions` of the rules the current allocations were made with, if any were made.
    async fn allocated_dimension_rules(&self) -> Result<Option<Vec<serde_json::Value>>, StoreError> {
        let row = sqlx::query("SELECT rules FROM allocation_runs ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let rules: String = row.try_get(0)?;
        let mut config: serde_json::Value =
            serde_json::from_str(&rules).map_err(|_| StoreError::Corrupt("allocation rules".into()))?;
        Ok(Some(match config["dimensions"].take() {
            serde_json::Value::Array(dimensions) => dimensions,
            _ => Vec::new(),
        }))
    }
}

/// Allocated EffectiveCost of a billing period per provider, currency, dimension and method.
#[derive(Debug, Clone, PartialEq)]
pub struct CoverageRow {
    pub provider: String,
    pub currency: String,
    pub dimension: String,
    /// As stored: `tag: <rule>`, `rule: <rule>`, `split: <split> (from <value>)` or `default`.
    pub method: String,
    pub effective_cost: Money,
}

impl Store {
    /// The stored facts' EffectiveCost and line items summed over sources, billing periods and
    /// days: one per set of the columns rules read and currency (its source, billing period
    /// and day are the first of those summed). What allocation chooses the spelling of folded
    /// values from.
    pub async fn fact_sums_by_attributes(&self) -> Result<Vec<CostFact>, StoreError> {
        const ATTRIBUTES: &str = "provider, billing_account_id, billing_account_name, sub_account_id,
            sub_account_name, service_name, service_category, region, charge_category, currency, tags,
            marketplace_publisher";
        let rows = sqlx::query(&format!(
            "SELECT MIN(source), MIN(billing_period), MIN(charge_date), {ATTRIBUTES},
                    CAST(SUM(effective_cost_nanos) AS TEXT), CAST(SUM(line_items) AS BIGINT)
             FROM cost_facts GROUP BY {ATTRIBUTES}"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(CostFact {
                    key: fact_key(row, 14)?,
                    amounts: FactAmounts {
                        costs: CostTotals { effective_cost: nanos_column(row, 15)?, ..CostTotals::default() },
                        consumed_quantity: 0.0,
                        line_items: row.try_get(16)?,
                    },
                })
            })
            .collect()
    }

    /// The stored facts of a billing period, per source (allocation's unit of work), for
    /// explaining or previewing allocations without writing them.
    pub async fn period_facts(&self, month: BillingPeriod) -> Result<Vec<Vec<CostFact>>, StoreError> {
        let rows = sqlx::query(&format!("{FACT_COLUMNS} WHERE billing_period = $1 ORDER BY source"))
            .bind(month.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut sources: Vec<Vec<CostFact>> = Vec::new();
        for row in &rows {
            let fact = fact_from_row(row)?;
            match sources.last_mut() {
                Some(facts) if facts[0].key.source == fact.key.source => facts.push(fact),
                _ => sources.push(vec![fact]),
            }
        }
        Ok(sources)
    }

    /// The export files the current figures of every billing period were ingested from.
    pub async fn current_export_files(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT f.path FROM ingest_files f JOIN billing_periods b ON f.run_id = b.ingest_run_id
             ORDER BY f.path",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
    }

    /// The billing periods the store holds facts for, oldest first.
    pub async fn billing_periods(&self) -> Result<Vec<BillingPeriod>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT billing_period FROM billing_periods ORDER BY billing_period")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get(0)?;
                text.parse().map_err(|_| StoreError::Corrupt(format!("billing period `{text}`")))
            })
            .collect()
    }

    /// How the current allocations of `month` were made, per dimension.
    pub async fn allocation_coverage(
        &self,
        month: BillingPeriod,
        dimensions: &[String],
    ) -> Result<Vec<CoverageRow>, StoreError> {
        let mut coverage = Vec::new();
        for dimension in dimensions {
            let rows = sqlx::query(
                "SELECT provider, currency, method, CAST(SUM(effective_cost_nanos) AS TEXT)
                 FROM allocated_monthly_costs WHERE dimension = $1 AND billing_period = $2
                 GROUP BY provider, currency, method ORDER BY provider, currency, method",
            )
            .bind(dimension.clone())
            .bind(month.to_string())
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                coverage.push(CoverageRow {
                    provider: row.try_get(0)?,
                    currency: row.try_get(1)?,
                    dimension: dimension.clone(),
                    method: row.try_get(2)?,
                    effective_cost: nanos_column(&row, 3)?,
                });
            }
        }
        Ok(coverage)
    }

    /// The values of `month` costs spell more than one way, per dimension: each spelling
    /// with the value shown for it and the EffectiveCost it carries per currency (sources
    /// summed); per dimension and value, largest first.
    pub async fn folded_spellings(&self, month: BillingPeriod) -> Result<Vec<FoldedSpelling>, StoreError> {
        let rows = sqlx::query(
            "SELECT dimension, value, spelling, currency, CAST(SUM(effective_cost_nanos) AS TEXT)
             FROM folded_spellings WHERE billing_period = $1
             GROUP BY dimension, value, spelling, currency",
        )
        .bind(month.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut spellings = rows
            .iter()
            .map(|row| {
                Ok(FoldedSpelling {
                    billing_period: month,
                    dimension: row.try_get(0)?,
                    value: row.try_get(1)?,
                    spelling: row.try_get(2)?,
                    currency: row.try_get(3)?,
                    effective_cost: nanos_column(row, 4)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        spellings.sort_by(|a, b| {
            (&a.dimension, &a.value, &a.currency)
                .cmp(&(&b.dimension, &b.value, &b.currency))
                .then(b.effective_cost.cmp(&a.effective_cost))
                .then_with(|| a.spelling.cmp(&b.spelling))
        });
        Ok(spellings)
    }

    /// The largest unallocated items of `month`, at most `limit` per dimension and currency.
    pub async fn unallocated_items(
        &self,
        month: BillingPeriod,
        limit: usize,
    ) -> Result<Vec<UnallocatedItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT dimension, currency, provider, sub_account_id, sub_account_name, service_name,
                    CAST(SUM(billed_cost_nanos) AS TEXT), CAST(SUM(effective_cost_nanos) AS TEXT),
                    CAST(SUM(list_cost_nanos) AS TEXT)
             FROM unallocated_items WHERE billing_period = $1
             GROUP BY dimension, currency, provider, sub_account_id, sub_account_name, service_name",
        )
        .bind(month.to_string())
        .fetch_all(&self.pool)
        .await?;
        let mut items = rows
            .iter()
            .map(|row| {
                Ok(UnallocatedItem {
                    billing_period: month,
                    dimension: row.try_get(0)?,
                    currency: row.try_get(1)?,
                    provider: row.try_get(2)?,
                    sub_account_id: row.try_get(3)?,
                    sub_account_name: row.try_get(4)?,
                    service_name: row.try_get(5)?,
                    costs: CostTotals {
                        billed_cost: nanos_column(row, 6)?,
                        effective_cost: nanos_column(row, 7)?,
                        list_cost: nanos_column(row, 8)?,
                    },
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        items.sort_by(|a, b| {
            (&a.dimension, &a.currency)
                .cmp(&(&b.dimension, &b.currency))
                .then(b.costs.effective_cost.cmp(&a.costs.effective_cost))
        });
        let mut kept: Vec<UnallocatedItem> = Vec::new();
        for item in items {
            if kept.iter().filter(|k| k.dimension == item.dimension && k.currency == item.currency).count() < limit {
                kept.push(item);
            }
        }
        Ok(kept)
    }
}

/// A fact's key from a row whose first 14 columns are the grain's (source, billing period,
/// charge date, provider, …, tags) and whose column `publisher` holds the marketplace seller.
fn fact_key(row: &sqlx::any::AnyRow, publisher: usize) -> Result<FactKey, StoreError> {
    let mut texts: [String; 15] = Default::default();
    for (index, text) in texts.iter_mut().enumerate() {
        *text = row.try_get(if index == 14 { publisher } else { index })?;
    }
    key_from_texts(texts)
}

/// A fact's key from the grain's text: source, billing period, charge date, provider, billing
/// account id and name, sub-account id and name, service name and category, region, charge
/// category, currency, tags, marketplace publisher.
fn key_from_texts(texts: [String; 15]) -> Result<FactKey, StoreError> {
    // A struct's fields are evaluated in the order written: each takes the next text.
    let mut texts = texts.into_iter();
    let mut next = || texts.next().expect("fifteen texts");
    Ok(FactKey {
        source: next(),
        billing_period: parsed("billing period", next())?,
        charge_date: parsed("charge date", next())?,
        provider: next(),
        billing_account_id: next(),
        billing_account_name: next(),
        sub_account_id: next(),
        sub_account_name: next(),
        service_name: next(),
        service_category: next(),
        region: next(),
        charge_category: next(),
        currency: next(),
        tags: next(),
        marketplace_publisher: next(),
    })
}

fn parsed<T: std::str::FromStr>(what: &str, text: String) -> Result<T, StoreError> {
    text.parse().map_err(|_| StoreError::Corrupt(format!("{what} `{text}`")))
}

/// The facts one source holds for a billing period, in no particular order (allocation does
/// not depend on it). SQLite hands rows one at a time from its worker thread, each a wake-up of
/// the reader (~15 µs here, most of an allocation's time): there the facts come in JSON arrays
/// of a few thousand, built by SQLite and parsed in one go.
async fn source_period_facts(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    engine: Engine,
    source: &str,
    period: &str,
) -> Result<Vec<CostFact>, StoreError> {
    const FILTER: &str = "WHERE source = $1 AND billing_period = $2";
    match engine {
        Engine::Postgres => {
            let rows =
                sqlx::query(&format!("{FACT_COLUMNS} {FILTER}")).bind(source).bind(period).fetch_all(&mut **tx).await?;
            rows.iter().map(fact_from_row).collect()
        }
        Engine::Sqlite => {
            // Pages of rowids, which the (source, billing_period) index yields in order: no sort,
            // one page of text in memory. Quantities as text of 17 digits, which read back as
            // the same double: SQLite's JSON writes doubles with 15.
            let page = format!(
                "SELECT max(rowid), json_group_array(json_array(json_array(source, billing_period, charge_date,
                        provider, billing_account_id, billing_account_name, sub_account_id, sub_account_name,
                        service_name, service_category, region, charge_category, currency, tags,
                        marketplace_publisher), billed_cost_nanos, effective_cost_nanos, list_cost_nanos,
                        printf('%!.17g', consumed_quantity), line_items))
                 FROM (SELECT rowid, * FROM cost_facts {FILTER} AND rowid > $3 ORDER BY rowid LIMIT {FACTS_PER_PAGE})"
            );
            let (mut facts, mut after) = (Vec::new(), 0i64);
            loop {
                let row = sqlx::query(&page).bind(source).bind(period).bind(after).fetch_one(&mut **tx).await?;
                let Some(last) = row.try_get::<Option<i64>, _>(0)? else { return Ok(facts) };
                let text: String = row.try_get(1)?;
                let page: Vec<StoredFact> = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("cost facts of {source} {period}: {e}")))?;
                facts.reserve(page.len());
                for fact in page {
                    facts.push(fact_from_json(fact)?);
                }
                after = last;
            }
        }
    }
}

/// Facts per page of [`source_period_facts`] on SQLite.
const FACTS_PER_PAGE: usize = 4096;

/// A `cost_facts` row as SQLite's `json_array` (see [`source_period_facts`]): the grain's text
/// in [`key_from_texts`]'s order, the three costs in nano-units, the quantity as text and the
/// line items.
type StoredFact = ([String; 15], i64, i64, i64, String, i64);

fn fact_from_json((texts, billed, effective, list, quantity, line_items): StoredFact) -> Result<CostFact, StoreError> {
    let nanos = |n: i64| Money::from_nanos(n.into());
    Ok(CostFact {
        key: key_from_texts(texts)?,
        amounts: FactAmounts {
            costs: CostTotals { billed_cost: nanos(billed), effective_cost: nanos(effective), list_cost: nanos(list) },
            consumed_quantity: parsed("consumed quantity", quantity)?,
            line_items,
        },
    })
}

fn fact_from_row(row: &sqlx::any::AnyRow) -> Result<CostFact, StoreError> {
    let nanos = |i: usize| row.try_get::<i64, _>(i).map(|n| Money::from_nanos(n.into()));
    Ok(CostFact {
        key: fact_key(row, 19)?,
        amounts: FactAmounts {
            costs: CostTotals { billed_cost: nanos(14)?, effective_cost: nanos(15)?, list_cost: nanos(16)? },
            consumed_quantity: row.try_get(17)?,
            line_items: row.try_get(18)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatabaseUrl;

    /// SQLite's JSON pages give back every fact as the row path reads it: over several pages,
    /// with text that JSON must escape, amounts at the ends of what a row holds, and
    /// quantities that 15 digits would round.
    #[tokio::test]
    async fn sqlite_json_pages_read_facts_as_rows_do() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = DatabaseUrl::new(format!("sqlite://{}", dir.path().join("facts.db").display()));
        let store = Store::open(&url, 1).await.expect("the store opens");
        let texts = ["plain", "a \"quoted\" \\ value", "tab\tnew\nline\u{1}", "é 日本 💸", r#"{"team":"a\"b"}"#, ""];
        let quantities = [0.1, 1.0 / 3.0, 5e-324, f64::MAX, -0.0, 1e300, 123_456.789_012_345_67, f64::INFINITY];
        let nanos = [i64::MAX, i64::MIN + 1, 0, 1, -1, 999_999_999_999];
        let mut tx = store.pool.begin().await.expect("a transaction");
        sqlx::query(
            "INSERT INTO ingest_runs (id, started_at, finished_at, duration_ms, outcome, line_items, facts, tag_keys)
             VALUES (1, '', '', 0, 'ok', 0, 0, '[]')",
        )
        .execute(&mut *tx)
        .await
        .expect("a run");
        let facts = 2 * FACTS_PER_PAGE + 17;
        for n in 0..facts {
            let text = texts[n % texts.len()];
            sqlx::query(
                "INSERT INTO cost_facts (source, billing_period, charge_date, provider, billing_account_id,
                 billing_account_name, sub_account_id, sub_account_name, service_name, service_category, region,
                 charge_category, currency, tags, billed_cost_nanos, effective_cost_nanos, list_cost_nanos,
                 consumed_quantity, line_items, ingest_run_id, marketplace_publisher)
                 VALUES ('aws:1', '2025-03', $1, 'AWS', '1', $2, $3, $2, $2, $2, $2, 'Usage', 'USD', $4, $5, $6, $7,
                         $8, $9, 1, $2)",
            )
            .bind(format!("2025-03-{:02}", n % 28 + 1))
            .bind(text)
            .bind(format!("account-{n}"))
            .bind(if n % 2 == 0 { r#"{"team":"payments"}"# } else { text })
            .bind(nanos[n % nanos.len()])
            .bind(nanos[(n + 1) % nanos.len()])
            .bind(nanos[(n + 2) % nanos.len()])
            .bind(quantities[n % quantities.len()])
            .bind(n as i64)
            .execute(&mut *tx)
            .await
            .expect("a fact");
        }
        let sorted = |mut facts: Vec<CostFact>| {
            facts.sort_by(|a, b| a.key.sub_account_id.cmp(&b.key.sub_account_id));
            facts
        };
        let from_pages = sorted(source_period_facts(&mut tx, Engine::Sqlite, "aws:1", "2025-03").await.unwrap());
        // The row path, which PostgreSQL takes, reads the same file.
        let from_rows = sorted(source_period_facts(&mut tx, Engine::Postgres, "aws:1", "2025-03").await.unwrap());
        assert_eq!(from_pages.len(), facts);
        assert_eq!(from_pages, from_rows);
        for (page, row) in from_pages.iter().zip(&from_rows) {
            let bits = |fact: &CostFact| fact.amounts.consumed_quantity.to_bits();
            assert_eq!(bits(page), bits(row), "{}", row.amounts.consumed_quantity);
        }
    }
}
