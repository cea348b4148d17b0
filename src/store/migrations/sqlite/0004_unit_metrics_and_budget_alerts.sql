-- Unit metrics (requests, customers, GB…) per day and allocation dimension value, from the
-- configured feeds; each pull replaces what its feed held for the days it covers.
CREATE TABLE unit_metrics (
    feed       TEXT    NOT NULL,
    metric_date TEXT   NOT NULL,
    dimension  TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    metric     TEXT    NOT NULL,
    quantity   REAL NOT NULL,
    PRIMARY KEY (feed, metric_date, dimension, value, metric)
);
CREATE INDEX unit_metrics_date ON unit_metrics (metric_date);

-- A budget threshold crossed in one budget period and currency: created once (the unique
-- key), delivered by the outbox.
CREATE TABLE budget_alerts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    budget         TEXT    NOT NULL,
    period_start   TEXT    NOT NULL,
    currency       TEXT    NOT NULL,
    -- 'actual' or 'forecast', and the percent of the budget it reached.
    kind           TEXT    NOT NULL,
    threshold_pct  REAL NOT NULL,
    created_at     TEXT    NOT NULL,
    as_of          TEXT    NOT NULL,
    amount         TEXT    NOT NULL,
    actual         TEXT    NOT NULL,
    forecast       TEXT    NOT NULL,
    UNIQUE (budget, period_start, currency, kind, threshold_pct)
);
