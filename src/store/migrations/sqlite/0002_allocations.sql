-- Allocations (SQLite): the stored facts summed per day and the value each allocation
-- dimension gives them. Derived data: `finopsd allocate` replaces it all in one transaction.

CREATE TABLE allocation_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    allocated_at  TEXT    NOT NULL,
    -- The allocation config the figures came from, as JSON.
    rules         TEXT    NOT NULL,
    facts         INTEGER NOT NULL
);

CREATE TABLE allocated_costs (
    allocation_run_id     INTEGER NOT NULL REFERENCES allocation_runs (id),
    source                TEXT    NOT NULL,
    billing_period        TEXT    NOT NULL,
    charge_date           TEXT    NOT NULL,
    provider              TEXT    NOT NULL,
    currency              TEXT    NOT NULL,
    -- JSON objects: dimension → value, and dimension → how the value was chosen.
    dimension_values      TEXT    NOT NULL,
    methods               TEXT    NOT NULL,
    billed_cost_nanos     INTEGER NOT NULL,
    effective_cost_nanos  INTEGER NOT NULL,
    list_cost_nanos       INTEGER NOT NULL
);
CREATE INDEX allocated_costs_date ON allocated_costs (charge_date);
