//! The durable outbox: messages are kept before any delivery attempt and leave only as
//! delivered or dead-lettered, so a crash or a receiver that is down loses nothing.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::ledger::{parse_timestamp, timestamp};
use super::{Store, StoreError};

/// A message on its way to one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: i64,
    pub channel: String,
    pub idempotency_key: String,
    pub kind: String,
    /// The channel-neutral message as JSON.
    pub message: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl OutboxMessage {
    /// The message as the HTTP API shows it (its error kept as recorded, which never holds a
    /// channel's secret URL).
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        Ok(serde_json::json!({
            "id": self.id,
            "channel": self.channel,
            "kind": self.kind,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "delivered_at": self.delivered_at,
            "idempotency_key": self.idempotency_key,
            "message": serde_json::from_str::<serde_json::Value>(&self.message)?,
        }))
    }
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Delivered,
    /// Try again at this time.
    Retry {
        at: DateTime<Utc>,
        error: String,
    },
    /// No more attempts: the retries are spent or the receiver refused for good.
    Dead {
        error: String,
    },
}

const COLUMNS: &str = "SELECT id, channel, idempotency_key, kind, message, status, attempts, next_attempt_at, \
                       last_error, created_at, delivered_at FROM outbox_messages";

fn message_from_row(row: &sqlx::any::AnyRow) -> Result<OutboxMessage, StoreError> {
    let delivered: Option<String> = row.try_get(10)?;
    Ok(OutboxMessage {
        id: row.try_get(0)?,
        channel: row.try_get(1)?,
        idempotency_key: row.try_get(2)?,
        kind: row.try_get(3)?,
        message: row.try_get(4)?,
        status: row.try_get(5)?,
        attempts: row.try_get(6)?,
        next_attempt_at: parse_timestamp(&row.try_get::<String, _>(7)?)?,
        last_error: row.try_get(8)?,
        created_at: parse_timestamp(&row.try_get::<String, _>(9)?)?,
        delivered_at: delivered.as_deref().map(parse_timestamp).transpose()?,
    })
}

impl Store {
    /// Keeps a message for `channel`, due at `due`, unless one with the same key is already
    /// kept (delivered or not); true when it is new.
    pub async fn enqueue_message(
        &self,
        channel: &str,
        idempotency_key: &str,
        kind: &str,
        message: &str,
        due: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO outbox_messages (channel, idempotency_key, kind, message, status, attempts, next_attempt_at,
                                          created_at)
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6)
             ON CONFLICT (channel, idempotency_key) DO NOTHING",
        )
        .bind(channel.to_string())
        .bind(idempotency_key.to_string())
        .bind(kind.to_string())
        .bind(message.to_string())
        .bind(timestamp(due))
        .bind(timestamp(Utc::now()))
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The idempotency keys kept for `channel` whose key starts with `prefix`.
    pub async fn outbox_keys(&self, channel: &str, prefix: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT idempotency_key FROM outbox_messages WHERE channel = $1 AND substr(idempotency_key, 1, $2) = $3",
        )
        .bind(channel.to_string())
        .bind(prefix.len() as i32)
        .bind(prefix.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
    }

    /// Claims the pending messages due at `now`, oldest first: each is moved `lease` ahead, so
    /// another process delivering the same outbox skips it, and a process that dies while
    /// sending leaves it due again once the lease ends.
    pub async fn claim_due_messages(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: i64,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(&format!(
            "{COLUMNS} WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        ))
        .bind(timestamp(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for row in &rows {
            let mut message = message_from_row(row)?;
            let until = now + lease;
            // Only if nobody claimed it since it was read.
            let result = sqlx::query(
                "UPDATE outbox_messages SET next_attempt_at = $1
                 WHERE id = $2 AND status = 'pending' AND next_attempt_at = $3",
            )
            .bind(timestamp(until))
            .bind(message.id)
            .bind(timestamp(message.next_attempt_at))
            .execute(&self.pool)
            .await?;
            if result.rows_affected() == 1 {
                message.next_attempt_at = until;
                claimed.push(message);
            }
        }
        Ok(claimed)
    }

    /// Records an attempt on message `id`.
    pub async fn record_attempt(&self, id: i64, outcome: &AttemptOutcome) -> Result<(), StoreError> {
        let now = timestamp(Utc::now());
        let (status, next, error, delivered) = match outcome {
            AttemptOutcome::Delivered => ("delivered", now.clone(), None, Some(now)),
            AttemptOutcome::Retry { at, error } => ("pending", timestamp(*at), Some(error.clone()), None),
            AttemptOutcome::Dead { error } => ("dead", now, Some(error.clone()), None),
        };
        sqlx::query(
            "UPDATE outbox_messages
             SET status = $1, attempts = attempts + 1, next_attempt_at = $2, last_error = COALESCE($3, last_error),
                 delivered_at = $4
             WHERE id = $5",
        )
        .bind(status.to_string())
        .bind(next)
        .bind(error)
        .bind(delivered)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The messages kept, newest first, optionally only those of one status.
    pub async fn outbox_messages(&self, status: Option<&str>, limit: i64) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(&format!("{COLUMNS} WHERE $1 = '' OR status = $1 ORDER BY id DESC LIMIT $2"))
            .bind(status.unwrap_or("").to_string())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// Makes a dead (or pending) message due now with a fresh set of retries; false when no
    /// such undelivered message exists.
    pub async fn retry_message(&self, id: i64) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE outbox_messages SET status = 'pending', attempts = 0, next_attempt_at = $1
             WHERE id = $2 AND status <> 'delivered'",
        )
        .bind(timestamp(Utc::now()))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
