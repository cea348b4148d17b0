//! The store's version: a number that grows whenever something an API answer is made of
//! changes, so answers cached under an older version are known to be stale. Each writer
//! bumps its own row in the transaction that changes the data, so the number and the data
//! become visible together, on every connection and every daemon sharing the store.

use sqlx::Row;

use super::{Store, StoreError};

/// The kinds of writers; a writer's row is named by its kind, then what it wrote.
pub mod writers {
    /// The facts of one source and billing period: `facts <source> <period>`.
    pub const FACTS: &str = "facts";
    pub const ALLOCATION: &str = "allocation";
    /// One monitor's anomalies: `anomalies <monitor>`.
    pub const ANOMALIES: &str = "anomalies";
    pub const FEEDBACK: &str = "anomaly feedback";
    /// One feed's metrics: `unit metrics <feed>`.
    pub const UNIT_METRICS: &str = "unit metrics";
}

impl Store {
    /// The sum of every writer's version.
    pub async fn version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM store_versions")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }

    /// The sum of the versions of the writers of `kinds` (see [`writers`]).
    pub async fn version_of(&self, kinds: &[&str]) -> Result<i64, StoreError> {
        version_of(&self.pool, kinds).await
    }
}

pub(super) async fn version_of<'e>(
    executor: impl sqlx::Executor<'e, Database = sqlx::Any>,
    kinds: &[&str],
) -> Result<i64, StoreError> {
    let rows = sqlx::query("SELECT writer, version FROM store_versions").fetch_all(executor).await?;
    let mut sum = 0;
    for row in &rows {
        let writer: String = row.try_get(0)?;
        let of_kind =
            |kind: &&str| writer.strip_prefix(*kind).is_some_and(|rest| rest.is_empty() || rest.starts_with(' '));
        if kinds.iter().any(of_kind) {
            sum += row.try_get::<i64, _>(1)?;
        }
    }
    Ok(sum)
}

/// Bumps `writer`'s version inside `tx`, the transaction that changes its data. Writers that
/// may run at once (ingests of different billing periods) use different names, so neither
/// waits for the other's row lock.
pub(super) async fn bump_version(tx: &mut sqlx::Transaction<'_, sqlx::Any>, writer: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO store_versions (writer, version) VALUES ($1, 1)
         ON CONFLICT (writer) DO UPDATE SET version = store_versions.version + 1",
    )
    .bind(writer.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
