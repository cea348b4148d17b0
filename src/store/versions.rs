//! The store's version: a number that grows whenever something an API answer is made of
//! changes, so answers cached under an older version are known to be stale. Each writer
//! bumps its own row in the transaction that changes the data, so the number and the data
//! become visible together, on every connection and every daemon sharing the store.

use sqlx::Row;

use super::{Store, StoreError};

impl Store {
    /// The sum of every writer's version.
    pub async fn version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM store_versions")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get(0)?)
    }
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
