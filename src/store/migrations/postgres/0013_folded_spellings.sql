-- Values costs spell more than one way (`Checkout`, `CHECKOUT`), per billing period: each
-- spelling with the value a folding dimension shows for it and the EffectiveCost it carries,
-- kept by `finopsd allocate` so coverage can list what a tagging clean-up should fix.

CREATE TABLE folded_spellings (
    allocation_run_id     BIGINT NOT NULL REFERENCES allocation_runs (id),
    source                TEXT NOT NULL,
    billing_period        TEXT NOT NULL,
    dimension             TEXT NOT NULL,
    value                 TEXT NOT NULL,
    spelling              TEXT NOT NULL,
    currency              TEXT NOT NULL,
    effective_cost_nanos  BIGINT NOT NULL
);
CREATE INDEX folded_spellings_period ON folded_spellings (billing_period);
