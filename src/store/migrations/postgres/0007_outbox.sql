-- The durable outbox: every alert and report is written here before any delivery attempt,
-- one row per channel, and stays until it is delivered or dead-lettered after its retries.
CREATE TABLE outbox_messages (
    id              BIGSERIAL PRIMARY KEY,
    channel         TEXT    NOT NULL,
    -- Stable per channel and message (e.g. anomaly:<id>:medium): a second queueing of the
    -- same message is a no-op, and channels that accept a key are sent it.
    idempotency_key TEXT    NOT NULL,
    -- anomaly, budget or showback.
    kind            TEXT    NOT NULL,
    -- The channel-neutral message as JSON; each channel renders it at delivery.
    message         TEXT    NOT NULL,
    -- pending, delivered or dead.
    status          TEXT    NOT NULL,
    attempts        BIGINT  NOT NULL,
    -- RFC 3339 UTC: when it is next due (a claim moves it ahead by the lease).
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    delivered_at    TEXT,
    UNIQUE (channel, idempotency_key)
);
CREATE INDEX outbox_due ON outbox_messages (status, next_attempt_at);
