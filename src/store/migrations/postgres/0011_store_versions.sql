-- A version of what the API's answers are made of: each writer bumps its own row (per source
-- and billing period, allocation, anomaly monitor, unit-metric feed) in the transaction that
-- changes the data, so concurrent ingests of different periods do not queue on one row. The
-- sum changes whenever anything the API reads does; cached answers of an older sum are stale.
CREATE TABLE store_versions (
    writer   TEXT    NOT NULL PRIMARY KEY,
    version  BIGINT NOT NULL
);

-- The facts' version an allocation was made from: `finopsd run` allocates again only when
-- the facts or the rules changed since. -1 for allocations made before it was kept.
ALTER TABLE allocation_runs ADD COLUMN facts_version BIGINT NOT NULL DEFAULT -1;
