//! The store: cost facts, the ingest ledger and (as later stages land) what they derive.
//!
//! One interface over two engines: SQLite, embedded and the default, and PostgreSQL for shared
//! deployments. Queries are written once with `$n` placeholders, which both engines accept
//! (multi-row inserts alone use `?` on SQLite: see `values_placeholders`);
//! the few expressions that differ (JSON access) are chosen here, so no caller knows which
//! engine it talks to. Each engine owns its migrations.

mod allocations;
mod analysis;
mod anomalies;
mod costs;
mod freshness;
mod ledger;
mod locks;
mod outbox;
mod versions;
mod watched;

use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

use crate::config::DatabaseUrl;

pub use allocations::{
    AllocatedCost, AllocatedCosts, AllocationBatch, AllocationSummary, CoverageRow, FoldedSpelling,
    MonthlyAllocatedCost, ShowbackQuery, ShowbackRow, UnallocatedItem,
};
pub use analysis::{BudgetAlert, DailyCost, UnitMetric};
pub use anomalies::{ContributorDay, CostKind, NOT_USAGE, SeriesDay, SeriesSource, StoredAnomaly, sub_account_label};
pub use costs::{CostDimension, CostQuery, CostRow};
pub use freshness::{SeriesFeed, SourceLastDay};
pub use ledger::{
    FallbackCount, IngestFileRecord, IngestRunRecord, PeriodReplacement, ReconciliationKey, ReconciliationLine,
    RunOutcome,
};
pub use locks::{JobLock, job_lock_key};
pub use outbox::{AttemptOutcome, OutboxMessage};
pub use versions::writers;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("src/store/migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the store at {url}: {source}. Check store.url in the config or FINOPSD_DATABASE_URL")]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot create the folder for the SQLite file {path}: {source}")]
    CreateDir { path: String, source: std::io::Error },
    #[error("store migrations failed on {url}: {source}")]
    Migrate { url: String, source: sqlx::migrate::MigrateError },
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the store holds a value it cannot read back: {0}")]
    Corrupt(String),
    #[error("a daily fact of {amount} {currency} is beyond what one stored row holds (±9.2 billion)")]
    AmountTooLarge { amount: String, currency: String },
    #[error("the stored figures do not reconcile with the export; nothing was changed")]
    Unreconciled(Vec<ReconciliationLine>),
}

/// `money` as the BIGINT nano-units a row stores, or the error naming it when it does not fit.
fn stored_nanos(money: crate::focus::Money, currency: &str) -> Result<i64, StoreError> {
    money
        .to_stored()
        .ok_or_else(|| StoreError::AmountTooLarge { amount: money.to_string(), currency: currency.to_string() })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
}

impl Store {
    /// Opens the store, creating the SQLite file on first use, and runs pending migrations.
    pub async fn open(url: &DatabaseUrl, max_connections: u32) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let redacted = url.redacted();
        let engine = if url.expose().starts_with("sqlite:") { Engine::Sqlite } else { Engine::Postgres };
        let connect_url = match engine {
            Engine::Sqlite => sqlite_create_url(url.expose())?,
            Engine::Postgres => url.expose().to_string(),
        };
        let connect_error = |source| StoreError::Connect { url: redacted.clone(), source };
        // Bulk inserts of ten thousand values are slow by nature; sqlx would warn about each,
        // printing the whole statement. Slow statements are a debug matter here.
        let options = AnyConnectOptions::from_str(&connect_url)
            .map_err(connect_error)?
            .log_slow_statements(log::LevelFilter::Debug, std::time::Duration::from_secs(1));
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // NORMAL is durable in WAL mode except for the last commits before a
                        // power loss; a re-ingest restores those, and it halves write time.
                        conn.execute("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 30000;").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        if engine == Engine::Sqlite {
            // WAL lets readers (the API, `costs`) run while an ingest writes; it persists in
            // the file, so setting it once per open is enough.
            pool.execute("PRAGMA journal_mode = WAL").await.map_err(connect_error)?;
        }
        let migrator = match engine {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|source| StoreError::Migrate { url: redacted.clone(), source })?;
        Ok(Store { pool, engine })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Outbox messages by status (`pending`, `delivered`, `dead`), for `/metrics`.
    pub async fn outbox_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.count_by_status("outbox_messages").await
    }

    /// Anomalies by status (`open`, `ongoing`, `resolved`, `new_normal`), for `/metrics`.
    pub async fn anomaly_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.count_by_status("anomalies").await
    }

    async fn count_by_status(&self, table: &'static str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(&format!("SELECT status, COUNT(*) FROM {table} GROUP BY status ORDER BY status"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|row| Ok((row.try_get(0)?, row.try_get(1)?))).collect()
    }

    /// The text value of `key` in the JSON object of `column` (`''` when absent), as SQL.
    fn json_text_sql(&self, column: &str, key: &str) -> String {
        let key = key.replace('\'', "''");
        match self.engine {
            Engine::Sqlite => format!("COALESCE(json_extract({column}, '$.\"{}\"'), '')", key.replace('"', "\\\"")),
            Engine::Postgres => format!("COALESCE({column}::jsonb ->> '{key}', '')"),
        }
    }
}

/// `sqlite://finopsd.db` opens read-write but does not create the file; the embedded default
/// must work on a fresh machine, so add `mode=rwc` and create the folder it lives in.
fn sqlite_create_url(url: &str) -> Result<String, StoreError> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let parent = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent.filter(|_| path != ":memory:") {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir { path: path.to_string(), source })?;
    }
    if query.split('&').any(|pair| pair.starts_with("mode=")) {
        Ok(url.to_string())
    } else if query.is_empty() {
        Ok(format!("sqlite://{path}?mode=rwc"))
    } else {
        Ok(format!("sqlite://{path}?{query}&mode=rwc"))
    }
}

/// The placeholders of a multi-row insert: `($1, $2, …), ($n+1, …)` for PostgreSQL, and
/// anonymous `(?, ?, …)` for SQLite, which looks named ones up by a linear scan each, so a
/// statement with thousands of `$n` took quadratic time to bind.
fn values_placeholders(engine: Engine, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            match engine {
                Engine::Sqlite => sql.push('?'),
                Engine::Postgres => {
                    sql.push('$');
                    sql.push_str(&(row * columns + column + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_create_the_file() {
        assert_eq!(sqlite_create_url("sqlite://finopsd.db").unwrap(), "sqlite://finopsd.db?mode=rwc");
        assert_eq!(sqlite_create_url("sqlite://a.db?mode=ro").unwrap(), "sqlite://a.db?mode=ro");
        assert_eq!(sqlite_create_url("sqlite://a.db?cache=shared").unwrap(), "sqlite://a.db?cache=shared&mode=rwc");
    }

    #[test]
    fn placeholders_number_every_value() {
        assert_eq!(values_placeholders(Engine::Postgres, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(values_placeholders(Engine::Sqlite, 2, 2), "(?, ?), (?, ?)");
    }
}
