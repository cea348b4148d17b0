-- Line items of an ingest whose descriptive value (ServiceName, a billing period, …) came
-- from a mapping's fallback instead of its own column: a file is never refused for an empty
-- description, and the ledger shows how many rows were described that way.
CREATE TABLE ingest_fallbacks (
    run_id        BIGINT  NOT NULL REFERENCES ingest_runs (id) ON DELETE CASCADE,
    focus_column  TEXT    NOT NULL,
    source        TEXT    NOT NULL,
    line_items    BIGINT  NOT NULL
);
CREATE INDEX ingest_fallbacks_run ON ingest_fallbacks (run_id);
