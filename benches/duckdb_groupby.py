#!/usr/bin/env python3
"""The DuckDB baseline for benches/ingest.rs: the same daily group-by finopsd does on ingest.

Reads one FOCUS export (CSV, CSV.gz or Parquet) and sums BilledCost, EffectiveCost and
ListCost per charge day, billing period, provider, billing account, sub-account, service,
region, charge category, currency and tags. Money is summed as DECIMAL(38,12), the same
exactness finopsd keeps; `--double` sums doubles instead, for the fastest possible baseline.

Usage: python3 benches/duckdb_groupby.py FILE [--double]   (needs `pip install duckdb`)
"""
import sys
import time

import duckdb


def source_of(path: str) -> str:
    """The DuckDB table function reading an export file: typed Parquet, or CSV as text."""
    if path.endswith(".parquet"):
        return f"read_parquet('{path}')"
    return f"read_csv('{path}', header = true, all_varchar = true)"


def run_groupby(query: str, started: float) -> None:
    """Runs the group-by and prints the figure benches/ingest.rs shows."""
    groups = duckdb.connect().execute(query).fetchall()
    print(f"duckdb: {len(groups)} groups in {time.perf_counter() - started:.3f}s")


def main() -> None:
    path = sys.argv[1]
    money = "DOUBLE" if "--double" in sys.argv[2:] else "DECIMAL(38,12)"
    started = time.perf_counter()
    source = source_of(path)
    if path.endswith(".parquet"):
        day = "CAST(ChargePeriodStart AS DATE)"
        period = "strftime(BillingPeriodStart, '%Y-%m')"
    else:
        day = "CAST(ChargePeriodStart[1:10] AS DATE)"
        period = "BillingPeriodStart[1:7]"
    query = f"""
        SELECT {day} AS charge_day, {period} AS billing_period, ProviderName, BillingAccountId,
               SubAccountId, ServiceName, RegionId, ChargeCategory, BillingCurrency, Tags,
               first(BillingAccountName), first(SubAccountName), first(ServiceCategory),
               SUM(CAST(BilledCost AS {money})), SUM(CAST(EffectiveCost AS {money})),
               SUM(CAST(ListCost AS {money})), SUM(CAST(ConsumedQuantity AS DOUBLE)), COUNT(*)
        FROM {source}
        GROUP BY ALL
    """
    run_groupby(query, started)


if __name__ == "__main__":
    main()
