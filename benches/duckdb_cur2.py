#!/usr/bin/env python3
"""The DuckDB baseline for benches/ingest.rs on AWS CUR 2.0: the same daily group-by finopsd
does on ingest, with AWS's amortisation formula.

Groups by usage day, billing period, payer and usage account, product code, region, line item
type, currency and the `team` tag (`resource_tags['user_team']`; `--tags team,env,…` for other
user tags, each a grouping column as finopsd keeps each kept key), and sums the unblended cost
and the amortised cost as DECIMAL(38,12) (`--double`: doubles). `--to-parquet OUT` instead
writes the CSV.gz export as CUR 2.0 Parquet (timestamps, doubles, `resource_tags` a MAP), the
way Data Exports writes it.

Usage: python3 benches/duckdb_cur2.py FILE [--double] [--tags KEY,…] | FILE --to-parquet OUT   (needs `pip install duckdb`)
"""
import sys
import time

import duckdb

from duckdb_groupby import run_groupby, source_of

MONEY = [
    "line_item_unblended_cost", "pricing_public_on_demand_cost", "line_item_usage_amount",
    "savings_plan_savings_plan_effective_cost", "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
]


def to_parquet(source: str, out: str) -> None:
    money = ", ".join(f"CAST(NULLIF({c}, '') AS DOUBLE) AS {c}" for c in MONEY)
    duckdb.connect().execute(f"""
        COPY (
            SELECT * EXCLUDE ({", ".join(MONEY)}, bill_billing_period_start_date, bill_billing_period_end_date,
                              line_item_usage_start_date, line_item_usage_end_date, resource_tags),
                   CAST(bill_billing_period_start_date AS TIMESTAMP) AS bill_billing_period_start_date,
                   CAST(bill_billing_period_end_date AS TIMESTAMP) AS bill_billing_period_end_date,
                   CAST(line_item_usage_start_date AS TIMESTAMP) AS line_item_usage_start_date,
                   CAST(line_item_usage_end_date AS TIMESTAMP) AS line_item_usage_end_date,
                   {money},
                   CAST(CAST(COALESCE(NULLIF(resource_tags, ''), '{{}}') AS JSON) AS MAP(VARCHAR, VARCHAR)) AS resource_tags
            FROM {source_of(source)}
        ) TO '{out}' (FORMAT parquet, COMPRESSION snappy)
    """)


def main() -> None:
    path = sys.argv[1]
    if "--to-parquet" in sys.argv:
        to_parquet(path, sys.argv[sys.argv.index("--to-parquet") + 1])
        return
    money = "DOUBLE" if "--double" in sys.argv[2:] else "DECIMAL(38,12)"
    keys = sys.argv[sys.argv.index("--tags") + 1].split(",") if "--tags" in sys.argv else ["team"]
    started = time.perf_counter()
    source = source_of(path)
    if path.endswith(".parquet"):
        day = "CAST(line_item_usage_start_date AS DATE)"
        period = "strftime(bill_billing_period_start_date, '%Y-%m')"
        tag = lambda key: f"resource_tags['user_{key}']"
        amount = lambda c: f"CAST({c} AS {money})"
    else:
        day = "CAST(line_item_usage_start_date[1:10] AS DATE)"
        period = "bill_billing_period_start_date[1:7]"
        tag = lambda key: f"json_extract_string(NULLIF(resource_tags, ''), '$.user_{key}')"
        amount = lambda c: f"CAST(NULLIF({c}, '') AS {money})"
    amortised = f"""CASE line_item_line_item_type
        WHEN 'SavingsPlanCoveredUsage' THEN {amount('savings_plan_savings_plan_effective_cost')}
        WHEN 'SavingsPlanRecurringFee' THEN {amount('savings_plan_total_commitment_to_date')} - {amount('savings_plan_used_commitment')}
        WHEN 'SavingsPlanNegation' THEN 0 WHEN 'SavingsPlanUpfrontFee' THEN 0
        ELSE {amount('line_item_unblended_cost')} END"""
    query = f"""
        SELECT {day} AS usage_day, {period} AS billing_period, bill_payer_account_id, line_item_usage_account_id,
               line_item_product_code, product_region_code, line_item_line_item_type, line_item_currency_code,
               {", ".join(f"{tag(key)} AS tag_{key}" for key in keys)}, first(bill_payer_account_name), first(line_item_usage_account_name),
               SUM({amount('line_item_unblended_cost')}), SUM({amortised}),
               SUM({amount('pricing_public_on_demand_cost')}), SUM(CAST({amount('line_item_usage_amount')} AS DOUBLE)), COUNT(*)
        FROM {source}
        GROUP BY ALL
    """
    run_groupby(query, started)


if __name__ == "__main__":
    main()
