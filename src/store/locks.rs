//! Jobs that one daemon at a time runs when several share a PostgreSQL store: a session
//! advisory lock per job, tried and never waited for (the daemon holding it is doing the job),
//! held on a connection of its own for as long as the job runs. A daemon that dies mid-job
//! drops its connection, and PostgreSQL releases the lock with it. SQLite serves one process,
//! so there every job is granted.

use sqlx::Any;
use sqlx::pool::PoolConnection;
use xxhash_rust::xxh3::xxh3_64;

use super::{Engine, Store, StoreError};

/// The advisory lock key of a job name (the same in every daemon).
pub fn job_lock_key(job: &str) -> i64 {
    xxh3_64(job.as_bytes()) as i64
}

/// A job this daemon holds until [`JobLock::release`].
pub struct JobLock {
    held: Option<(PoolConnection<Any>, i64)>,
}

impl Store {
    /// The job's lock, or `None` when another daemon holds it.
    pub async fn try_lock_job(&self, job: &str) -> Result<Option<JobLock>, StoreError> {
        if self.engine == Engine::Sqlite {
            return Ok(Some(JobLock { held: None }));
        }
        let key = job_lock_key(job);
        let mut connection = self.pool.acquire().await?;
        let granted: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(key).fetch_one(&mut *connection).await?;
        Ok(granted.then_some(JobLock { held: Some((connection, key)) }))
    }
}

impl JobLock {
    pub async fn release(mut self) {
        if let Some((mut connection, key)) = self.held.take()
            && let Err(error) = sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(&mut *connection).await
        {
            // Closing the connection releases the lock as surely.
            tracing::warn!(%error, "a job lock could not be released; its connection is closed instead");
            drop(connection.detach());
        }
    }
}

impl Drop for JobLock {
    /// A lock not released (its job panicked or was cancelled) goes with its connection,
    /// which is closed rather than returned to the pool still holding it.
    fn drop(&mut self) {
        if let Some((connection, _)) = self.held.take() {
            drop(connection.detach());
        }
    }
}
