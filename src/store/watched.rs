//! The versions of each watched location's files as last ingested (see `finopsd run`).

use std::collections::BTreeMap;

use chrono::Utc;
use sqlx::Row;

use super::ledger::timestamp;
use super::{Store, StoreError};

impl Store {
    /// The file versions of `location` as last ingested; `None` before its first ingest.
    pub async fn watched_versions(&self, location: &str) -> Result<Option<BTreeMap<String, String>>, StoreError> {
        let row = sqlx::query("SELECT versions FROM watched_exports WHERE location = $1")
            .bind(location.to_string())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get(0)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("watched_exports {location}: {e}")))
    }

    /// Records that `location` was ingested with its files at `versions`.
    pub async fn record_watched_versions(
        &self,
        location: &str,
        versions: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        let versions = serde_json::to_string(versions).expect("versions serialise");
        sqlx::query(
            "INSERT INTO watched_exports (location, versions, ingested_at) VALUES ($1, $2, $3)
             ON CONFLICT (location) DO UPDATE SET versions = excluded.versions, ingested_at = excluded.ingested_at",
        )
        .bind(location.to_string())
        .bind(versions)
        .bind(timestamp(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
