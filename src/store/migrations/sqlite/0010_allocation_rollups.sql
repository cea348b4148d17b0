-- Allocated costs summed per dimension value: by day, provider, charge category and currency
-- (budgets, unit costs, anomaly detection, a service's days) and by billing period, method,
-- provider and currency (showback, coverage). Reading these instead of extracting the JSON of
-- every allocated row is what lets the API answer in milliseconds. `finopsd allocate` rewrites
-- them with allocated_costs; this fills them for allocations made before they existed.

CREATE TABLE allocated_daily_costs (
    dimension             TEXT    NOT NULL,
    value                 TEXT    NOT NULL,
    charge_date           TEXT    NOT NULL,
    provider              TEXT    NOT NULL,
    charge_category       TEXT    NOT NULL,
    currency              TEXT    NOT NULL,
    billed_cost_nanos     INTEGER NOT NULL,
    effective_cost_nanos  INTEGER NOT NULL
);
CREATE INDEX allocated_daily_costs_value ON allocated_daily_costs (dimension, value, charge_date);
CREATE INDEX allocated_daily_costs_date ON allocated_daily_costs (dimension, charge_date);

CREATE TABLE allocated_monthly_costs (
    dimension             TEXT    NOT NULL,
    value                 TEXT    NOT NULL,
    -- How the value was chosen: `tag: <rule>`, `rule: <rule>`, `split: …` or `default`.
    method                TEXT    NOT NULL,
    billing_period        TEXT    NOT NULL,
    provider              TEXT    NOT NULL,
    currency              TEXT    NOT NULL,
    billed_cost_nanos     INTEGER NOT NULL,
    effective_cost_nanos  INTEGER NOT NULL
);
CREATE INDEX allocated_monthly_costs_period ON allocated_monthly_costs (dimension, billing_period);

INSERT INTO allocated_daily_costs
SELECT d.key, d.value, a.charge_date, a.provider, a.charge_category, a.currency,
       SUM(a.billed_cost_nanos), SUM(a.effective_cost_nanos)
FROM allocated_costs a, json_each(a.dimension_values) d
GROUP BY d.key, d.value, a.charge_date, a.provider, a.charge_category, a.currency;

INSERT INTO allocated_monthly_costs
SELECT d.key, d.value, COALESCE(json_extract(a.methods, '$."' || d.key || '"'), ''), a.billing_period, a.provider, a.currency,
       SUM(a.billed_cost_nanos), SUM(a.effective_cost_nanos)
FROM allocated_costs a, json_each(a.dimension_values) d
GROUP BY d.key, d.value, COALESCE(json_extract(a.methods, '$."' || d.key || '"'), ''), a.billing_period, a.provider, a.currency;
