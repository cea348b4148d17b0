-- The largest costs no rule allocated, per billing period, dimension and currency, kept by
-- `finopsd allocate` for coverage reports (what to tag or write rules for first).

CREATE TABLE unallocated_items (
    allocation_run_id     BIGINT NOT NULL REFERENCES allocation_runs (id),
    source                TEXT NOT NULL,
    billing_period        TEXT NOT NULL,
    dimension             TEXT NOT NULL,
    currency              TEXT NOT NULL,
    provider              TEXT NOT NULL,
    sub_account_id        TEXT NOT NULL,
    sub_account_name      TEXT NOT NULL,
    service_name          TEXT NOT NULL,
    billed_cost_nanos     BIGINT NOT NULL,
    effective_cost_nanos  BIGINT NOT NULL,
    list_cost_nanos       BIGINT NOT NULL
);
CREATE INDEX unallocated_items_period ON unallocated_items (billing_period);
