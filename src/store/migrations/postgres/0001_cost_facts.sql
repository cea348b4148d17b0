-- Daily cost facts and the ingest ledger (PostgreSQL). Money is integer nano-units (1e-9) of
-- the row's currency: exact, and summed exactly by SUM (which returns NUMERIC for BIGINT).

CREATE TABLE ingest_runs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at    TEXT    NOT NULL,
    finished_at   TEXT    NOT NULL,
    duration_ms   BIGINT  NOT NULL,
    outcome       TEXT    NOT NULL CHECK (outcome IN ('ok', 'failed')),
    error         TEXT,
    line_items    BIGINT  NOT NULL,
    facts         BIGINT  NOT NULL,
    tag_keys      TEXT    NOT NULL
);

CREATE TABLE ingest_files (
    run_id      BIGINT  NOT NULL REFERENCES ingest_runs (id) ON DELETE CASCADE,
    path        TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    checksum    TEXT    NOT NULL,
    bytes       BIGINT  NOT NULL,
    line_items  BIGINT  NOT NULL
);
CREATE INDEX ingest_files_run ON ingest_files (run_id);

-- Per run, billing period and currency: the export's own column sums beside what was stored.
CREATE TABLE ingest_reconciliation (
    run_id                BIGINT  NOT NULL REFERENCES ingest_runs (id) ON DELETE CASCADE,
    source                TEXT    NOT NULL,
    billing_period        TEXT    NOT NULL,
    currency              TEXT    NOT NULL,
    export_billed_cost    TEXT    NOT NULL,
    stored_billed_cost    TEXT    NOT NULL,
    export_effective_cost TEXT    NOT NULL,
    stored_effective_cost TEXT    NOT NULL,
    export_list_cost      TEXT    NOT NULL,
    stored_list_cost      TEXT    NOT NULL
);
CREATE INDEX ingest_reconciliation_run ON ingest_reconciliation (run_id);

-- One row per (source, billing period) the store holds: which run's figures are current.
-- Replacing a period updates this row first, which serialises concurrent replacements.
CREATE TABLE billing_periods (
    source          TEXT    NOT NULL,
    billing_period  TEXT    NOT NULL,
    ingest_run_id   BIGINT  NOT NULL REFERENCES ingest_runs (id),
    replaced_at     TEXT    NOT NULL,
    PRIMARY KEY (source, billing_period)
);

CREATE TABLE cost_facts (
    source                TEXT    NOT NULL,
    billing_period        TEXT    NOT NULL,
    charge_date           TEXT    NOT NULL,
    provider              TEXT    NOT NULL,
    billing_account_id    TEXT    NOT NULL,
    billing_account_name  TEXT    NOT NULL,
    sub_account_id        TEXT    NOT NULL,
    sub_account_name      TEXT    NOT NULL,
    service_name          TEXT    NOT NULL,
    service_category      TEXT    NOT NULL,
    region                TEXT    NOT NULL,
    charge_category       TEXT    NOT NULL,
    currency              TEXT    NOT NULL,
    tags                  TEXT    NOT NULL,
    billed_cost_nanos     BIGINT  NOT NULL,
    effective_cost_nanos  BIGINT  NOT NULL,
    list_cost_nanos       BIGINT  NOT NULL,
    consumed_quantity     DOUBLE PRECISION NOT NULL,
    line_items            BIGINT  NOT NULL,
    ingest_run_id         BIGINT  NOT NULL REFERENCES ingest_runs (id)
);
CREATE INDEX cost_facts_period ON cost_facts (source, billing_period);
CREATE INDEX cost_facts_date ON cost_facts (charge_date);
