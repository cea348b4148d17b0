-- Anomalies found by the configured monitors: recomputed by every `anomalies detect`, keyed
-- by a stable id (monitor, series, currency, first day) so feedback survives re-detection.
CREATE TABLE anomalies (
    id            TEXT    PRIMARY KEY,
    monitor       TEXT    NOT NULL,
    -- The series' dimension and value as a JSON object, e.g. {"service":"Amazon EC2"}.
    series        TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    start_date    TEXT    NOT NULL,
    end_date      TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    -- Money as decimal text in the currency.
    expected      TEXT    NOT NULL,
    actual        TEXT    NOT NULL,
    impact        TEXT    NOT NULL,
    impact_pct    DOUBLE PRECISION NOT NULL,
    severity      TEXT,
    root_causes   TEXT    NOT NULL,
    feedback      TEXT,
    feedback_note TEXT,
    detected_at   TEXT    NOT NULL
);
CREATE INDEX anomalies_monitor ON anomalies (monitor, series, currency);
