#!/usr/bin/env python3
"""A benchmark input built like a real AWS CUR 2.0 (Data Exports) export, written with DuckDB.

The world it models (one organisation, billing period 2025-03, one payer account):
  * 200,000 resources in 40 usage accounts (one per team and environment, plus four shared
    accounts). A resource has one account, service, region, granularity (hourly or daily line
    items) and a small set of usage types; its id looks like AWS writes it for its service
    (`i-0…`, `vol-0…`, `arn:aws:s3:::bucket`, `arn:aws:rds:region:acct:db:name`, …).
  * 20 services (`line_item_product_code`) with 300 usage types each, 7 regions (CloudFront is
    `global`, Route 53 hosted zones have no region), 10 line item types (Usage, DiscountedUsage,
    SavingsPlanCoveredUsage, SavingsPlanNegation, SavingsPlanRecurringFee, RIFee, Fee, Tax,
    Credit, Refund) with AWS's amortisation columns filled on their line types only.
  * ~600 tag combinations over `user_team`, `user_env`, `user_service`, `user_cost_center`,
    `aws_createdBy`; 15% of resources untagged; tag values drift in letter case across resources
    (`Payments`/`payments`/`PAYMENTS`); not every tagged resource has every key.
  * Resource rows are heavy-tailed (a few resources have hundreds of lines, most have a few), and
    streams without a resource id (data transfer, CloudWatch API, tax, credits, fees) are mixed in.
    A resource lives a fixed number of days (by its weight class), so more rows means more lines
    per resource-day (more hours, more usage types), not more resources or days: the daily grain
    (usage day, account, product code, region, line item type, case-folded team/env/service/cost
    centre tags) has ~154,000 groups at 2M rows and ~170,000 at 10M.
  * Rows are in no grain order: every row's position comes from a keyed pseudo-random permutation.

Every random choice is a hash of one integer built from (row or entity number, salt, seed), so the
output is byte-identical for a given seed whatever the thread count. Small dimension tables (usage
types, accounts, tag combinations, reserved instances, Savings Plans, tax and fee lines) come from
Python's seeded `random`. Generation is one DuckDB query (no Python row loop): Parquet first, the
CSV is projected from the Parquet, and the gzip follows the CSV as it is written.

Usage: python3 benches/cur2_realistic.py --rows 2000000 --out DIR [--seed 1]   (needs `pip install duckdb`)
Writes DIR/cur2-realistic-<rows>.parquet (snappy, row groups of 500,000, timestamps, doubles,
`resource_tags` a MAP), DIR/cur2-realistic-<rows>.csv (header, `resource_tags` as JSON text, empty
cells where a column does not apply) and DIR/cur2-realistic-<rows>.csv.gz (the same CSV gzipped),
then prints the cardinalities it checked.
"""
import argparse
import math
import os
import random
import shutil
import sys
import threading
import time
import zlib

import duckdb

# The 44 columns, in the (alphabetical) order Data Exports writes them.
COLUMNS = [
    "bill_bill_type", "bill_billing_entity", "bill_billing_period_end_date", "bill_billing_period_start_date",
    "bill_invoice_id", "bill_invoicing_entity", "bill_payer_account_id", "bill_payer_account_name",
    "identity_line_item_id", "identity_time_interval", "line_item_availability_zone", "line_item_blended_cost",
    "line_item_currency_code", "line_item_legal_entity", "line_item_line_item_description",
    "line_item_line_item_type", "line_item_operation", "line_item_product_code", "line_item_resource_id",
    "line_item_unblended_cost", "line_item_unblended_rate", "line_item_usage_account_id",
    "line_item_usage_account_name", "line_item_usage_amount", "line_item_usage_end_date",
    "line_item_usage_start_date", "line_item_usage_type", "pricing_public_on_demand_cost", "pricing_term",
    "pricing_unit", "product_instance_type", "product_product_family", "product_region_code", "product_servicecode",
    "product_sku", "reservation_effective_cost", "reservation_reservation_a_r_n",
    "reservation_unused_amortized_upfront_fee_for_billing_period", "reservation_unused_recurring_fee",
    "resource_tags", "savings_plan_savings_plan_a_r_n", "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date", "savings_plan_used_commitment",
]
# ... among them those finopsd's CUR 2.0 ingest mapping reads
REQUIRED_COLUMNS = [
    "line_item_usage_start_date", "line_item_usage_end_date", "bill_billing_period_start_date",
    "bill_billing_period_end_date", "bill_payer_account_id", "bill_payer_account_name", "line_item_usage_account_id",
    "line_item_usage_account_name", "line_item_product_code", "product_servicecode", "product_region_code",
    "line_item_currency_code", "line_item_unblended_cost", "pricing_public_on_demand_cost", "line_item_usage_amount",
    "resource_tags", "bill_billing_entity", "line_item_legal_entity", "line_item_line_item_type",
    "savings_plan_savings_plan_effective_cost", "savings_plan_total_commitment_to_date", "savings_plan_used_commitment",
    "reservation_effective_cost", "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee", "reservation_reservation_a_r_n",
]
assert len(COLUMNS) == 44 and len(set(COLUMNS)) == 44 and COLUMNS == sorted(COLUMNS)
assert set(REQUIRED_COLUMNS) <= set(COLUMNS)
TIMESTAMP_COLUMNS = ["bill_billing_period_end_date", "bill_billing_period_start_date",
                     "line_item_usage_end_date", "line_item_usage_start_date"]
RATE_COLUMNS = ["line_item_unblended_rate"]  # written with 10 fixed decimals, as AWS writes rates
MONEY_COLUMNS = [  # DOUBLE in Parquet; in CSV up to 10 decimals, trailing zeros trimmed
    "line_item_blended_cost", "line_item_unblended_cost", "line_item_usage_amount", "pricing_public_on_demand_cost",
    "reservation_effective_cost", "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee", "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date", "savings_plan_used_commitment",
]

RESOURCES = 200_000
ACCOUNTS = 40
TAG_COMBOS = 600
UNTAGGED_SHARE = 0.15
MISPLACED_SHARE = 0.05       # tagged resources living in their team's shared account instead of their own
USAGE_TYPES_PER_SERVICE = 300
ROW_GROUP_SIZE = 500_000
DAYS, HOURS = 31, 744
PERIOD_START, PERIOD_END = "2025-03-01 00:00:00", "2025-04-01 00:00:00"
STREAM_SHARE = 0.05          # rows of resourceless usage streams (data transfer, CloudWatch API)
# Resource weight classes: (share of resources, relative rows per resource): a heavy tail.
RESOURCE_CLASSES = [(0.40, 1), (0.30, 3), (0.18, 8), (0.09, 25), (0.025, 80), (0.005, 300)]
# ... and the days a resource of each class lives (min, max): fixed, so more rows fill the same days
CLASS_DAYS = [(1, 1), (2, 4), (5, 9), (14, 28), (24, 31), (28, 31)]
PERMUTATION_ROUNDS = 24

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1", "sa-east-1"]
GLOBAL, NO_REGION = 7, 8     # region indexes for CloudFront ('global') and Route 53 zones (no region)
REGION_CODES = REGIONS + ["global", None]
UT_PREFIX = ["", "USW2", "EU", "EUC1", "APS1", "APN1", "SAE1"]      # us-east-1 usage types carry no prefix
DT_CODE = ["USE1", "USW2", "EU", "EUC1", "APS1", "APN1", "SAE1"]     # ... except in inter-region transfer
REGION_NAME = ["US East (N. Virginia)", "US West (Oregon)", "EU (Ireland)", "EU (Frankfurt)",
               "Asia Pacific (Singapore)", "Asia Pacific (Tokyo)", "South America (Sao Paulo)"]
REGION_PRICE = [1.0, 1.0, 1.06, 1.12, 1.18, 1.22, 1.45]
DT_DESTS = ["USE1", "USE2", "USW1", "USW2", "CAN1", "EUC1", "EU", "EUW2", "EUW3", "EUN1", "EUS1", "APN1", "APN2",
            "APN3", "APS1", "APS2", "APS3", "APS4", "SAE1", "MES1", "AFS1", "APE1", "ILC1"]
LINE_ITEM_TYPES = ["Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation",
                   "SavingsPlanRecurringFee", "RIFee", "Fee", "Tax", "Credit", "Refund"]
(USAGE, DISCOUNTED, SP_COVERED, SP_NEGATION, SP_FEE, RI_FEE, FEE, TAX, CREDIT, REFUND) = range(10)
AWS_ENTITY = "Amazon Web Services, Inc."
PAYER_ID, PAYER_NAME = "418293857260", "acme-management"
AWS_INVOICE = "2217438890"

# Usage models: how a line's usage amount follows from its duration and the resource's size.
HRS, HRSN, STORAGE, GB, COUNT, GBSEC = range(6)


def b(name, model, rate, family, unit, op=None, mag=1.0, itype=None):
    return dict(name=name, model=model, rate=rate, family=family, unit=unit, op=op, mag=mag, itype=itype)


def hrs(name, rate, family, op=None, unit="Hrs", itype=None):
    return b(name, HRS, rate, family, unit, op, 1.0, itype)


def hrsn(name, rate, family, op=None, unit="Hrs", mag=2.0):
    return b(name, HRSN, rate, family, unit, op, mag)


def sto(name, rate, family="Storage", op=None, unit="GB-Mo", mag=100.0):
    return b(name, STORAGE, rate, family, unit, op, mag)


def gb(name, rate, family="Data Transfer", op=None, unit="GB", mag=5.0):
    return b(name, GB, rate, family, unit, op, mag)


def req(name, rate, family="API Request", op=None, unit="Requests", mag=50_000.0):
    return b(name, COUNT, rate, family, unit, op, mag)


def gbs(name, rate, family="Serverless", op=None, unit="Lambda-GB-Second", mag=20_000.0):
    return b(name, GBSEC, rate, family, unit, op, mag)


SIZE = {"nano": 1 / 32, "micro": 1 / 16, "small": 1 / 8, "medium": 1 / 4, "large": 1 / 2, "xlarge": 1,
        "2xlarge": 2, "4xlarge": 4, "8xlarge": 8, "12xlarge": 12, "16xlarge": 16, "xlplus": 1}
FAMILY_RATE = {"m5": .192, "m6i": .192, "m7g": .1632, "c5": .17, "c6i": .17, "c7g": .145, "r5": .252, "r6i": .252,
               "r6g": .2016, "r7g": .2142, "t3": .1664, "t3a": .1504, "t4g": .1344, "i3": .312, "g4dn": .526,
               "m6g": .154, "ra3": 1.086, "dc2": .5, "g5": 1.006, "p3": 6.12}


def type_rate(itype):
    fam, size = itype.split(".")[-2:]
    return FAMILY_RATE[fam] * SIZE[size]


EC2_TYPES = ["m5.large", "m5.xlarge", "m5.2xlarge", "m6i.large", "m6i.xlarge", "m7g.large", "m7g.xlarge",
             "c5.xlarge", "c7g.xlarge", "r5.large", "r6i.xlarge", "t3.medium", "t4g.medium"]
SPOT_TYPES = ["m5.xlarge", "c5.xlarge", "c6i.2xlarge", "r5.large", "m6i.xlarge", "g4dn.xlarge"]
RDS_TYPES = ["db.t3.medium", "db.t4g.large", "db.m5.large", "db.m6i.xlarge", "db.r5.large", "db.r6g.xlarge",
             "db.r6i.2xlarge", "db.m7g.large"]
CACHE_TYPES = ["cache.t4g.small", "cache.t4g.medium", "cache.m6g.large", "cache.m6g.xlarge", "cache.m7g.large",
               "cache.r6g.large", "cache.r6g.xlarge", "cache.r7g.large", "cache.r7g.2xlarge", "cache.t3.medium"]
ML_TYPES = ["ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge", "ml.g4dn.xlarge", "ml.g5.xlarge", "ml.r5.large",
            "ml.t3.medium", "ml.p3.2xlarge"]


def inst(prefix, types, family, op=None, price=1.0):
    return [hrs(f"{prefix}{t}", round(type_rate(t) * price, 4), family, op, itype=t) for t in types]


# Services: product code -> kinds of resource. A kind: how its ids look (a template), its scope
# (regional, or GLOBAL / NO_REGION), the usage types it starts with (primaries) and may add
# (secondaries; data transfer is added to every regional kind), and its odds of being hourly,
# Savings-Plan or RI covered, sold through the Marketplace, and of carrying an availability zone.
# `names` (per service) are extra usage types no resource starts (RI fees, SP fees, API streams).
DT_NAME = "dt"
SERVICES = [
    ("AmazonEC2", dict(extra=[hrs(f"HeavyUsage:{t}", round(type_rate(t) * .38, 4), "Compute Instance", "RunInstances",
                                  itype=t) for t in ["m5.xlarge", "m6i.xlarge", "c5.xlarge", "r5.large"]],
                       global_extra=[hrs("ComputeSP:1yrNoUpfront", 1.0, "Savings Plan", "None", unit="Hrs"),
                                     hrs("ComputeSP:3yrPartialUpfront", 1.0, "Savings Plan", "None", unit="Hrs"),
                                     hrs("EC2SP:m6i.1yrNoUpfront", 1.0, "Savings Plan", "None", unit="Hrs")]),
     [dict(kind="instance", w=36, id="i-{hex17}", az=True, hourly=.85, sp=.25, ri=.1, mp=.012,
           ops=["RunInstances"] * 8 + ["RunInstances:0002", "RunInstances:0010"],
           prim=inst("BoxUsage:", EC2_TYPES, "Compute Instance", "RunInstances"),
           sec=[gb("DataTransfer-Regional-Bytes", .01, op="InterZone-In")], dt=True),
      dict(kind="spot", w=6, id="i-{hex17}", az=True, hourly=.9,
           prim=inst("SpotUsage:", SPOT_TYPES, "Compute Instance", "RunInstances:SV001", price=.34), sec=[], dt=True),
      dict(kind="volume", w=30, id="vol-{hex17}", az=True, hourly=.15,
           prim=[sto("EBS:VolumeUsage.gp3", .08, op="CreateVolume-Gp3"), sto("EBS:VolumeUsage.gp2", .10, op="CreateVolume-Gp2"),
                 sto("EBS:VolumeUsage.io2", .125, op="CreateVolume-io2"), sto("EBS:VolumeUsage.st1", .045, op="CreateVolume-st1"),
                 sto("EBS:VolumeUsage.sc1", .015, op="CreateVolume-sc1")],
           sec=[sto("EBS:VolumeP-IOPS.io2", .065, "System Operation", "CreateVolume-io2", "IOPS-Mo", 3000),
                sto("EBS:VolumeP-Throughput.gp3", .04, "Provisioned Throughput", "CreateVolume-Gp3", "GiBps-mo", .25),
                sto("EBS:VolumeP-IOPS.gp3", .005, "System Operation", "CreateVolume-Gp3", "IOPS-Mo", 3000),
                req("EBS:VolumeIOUsage", .00000005, "System Operation", "EBS:IO-Read", "IOs", 5e6)]),
      dict(kind="snapshot", w=8, id="arn:aws:ec2:{region}:{acct}:snapshot/snap-{hex17}", hourly=.1,
           prim=[sto("EBS:SnapshotUsage", .05, "Storage Snapshot", "CreateSnapshot", mag=60),
                 sto("EBS:SnapshotArchiveStorage", .0125, "Storage Snapshot", "ArchiveSnapshot", mag=200)],
           sec=[hrs("EBS:FastSnapshotRestore", .75, "Fast Snapshot Restore", "FastSnapshotRestore", "DSU-Hour"),
                req("EBS:directAPI.snapshot.List", .0000006, "EBS direct API Requests", "ListSnapshotBlocks", mag=2000),
                req("EBS:directAPI.snapshot.Get", .000003, "EBS direct API Requests", "GetSnapshotBlock", mag=2000)]),
      dict(kind="natgateway", w=3, id="arn:aws:ec2:{region}:{acct}:natgateway/nat-{hex17}", hourly=.9,
           prim=[hrs("NatGateway-Hours", .045, "NAT Gateway", "NatGateway")],
           sec=[gb("NatGateway-Bytes", .045, "NAT Gateway", "NatGateway", mag=40)], dt=True)]),
    ("AmazonS3", dict(),
     [dict(kind="bucket", w=1, id="arn:aws:s3:::{bucket}", hourly=.1,
           prim=[sto("TimedStorage-ByteHrs", .023, op="StandardStorage", mag=500), sto("TimedStorage-INT-FA-ByteHrs", .023, op="IntelligentTieringFAStorage", mag=800),
                 sto("TimedStorage-SIA-ByteHrs", .0125, op="StandardIAStorage", mag=600), sto("TimedStorage-GlacierByteHrs", .0036, op="GlacierStorage", mag=3000),
                 sto("TimedStorage-GDA-ByteHrs", .00099, op="DeepArchiveStorage", mag=8000), sto("TimedStorage-ZIA-ByteHrs", .01, op="OneZoneIAStorage", mag=300),
                 sto("TimedStorage-GIR-ByteHrs", .004, op="GlacierInstantRetrievalStorage", mag=1000), sto("TimedStorage-INT-IA-ByteHrs", .0125, op="IntelligentTieringIAStorage", mag=800),
                 sto("TimedStorage-INT-AIA-ByteHrs", .004, op="IntAAStorage", mag=900)],
           sec=[req("Requests-Tier1", .000005, op="PutObject"), req("Requests-Tier2", .0000004, op="GetObject", mag=400_000),
                req("Requests-Tier3", .00005, op="CompleteMultipartUpload", mag=2000), req("Requests-Tier4", .00001, op="PutObjectForRepl", mag=5000),
                req("Requests-Tier5", .000001, op="GetObjectForRepl"), req("Requests-Tier6", .00001, op="TransitionObject", mag=3000),
                req("Requests-INT-Tier1", .000005, op="PutObject"), req("Requests-INT-Tier2", .0000004, op="GetObject"),
                req("Requests-SIA-Tier1", .00001, op="PutObject"), req("Requests-SIA-Tier2", .000001, op="GetObject"),
                req("Requests-GLACIER-Tier1", .00003, op="PutObject", mag=2000), req("Requests-GDA-Tier1", .00005, op="PutObject", mag=1000),
                gb("Retrieval-SIA", .01, "Fee", "GetObject"), gb("Retrieval-ZIA", .01, "Fee", "GetObject"),
                sto("EarlyDelete-SIA", .0125, op="DeleteObject", mag=20), sto("EarlyDelete-GDA", .00099, op="DeleteObject", mag=100),
                req("Monitoring-Automation-INT", .0000025, "Storage", "IntelligentTieringMonitoring", "Objects", mag=100_000),
                sto("TagStorage-TagHrs", .01, "Storage", "PutObjectTagging", "Tag-Mo", mag=10_000),
                gb("Select-Scanned-Bytes", .002, "Fee", "SelectObjectContent", mag=20), gb("Select-Returned-Bytes", .0007, "Fee", "SelectObjectContent", mag=2),
                req("Inventory-ObjectsListed", .0000000025, "Storage", "InventoryObjectsListed", "Objects", mag=1e6),
                req("BatchOperations-Jobs", .25, "Fee", "BatchOperations", "Jobs", mag=1)], dt=True)]),
    ("AmazonRDS", dict(extra=[hrs(f"HeavyUsage:{t}", round(type_rate(t) * .42, 4), "Database Instance", "CreateDBInstance:0014",
                                  itype=t) for t in ["db.m5.large", "db.r5.large", "db.r6g.xlarge", "db.m6i.xlarge"]]),
     [dict(kind="db", w=60, id="arn:aws:rds:{region}:{acct}:db:{name}", az=True, hourly=.8, ri=.3,
           ops=["CreateDBInstance:0014", "CreateDBInstance:0014", "CreateDBInstance:0002", "CreateDBInstance:0018"],
           prim=inst("InstanceUsage:", RDS_TYPES, "Database Instance", "CreateDBInstance:0014", 1.45)
           + inst("Multi-AZUsage:", RDS_TYPES[:4], "Database Instance", "CreateDBInstance:0014", 2.9),
           sec=[sto("RDS:GP3-Storage", .115, "Database Storage", "CreateDBInstance:0014", mag=200),
                sto("RDS:GP2-Storage", .115, "Database Storage", "CreateDBInstance:0014", mag=200),
                sto("RDS:Multi-AZ-GP3-Storage", .23, "Database Storage", "CreateDBInstance:0014", mag=200),
                sto("RDS:PIOPS-Storage", .125, "Database Storage", "CreateDBInstance:0014", mag=400),
                sto("RDS:PIOPS", .1, "Provisioned IOPS", "CreateDBInstance:0014", "IOPS-Mo", mag=3000),
                sto("RDS:ChargedBackupUsage", .095, "Storage Snapshot", "CreateDBInstance:0014", mag=150)], dt=True),
      dict(kind="aurora", w=25, id="arn:aws:rds:{region}:{acct}:cluster:{name}", hourly=.7,
           prim=[hrsn("Aurora:ServerlessV2Usage", .12, "ServerlessV2", "CreateDBInstance:0021", "ACU-Hr", 4),
                 sto("Aurora:StorageUsage", .10, "Database Storage", "CreateDBInstance:0021", mag=300)],
           sec=[req("Aurora:StorageIOUsage", .0000002, "System Operation", "CreateDBInstance:0021", "IOs", mag=5e6),
                sto("Aurora:BackupUsage", .021, "Storage Snapshot", "CreateDBInstance:0021", mag=500),
                sto("Aurora:IO-OptimizedStorageUsage", .225, "Database Storage", "CreateDBInstance:0021", mag=300)], dt=True)]),
    ("AWSLambda", dict(),
     [dict(kind="function", w=1, id="arn:aws:lambda:{region}:{acct}:function:{name}", hourly=.3, sp=.15,
           prim=[gbs("Lambda-GB-Second", .0000166667, op="Invoke"), gbs("Lambda-GB-Second-ARM", .0000133334, op="Invoke"),
                 gbs("Lambda-Provisioned-GB-Second", .0000041667, op="Invoke"),
                 gbs("Lambda-Provisioned-Concurrency", .0000041667, op="Invoke")],
           sec=[req("Request", .0000002, "Serverless", "Invoke", mag=200_000), req("Request-ARM", .0000002, "Serverless", "Invoke"),
                gbs("Lambda-Storage-GB-Second", .0000000309, op="Invoke"), gbs("Lambda-Storage-GB-Second-ARM", .0000000309, op="Invoke"),
                gbs("Lambda-Provisioned-GB-Second-ARM", .0000033334, op="Invoke"),
                gbs("Lambda-Provisioned-Concurrency-ARM", .0000033334, op="Invoke"),
                gb("Lambda-Streaming-Response-Processed-Bytes", .008, "Serverless", "Invoke"),
                gbs("Lambda-SnapStart-Cache-GB-Second", .0000015046, op="Invoke"),
                gb("Lambda-SnapStart-Restore-GB", .0001397998, "Serverless", "Invoke")], dt=True)]),
    ("AmazonCloudFront", dict(),
     [dict(kind="distribution", w=1, id="arn:aws:cloudfront::{acct}:distribution/E{alnum13}", scope=GLOBAL, hourly=.2,
           edges=["US", "EU", "JP", "AP", "CA", "AU", "IN", "SA", "ZA", "ME", "KR", "TW"],
           prim=[gb("DataTransfer-Out-Bytes", .085, "Data Transfer", "GET", mag=50)],
           sec=[gb("DataTransfer-Out-OBytes", .02, "Data Transfer", "GET"), req("Requests-Tier1", .00000075, "Request", "GET", mag=1e6),
                req("Requests-Tier2-HTTPS", .000001, "Request", "GET-HTTPS", mag=1e6), req("Requests-HTTP-Proxy", .00002, "Request", "POST"),
                req("Requests-HTTPS-Proxy", .00002, "Request", "POST-HTTPS"), req("Requests-OriginShield", .0000075, "Request", "GET"),
                req("Requests-Tier1-FLE", .000002, "Request", "GET"), req("Requests-Tier2-FLE", .000002, "Request", "GET-HTTPS"),
                req("Requests-HTTP-Static", .00000075, "Request", "GET"), req("Requests-HTTPS-Static", .000001, "Request", "GET-HTTPS"),
                req("Requests-HTTP-Dynamic", .00000075, "Request", "GET"), req("Requests-HTTPS-Dynamic", .000001, "Request", "GET-HTTPS"),
                req("Requests-gRPC", .000001, "Request", "gRPC"), req("Requests-WebSocket", .000001, "Request", "WebSocket"),
                req("Requests-HTTP3", .000001, "Request", "GET-HTTP3"), gb("DataTransfer-Out-Bytes-HTTP3", .085, "Data Transfer", "GET-HTTP3"),
                gb("DataTransfer-Out-Bytes-gRPC", .085, "Data Transfer", "gRPC"), gb("DataTransfer-Out-Bytes-WebSocket", .085, "Data Transfer", "WebSocket"),
                gb("DataTransfer-Out-Bytes-Static", .085, "Data Transfer", "GET"), gb("DataTransfer-Out-Bytes-Dynamic", .085, "Data Transfer", "GET"),
                req("RealTimeLog-Lines", .00000001, "Logging", "RealTimeLog", "Lines"),
                req("Executions-CloudFrontFunctions", .0000001, "Request", "CloudFrontFunctions", "Executions"),
                req("KeyValueStore-Reads", .00000003, "Request", "KeyValueStore"), req("Requests-VPCOrigin", .000001, "Request", "GET")])]),
    ("AmazonDynamoDB", dict(),
     [dict(kind="table", w=1, id="arn:aws:dynamodb:{region}:{acct}:table/{name}", hourly=.35,
           prim=[hrsn("ReadCapacityUnit-Hrs", .00013, "Provisioned IOPS", "CommittedThroughput", "ReadCapacityUnit-Hrs", 50),
                 hrsn("WriteCapacityUnit-Hrs", .00065, "Provisioned IOPS", "CommittedThroughput", "WriteCapacityUnit-Hrs", 20),
                 req("ReadRequestUnits", .000000125, "Amazon DynamoDB PayPerRequest Throughput", "PayPerRequestThroughput", "ReadRequestUnits", 1e6),
                 req("WriteRequestUnits", .000000625, "Amazon DynamoDB PayPerRequest Throughput", "PayPerRequestThroughput", "WriteRequestUnits", 2e5)],
           sec=[sto("TimedStorage-ByteHrs", .25, "Database Storage", "StandardStorage", mag=20),
                sto("TimedBackupStorage-ByteHrs", .1, "Amazon DynamoDB On-Demand Backup Storage", "StandardBackupStorage", mag=40),
                sto("TimedPITRStorage-ByteHrs", .2, "Amazon DynamoDB Point-In-Time-Restore (PITR) Backup Storage", "PITRStorage", mag=20),
                hrsn("ReplWriteCapacityUnit-Hrs", .000975, "DDB-Operation-ReplicatedWrite", "CommittedThroughput", "ReplWriteCapacityUnit-Hrs", 10),
                req("ReplWriteRequestUnits", .0000009375, "DDB-Operation-ReplicatedWrite", "PayPerRequestThroughput", "ReplWriteRequestUnits", 1e5),
                req("StreamsReadRequestUnits", .0000002, "API Request", "GetRecords", "StreamsReadRequestUnits", 1e5),
                req("IA-ReadRequestUnits", .00000031, "Amazon DynamoDB PayPerRequest Throughput", "PayPerRequestThroughput", "ReadRequestUnits", 1e5),
                req("IA-WriteRequestUnits", .00000156, "Amazon DynamoDB PayPerRequest Throughput", "PayPerRequestThroughput", "WriteRequestUnits", 5e4),
                sto("IA-TimedStorage-ByteHrs", .1, "Database Storage", "StandardIAStorage", mag=50),
                gb("ExportDataSize-Bytes", .1, "Fee", "ExportTableToPointInTime", mag=10),
                gb("ImportDataSize-Bytes", .15, "Fee", "ImportTable", mag=10)], dt=True)]),
    ("AmazonVPC", dict(),
     [dict(kind="endpoint", w=45, id="arn:aws:ec2:{region}:{acct}:vpc-endpoint/vpce-{hex17}", hourly=.7,
           prim=[hrs("VpcEndpoint-Hours", .01, "VpcEndpoint", "VpcEndpoint"), hrs("VpcEndpoint-GWLBE-Hours", .01, "VpcEndpoint", "VpcEndpoint")],
           sec=[gb("VpcEndpoint-Bytes", .01, "VpcEndpoint", "VpcEndpoint", mag=30), gb("VpcEndpoint-GWLBE-Bytes", .0035, "VpcEndpoint", "VpcEndpoint", mag=30)], dt=True),
      dict(kind="tgw-attachment", w=15, id="arn:aws:ec2:{region}:{acct}:transit-gateway-attachment/tgw-attach-{hex17}", hourly=.7,
           prim=[hrs("TransitGateway-Hours", .05, "Transit Gateway", "TransitGatewayVPC")],
           sec=[gb("TransitGateway-Bytes", .02, "Transit Gateway", "TransitGatewayVPC", mag=80)], dt=True),
      dict(kind="vpn", w=5, id="arn:aws:ec2:{region}:{acct}:vpn-connection/vpn-{hex17}", hourly=.7,
           prim=[hrs("VPN-Usage-Hours:ipsec.1", .05, "Cloud Connectivity", "CreateVpnConnection")], sec=[], dt=True),
      dict(kind="ipv4", w=35, id="arn:aws:ec2:{region}:{acct}:elastic-ip/eipalloc-{hex17}", hourly=.6,
           prim=[hrs("PublicIPv4:InUseAddress", .005, "VPC Public IPv4 Address", "AssociateAddressVPC"),
                 hrs("PublicIPv4:IdleAddress", .005, "VPC Public IPv4 Address", "IdleAddress")], sec=[], dt=True),
      dict(kind="ipam", w=2, id="arn:aws:ec2::{acct}:ipam/ipam-{hex17}", hourly=.2,
           prim=[hrsn("IpamAddress-Hours", .00027, "IP Address Manager", "IpamAddress", mag=500)],
           sec=[hrsn("IpamAddress-Advanced-Hours", .00027, "IP Address Manager", "IpamAddress", mag=500),
                req("IpamPublicIpInsights", .0000001, "IP Address Manager", "IpamAddress", mag=1000)])]),
    ("AmazonEKS", dict(),
     [dict(kind="cluster", w=1, id="arn:aws:eks:{region}:{acct}:cluster/{name}", hourly=.75, sp=.15,
           prim=[hrs("AmazonEKS-Hours:perCluster", .10, "Compute", "CreateOperation"),
                 hrsn("Fargate-vCPU-Hours:perCPU", .04048, "Compute", "FargateTask", mag=8),
                 hrsn("Fargate-ARM-vCPU-Hours:perCPU", .03238, "Compute", "FargateTask", mag=8)],
           sec=[hrsn("Fargate-GB-Hours", .004445, "Compute", "FargateTask", "GB-Hours", 16),
                hrsn("Fargate-ARM-GB-Hours", .00356, "Compute", "FargateTask", "GB-Hours", 16),
                hrsn("Fargate-EphemeralStorage-GB-Hours", .000111, "Compute", "FargateTask", "GB-Hours", 20),
                hrs("AmazonEKS-Hours:extendedSupport", .50, "Compute", "CreateOperation"),
                hrsn("EKS-Hybrid-Nodes-vCPU-Hours", .02, "Compute", "HybridNodes", mag=8)], dt=True)]),
    ("AmazonElastiCache", dict(extra=[hrs(f"HeavyUsage:{t}", round(type_rate(t) * .45, 4), "Cache Instance", "CreateCacheCluster:0002",
                                          itype=t) for t in ["cache.m6g.large", "cache.r6g.large", "cache.r6g.xlarge", "cache.r7g.large"]]),
     [dict(kind="cluster", w=1, id="arn:aws:elasticache:{region}:{acct}:cluster:{name}", az=True, hourly=.8, ri=.3,
           ops=["CreateCacheCluster:0002", "CreateCacheCluster:0002", "CreateCacheCluster:0001"],
           prim=inst("NodeUsage:", CACHE_TYPES, "Cache Instance", "CreateCacheCluster:0002", 1.6),
           sec=[sto("ElastiCache:BackupUsage", .085, "Storage Snapshot", "CreateSnapshot", mag=20),
                sto("ElastiCache:ServerlessCacheStorage", .125 * 744, "ElastiCache Serverless", "CreateServerlessCache", "GB-Hours", 2),
                req("ElastiCache:ECPU", .0000000034, "ElastiCache Serverless", "CreateServerlessCache", "ECPU", 1e7)], dt=True)]),
    ("AmazonCloudWatch", dict(extra=[hrsn("CW:MetricMonitorUsage", .3 / 744, "Metric", "MetricStorage", "Metrics", 200),
                                     req("CW:Requests", .00001, "API Request", "GetMetricStatistics", mag=100_000),
                                     req("CW:GMD-Metrics", .00001, "API Request", "GetMetricData", "Metrics", 300_000)]),
     [dict(kind="log-group", w=60, id="arn:aws:logs:{region}:{acct}:log-group:/aws/{logpath}", hourly=.25,
           prim=[gb("DataProcessing-Bytes", .5, "Data Payload", "PutLogEvents", mag=3), sto("TimedStorage-ByteHrs", .03, "Storage Snapshot", "HourlyStorageMetering", mag=50)],
           sec=[gb("DataScanned-Bytes", .005, "Data Payload", "StartQuery", mag=20), gb("VendedLog-Bytes", .5, "Data Payload", "PutLogEvents", mag=3),
                gb("DataProtection-Bytes", .12, "Data Payload", "PutLogEvents", mag=1), gb("Logs-IA-DataProcessing-Bytes", .25, "Data Payload", "PutLogEvents", mag=3),
                gb("S3-Egress-Bytes", .25, "Data Payload", "PutLogEvents", mag=5)], dt=True),
      dict(kind="alarm", w=30, id="arn:aws:cloudwatch:{region}:{acct}:alarm:{name}", hourly=.1,
           prim=[hrsn("CW:AlarmMonitorUsage", .1 / 744, "Alarm", "Unknown", "Alarms", 1),
                 hrsn("CW:HighResAlarmMonitorUsage", .3 / 744, "Alarm", "Unknown", "Alarms", 1)],
           sec=[hrsn("CW:CompositeAlarmMonitorUsage", .5 / 744, "Alarm", "Unknown", "Alarms", 1),
                hrsn("CW:AnomalyDetectionAlarmMonitorUsage", .3 / 744, "Alarm", "Unknown", "Alarms", 1),
                hrsn("CW:MetricInsightsAlarmMonitorUsage", .1 / 744, "Alarm", "Unknown", "Alarms", 1)]),
      dict(kind="dashboard", w=10, id="arn:aws:cloudwatch::{acct}:dashboard/{name}", hourly=.1,
           prim=[hrs("DashboardsUsageHour", 3 / 744, "Dashboard", "DashboardHour", "Dashboards")],
           sec=[req("CW:GetMetricWidgetImage", .00002, "API Request", "GetMetricWidgetImage", mag=500),
                req("CW:DashboardMetricsAPI", .00001, "API Request", "GetMetricData", "Metrics", 20_000)])]),
    ("AWSDataTransfer", dict(), []),
    ("AmazonSageMaker", dict(global_extra=[hrs("SageMakerSP:1yrNoUpfront", 1.0, "Savings Plan", "None")]),
     [dict(kind="endpoint", w=40, id="arn:aws:sagemaker:{region}:{acct}:endpoint/{name}", hourly=.8, sp=.2,
           prim=inst("Host:", ML_TYPES, "ML Instance", "RunInstance", 1.25),
           sec=[sto("Host:VolumeUsage.gp2", .14, "ML Storage", "RunInstance", mag=30),
                gb("Host:Data-Bytes-In", .016, "ML Instance", "RunInstance"), gb("Host:Data-Bytes-Out", .016, "ML Instance", "RunInstance")],
           dt=True),
      dict(kind="notebook", w=30, id="arn:aws:sagemaker:{region}:{acct}:notebook-instance/{name}", hourly=.7,
           prim=inst("Notebk:", ML_TYPES[:6], "ML Instance", "RunInstance", 1.2),
           sec=[sto("Notebk:VolumeUsage.gp2", .14, "ML Storage", "RunInstance", mag=30),
                gb("Notebk:Data-Bytes-Out", .016, "ML Instance", "RunInstance", mag=1)]),
      dict(kind="training-job", w=30, id="arn:aws:sagemaker:{region}:{acct}:training-job/{name}", hourly=.95, sp=.2,
           prim=inst("Train:", ML_TYPES[:6], "ML Instance", "RunInstance", 1.3),
           sec=[sto("Train:VolumeUsage.gp2", .14, "ML Storage", "RunInstance", mag=50),
                gb("Train:Data-Bytes-In", .016, "ML Instance", "RunInstance", mag=20)], dt=True)]),
    ("AmazonKinesis", dict(),
     [dict(kind="stream", w=1, id="arn:aws:kinesis:{region}:{acct}:stream/{name}", hourly=.6,
           prim=[hrsn("Storage-ShardHour", .015, "Kinesis Streams", "shardHourStorage", "ShardHour", 4),
                 hrs("OnDemand-StreamHour", .04, "Kinesis Streams", "OnDemandStreamHr", "StreamHour")],
           sec=[req("PutRequestPayloadUnits", .000000014, "Kinesis Streams", "PutRecord", "PutPayloadUnits", 5e6),
                hrsn("ExtendedRetention-ShardHour", .02, "Kinesis Streams", "shardHourStorage", "ShardHour", 4),
                gb("OnDemand-BilledIncomingBytes", .08, "Kinesis Streams", "OnDemandDataIngested", mag=20),
                gb("OnDemand-BilledOutgoingBytes", .04, "Kinesis Streams", "OnDemandDataRetrieval", mag=40),
                gb("OnDemand-BilledOutgoingEFOBytes", .05, "Kinesis Streams", "OnDemandEFODataRetrieval", mag=40),
                hrsn("EnhancedFanout-ConsumerShardHour", .015, "Kinesis Streams", "SubscribeToShard", "ShardHour", 4),
                gb("EnhancedFanout-Bytes", .013, "Kinesis Streams", "SubscribeToShard", mag=40),
                sto("LongTermRetention-ByteHrs", .023, "Kinesis Streams", "LongTermRetention", mag=100)], dt=True)]),
    ("AmazonSNS", dict(),
     [dict(kind="topic", w=1, id="arn:aws:sns:{region}:{acct}:{name}", hourly=.3,
           prim=[req("Requests-Tier1", .0000005, "API Request", "CreateTopic", mag=200_000)],
           sec=[req(f"DeliveryAttempts-{p}", r, "Message Delivery", "Notification", "Notifications", 100_000)
                for p, r in [("HTTP", .0000006), ("SMTP", .00002), ("SQS", 0.0), ("LAMBDA", 0.0), ("FIREHOSE", .00000019),
                             ("APNS", .0000005), ("GCM", .0000005)]]
           + [req("Notifications-FIFO", .0000003, "Message Delivery", "Notification", "Notifications"),
              gb("PayloadSize-FIFO", .017, "Message Delivery", "Notification")], dt=True)]),
    ("AWSQueueService", dict(),
     [dict(kind="queue", w=1, id="arn:aws:sqs:{region}:{acct}:{name}", hourly=.3,
           prim=[req("Requests-RBP", .0000004, "API Request", "SendMessage", mag=500_000),
                 req("Requests-FIFO-RBP", .0000005, "API Request", "SendMessage", mag=200_000)],
           sec=[req("Requests-Tier1", .0000004, "API Request", "ReceiveMessage", mag=500_000),
                req("Requests-FIFO-Tier1", .0000005, "API Request", "ReceiveMessage", mag=200_000),
                gb("ExtendedClient-Bytes", .09, "API Request", "SendMessage", mag=1)], dt=True)]),
    ("AWSKMS", dict(),
     [dict(kind="key", w=1, id="arn:aws:kms:{region}:{acct}:key/{uuid}", hourly=.15,
           prim=[hrsn("KMS-Keys", 1.0 / 744, "Encryption Key", "CreateKey", "Keys", 1)],
           sec=[req("KMS-Requests", .000003, "API Request", "Decrypt", mag=100_000),
                req("KMS-Requests-Asymmetric", .000015, "API Request", "Sign", mag=10_000),
                req("KMS-Requests-GenerateDataKeyPair-RSA", .0001, "API Request", "GenerateDataKeyPair", mag=1000),
                req("KMS-Requests-GenerateDataKeyPair-ECC", .00001, "API Request", "GenerateDataKeyPair", mag=1000),
                req("KMS-Requests-RSA-2048", .00003, "API Request", "Encrypt", mag=5000)], dt=True)]),
    ("AmazonRedshift", dict(extra=[hrs(f"HeavyUsage:{t}", round(type_rate(t) * .4, 4), "Compute Instance", "RunComputeNode:0001",
                                       itype=t) for t in ["ra3.xlplus", "ra3.4xlarge", "dc2.large"]]),
     [dict(kind="cluster", w=70, id="arn:aws:redshift:{region}:{acct}:cluster:{name}", hourly=.85, ri=.4,
           prim=[hrsn(f"Node:{t}", round(type_rate(t), 4), "Compute Instance", "RunComputeNode:0001", "Hrs", 0.6)
                 for t in ["ra3.xlplus", "ra3.4xlarge", "ra3.16xlarge", "dc2.large", "dc2.8xlarge"]],
           sec=[sto("RMS:ra3", .024, "Redshift Managed Storage", "RunComputeNode:0001", mag=2000),
                sto("PaidSnapshots", .024, "Storage Snapshot", "RunComputeNode:0001", mag=2000),
                hrsn("CS:ra3.4xlarge", 3.26 / 3600, "Concurrency Scaling", "ConcurrencyScaling", "Node-seconds", 600),
                gb("Spectrum:DataScanned", 5.0 / 1024, "Redshift Data Scan", "RedshiftSpectrum", mag=200)], dt=True),
      dict(kind="workgroup", w=30, id="arn:aws:redshift-serverless:{region}:{acct}:workgroup/{uuid}", hourly=.7,
           prim=[hrsn("ServerlessUsage", .375, "Serverless", "Serverless:RPU", "RPU-Hr", 16)],
           sec=[sto("ServerlessStorage", .024, "Redshift Managed Storage", "Serverless:Storage", mag=1000)], dt=True)]),
    ("AWSELB", dict(),
     [dict(kind="alb", w=60, id="arn:aws:elasticloadbalancing:{region}:{acct}:loadbalancer/app/{name}/{hex16}", hourly=.85,
           op="LoadBalancing:Application",
           prim=[hrs("LoadBalancerUsage", .0225, "Load Balancer-Application", "LoadBalancing:Application")],
           sec=[hrsn("LCUUsage", .008, "Load Balancer-Application", "LoadBalancing:Application", "LCU-Hrs", 3)], dt=True),
      dict(kind="nlb", w=30, id="arn:aws:elasticloadbalancing:{region}:{acct}:loadbalancer/net/{name}/{hex16}", hourly=.85,
           op="LoadBalancing:Network",
           prim=[hrs("LoadBalancerUsage", .0225, "Load Balancer-Network", "LoadBalancing:Network")],
           sec=[hrsn("LCUUsage", .006, "Load Balancer-Network", "LoadBalancing:Network", "LCU-Hrs", 3)], dt=True),
      dict(kind="classic", w=10, id="arn:aws:elasticloadbalancing:{region}:{acct}:loadbalancer/{name}", hourly=.85,
           op="LoadBalancing",
           prim=[hrs("LoadBalancerUsage", .025, "Load Balancer", "LoadBalancing")],
           sec=[gb("DataProcessing-Bytes", .008, "Load Balancer", "LoadBalancing", mag=50)], dt=True)]),
    ("AmazonEFS", dict(),
     [dict(kind="file-system", w=1, id="arn:aws:elasticfilesystem:{region}:{acct}:file-system/fs-{hex17}", hourly=.2,
           prim=[sto("TimedStorage-ByteHrs", .30, op="", mag=200), sto("TimedStorage-Z-ByteHrs", .16, op="", mag=100),
                 sto("TimedStorage-IA-ByteHrs", .016, op="", mag=500)],
           sec=[sto("TimedStorage-Archive-ByteHrs", .008, op="", mag=800), sto("TimedStorage-Z-IA-ByteHrs", .0133, op="", mag=300),
                gb("IADataAccess-Bytes", .01, "Storage", "", mag=10), gb("ElasticThroughput-Read-Bytes", .03, "Storage", "", mag=50),
                gb("ElasticThroughput-Write-Bytes", .06, "Storage", "", mag=10),
                hrsn("ProvisionedTP-MiBpsHrs", 6.0 / 744, "Provisioned Throughput", "", "MiBps-Mo", 10)], dt=True)]),
    ("AmazonRoute53", dict(),
     [dict(kind="hostedzone", w=75, id="arn:aws:route53:::hostedzone/Z0{alnum13}{alnum6}", scope=NO_REGION, hourly=0.0,
           prim=[hrsn("HostedZone", .5 / 744, "DNS Zone", "", "HostedZone", 1)],
           sec=[req("DNS-Queries", .0000004, "DNS Query", "", "Queries", 1e6), req("LBR-Queries", .0000006, "DNS Query", "", "Queries"),
                req("Geo-DNS-Queries", .0000007, "DNS Query", "", "Queries"), req("Geoproximity-DNS-Queries", .0000007, "DNS Query", "", "Queries"),
                req("IP-DNS-Queries", .0000008, "DNS Query", "", "Queries"), req("Intra-AWS-DNS-Queries", 0.0, "DNS Query", "", "Queries"),
                hrsn("Health-Check-AWS", .5 / 744, "DNS Health Check", "", "Health-Checks", 2),
                hrsn("Health-Check-NonAWS", .75 / 744, "DNS Health Check", "", "Health-Checks", 1),
                hrsn("Health-Check-AWS-Features", 1.0 / 744, "DNS Health Check", "", "Health-Checks", 1),
                hrsn("DNSSEC-KSK", 1.0 / 744, "DNS Zone", "", "Keys", 1)]),
      dict(kind="resolver-endpoint", w=25, id="arn:aws:route53resolver:{region}:{acct}:resolver-endpoint/rslvr-in-{hex17}", hourly=.6,
           prim=[hrsn("ResolverNetworkInterface", .125, "DNS Query", "", "IP-Address-Hours", 2)],
           sec=[req("ResolverQueries", .0000004, "DNS Query", "", "Queries", 1e6), req("DNS-Firewall-Queries", .0000006, "DNS Query", "", "Queries", 1e6),
                hrsn("DNS-Firewall-Domains", .0000002, "DNS Query", "", "Domains", 1000)], dt=True)]),
]
SERVICE_CODES = [s[0] for s in SERVICES]
assert len(SERVICE_CODES) == 20
SVC = {code: i for i, code in enumerate(SERVICE_CODES)}
NO_RESOURCES = {"AWSDataTransfer"}

TEAMS = [  # name, cost centre, apps, home region (index into REGIONS), weight
    ("Payments", "CC-1001", ["payments-api", "ledger", "fraud-scoring", "payouts"], 0, 1.4),
    ("Checkout", "CC-1002", ["checkout-web", "cart", "pricing"], 0, 1.2),
    ("Search", "CC-1003", ["search-api", "search-indexer", "autocomplete"], 1, 1.0),
    ("Platform", "CC-1004", ["kube-platform", "ci-runners", "service-mesh", "observability"], 0, 1.6),
    ("DataEng", "CC-1005", ["etl", "warehouse", "streaming-ingest", "data-lake"], 1, 1.5),
    ("MLOps", "CC-1006", ["feature-store", "model-serving", "training"], 0, 1.1),
    ("Identity", "CC-1007", ["auth", "sso", "user-profile"], 2, 0.8),
    ("Mobile", "CC-1008", ["mobile-bff", "push", "app-config"], 5, 0.8),
    ("Growth", "CC-1009", ["experiments", "email-campaigns", "referrals"], 3, 0.7),
    ("Security", "CC-1010", ["siem", "waf", "secrets"], 0, 0.6),
    ("Billing", "CC-1011", ["invoicing", "metering", "tax-engine"], 2, 0.7),
    ("Support", "CC-1012", ["helpdesk", "chatbot", "kb"], 4, 0.5),
]
ENVS = ["prod", "staging", "dev"]
SHARED_ACCOUNTS = ["shared-network", "security-audit", "log-archive", "sandbox"]
ARCHETYPES = {  # service weights by kind of application
    "api": dict(AmazonEC2=30, AWSELB=8, AmazonRDS=8, AmazonElastiCache=5, AmazonCloudWatch=10, AmazonS3=8, AWSKMS=3,
                AmazonVPC=4, AWSLambda=8, AWSQueueService=4, AmazonSNS=2, AmazonDynamoDB=5, AmazonEKS=3, AmazonRoute53=1),
    "data": dict(AmazonS3=25, AmazonEC2=15, AmazonRedshift=6, AmazonKinesis=6, AWSLambda=10, AmazonCloudWatch=10,
                 AmazonDynamoDB=5, AmazonEFS=4, AWSKMS=3, AWSQueueService=4, AmazonSNS=2, AmazonRDS=3),
    "ml": dict(AmazonSageMaker=25, AmazonS3=20, AmazonEC2=20, AmazonEFS=5, AmazonCloudWatch=10, AWSLambda=5, AWSKMS=3,
               AmazonDynamoDB=4, AmazonEKS=4),
    "platform": dict(AmazonEKS=15, AmazonEC2=30, AmazonVPC=10, AWSELB=8, AmazonCloudWatch=12, AmazonS3=8,
                     AmazonRoute53=3, AWSKMS=3, AmazonEFS=4, AmazonCloudFront=3),
    "web": dict(AmazonCloudFront=10, AmazonS3=20, AWSLambda=15, AmazonDynamoDB=10, AmazonCloudWatch=10, AWSELB=5,
                AmazonEC2=10, AmazonSNS=5, AWSQueueService=5, AmazonRoute53=3, AWSKMS=2),
}
APP_ARCHETYPE = {
    "payments-api": "api", "ledger": "api", "fraud-scoring": "ml", "payouts": "api", "checkout-web": "web", "cart": "api",
    "pricing": "api", "search-api": "api", "search-indexer": "data", "autocomplete": "web", "kube-platform": "platform",
    "ci-runners": "platform", "service-mesh": "platform", "observability": "platform", "etl": "data", "warehouse": "data",
    "streaming-ingest": "data", "data-lake": "data", "feature-store": "ml", "model-serving": "ml", "training": "ml",
    "auth": "api", "sso": "web", "user-profile": "api", "mobile-bff": "api", "push": "web", "app-config": "web",
    "experiments": "web", "email-campaigns": "web", "referrals": "api", "siem": "data", "waf": "platform", "secrets": "api",
    "invoicing": "api", "metering": "data", "tax-engine": "api", "helpdesk": "web", "chatbot": "ml", "kb": "web",
}
UNTAGGED_PREFIXES = ["legacy", "tmp", "test", "poc", "default", "shared", "old", "migration", "demo", "scratch"]
NAME_WORDS = ["api", "worker", "consumer", "cron", "ingest", "events", "cache", "primary", "replica", "batch", "jobs",
              "assets", "logs", "backup", "reports", "sync", "gateway", "index", "store", "queue"]
MARKETPLACE_SELLERS = [("Datadog, Inc.", "Datadog Agent"), ("Elasticsearch B.V.", "Elastic Stack"),
                       ("MongoDB, Inc.", "MongoDB Enterprise"), ("Palo Alto Networks, Inc.", "VM-Series Next-Gen Firewall"),
                       ("Fortinet, Inc.", "FortiGate Next-Gen Firewall"), ("Trend Micro Inc.", "Deep Security"),
                       ("Canonical Group Limited", "Ubuntu Pro"), ("NGINX, Inc.", "NGINX Plus")]


def q(v):
    """A SQL literal."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


def lst(values, typ=None):
    """A SQL list literal (typed when it may hold only NULLs)."""
    body = "[" + ", ".join(lst(v) if isinstance(v, list) else q(v) for v in values) + "]"
    return f"({body}::{typ}[])" if typ else body


def keyed_hash(x, salt, seed):
    """SQL for a 64-bit pseudo-random value keyed by the integer x (< 2^30), a salt (< 2^20) and the seed.

    One integer goes into hash(): DuckDB's hash(a, b, c) XORs the arguments' hashes, so hash(e, 1) and
    hash(e, 2) would differ by a constant and every draw for the same e would be correlated."""
    assert 0 <= salt < 1 << 20
    return f"hash(({x}) * 1048576 + {salt + (seed % 8192) * (1 << 50)})"


class World:
    """The small dimension tables: usage types, kinds, accounts, tags, commitments, fixed lines."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.build_usage_types()
        self.build_accounts()
        self.build_tags()
        self.build_services_per_app()
        self.build_commitments()
        self.build_forced()

    # -- usage types ---------------------------------------------------------------------------------
    def dt_bases(self, region, own):
        src = DT_CODE[region]
        out = [gb("DataTransfer-Out-Bytes", .09, op="PublicIP-Out", mag=8), gb("DataTransfer-In-Bytes", 0.0, op="PublicIP-In", mag=8),
               gb("DataTransfer-Regional-Bytes", .01, op="InterZone-In", mag=20)]
        if own:
            out += [gb("DataTransfer-xAZ-In-Bytes", .01, op="InterZone-In", mag=20), gb("DataTransfer-xAZ-Out-Bytes", .01, op="InterZone-Out", mag=20),
                    gb("CloudFront-Out-Bytes", 0.0, op="CloudFront-Out", mag=30), gb("CloudFront-In-Bytes", .02, op="CloudFront-In", mag=5)]
        dests = [d for d in DT_DESTS if d != src]
        out += [gb(f"{src}-{d}-AWS-Out-Bytes", .02, op="InterRegion-Out", mag=4) for d in dests]
        out += [gb(f"{src}-{d}-AWS-In-Bytes", 0.0, op="InterRegion-In", mag=4) for d in dests]
        for x in out:
            x["dt"] = True
            if not x["name"].startswith(src + "-") and UT_PREFIX[region]:
                x["name"] = f"{UT_PREFIX[region]}-{x['name']}"
        return out

    def build_usage_types(self):
        rng = self.rng
        self.entries = []          # one per (service, usage type name): the 6,000 usage types
        self.kinds = []            # every kind of resource, over all services
        self.prim = {}             # (kind, region) -> entry ids a resource of that kind starts with
        self.sec = {}              # (kind, region) -> entry ids it may add
        self.dt_entries = {}       # region -> AWSDataTransfer entry ids (resourceless streams)
        self.extra_entries = {}    # (service, base name, region) -> entry id (RI fees, SP fees, API streams)
        for s, (code, extras, kinds) in enumerate(SERVICES):
            names = {}             # name -> entry id, for this service

            def add(base, region):
                region_name = REGION_NAME[region] if region < GLOBAL else "Global"
                price = REGION_PRICE[region] if region < GLOBAL else 1.0
                name = base["name"]
                if name in names:
                    return names[name]
                e = dict(base, svc=s, region=region, rate=round(base["rate"] * price, 10),
                         svccode="AWSDataTransfer" if base.get("dt") else code)
                e["sku"] = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(16))
                e["desc"] = describe(e, region_name)
                names[name] = len(self.entries)
                self.entries.append(e)
                return names[name]

            def pref(base, region):
                x = dict(base)
                if region < GLOBAL and UT_PREFIX[region]:
                    x["name"] = f"{UT_PREFIX[region]}-{base['name']}"
                return x

            # global usage types first (global kinds, SP fees), then 300 - G regional ones
            for g in extras.get("global_extra", []):
                self.extra_entries[(code, g["name"], None)] = add(g, GLOBAL)
            kind_ids = []
            for k in kinds:
                kid = len(self.kinds)
                kind_ids.append(kid)
                self.kinds.append(dict(k, svc=s))
                if k.get("scope") == GLOBAL and "edges" in k:
                    bases = k["prim"] + k["sec"]
                    ids = {}
                    for base in bases:       # edges x bases, interleaved so truncation keeps every base
                        for edge in k["edges"]:
                            if len(names) >= USAGE_TYPES_PER_SERVICE:
                                break
                            ids.setdefault(base["name"], []).append(add(dict(base, name=f"{edge}-{base['name']}"), GLOBAL))
                    prim = [i for base in k["prim"] for i in ids.get(base["name"], [])]
                    sec = [i for base in k["sec"] for i in ids.get(base["name"], [])]
                    for r in range(7):
                        self.prim[(kid, r)], self.sec[(kid, r)] = prim, sec
                    assert len(sec) >= 2
                elif k.get("scope") == NO_REGION:
                    prim = [add(base, NO_REGION) for base in k["prim"]]
                    sec = [add(base, NO_REGION) for base in k["sec"]]
                    for r in range(7):
                        self.prim[(kid, r)], self.sec[(kid, r)] = prim, sec
            g_count = len(names)
            regional = USAGE_TYPES_PER_SERVICE - g_count
            slots = [regional // 7 + (1 if r < regional % 7 else 0) for r in range(7)]
            regional_kinds = [(kid, k) for kid, k in zip(kind_ids, kinds) if k.get("scope") is None]
            for r in range(7):
                # mandatory: 2 primaries + 1 secondary per kind and the extra names; then the rest
                # of the primaries and secondaries round-robin over kinds; then data transfer
                order, seen, tags_of = [], set(), {}

                def push(base, tag):   # a name shared by kinds (ALB and NLB hours) is one usage type
                    final_name = base["name"] if tag[0] == "dt" else pref(base, r)["name"]
                    if final_name not in seen:
                        seen.add(final_name)
                        order.append((base, tag))
                        tags_of[final_name] = []
                    tags_of[final_name].append(tag)
                for kid, k in regional_kinds:
                    for base in k["prim"][:2]:
                        push(base, (kid, "p"))
                    for base in k["sec"][:1]:
                        push(base, (kid, "s"))
                for base in extras.get("extra", []):
                    push(base, ("extra", None))
                depth = max([len(k["prim"]) + len(k["sec"]) for _, k in regional_kinds] or [0])
                for d in range(depth):
                    for kid, k in regional_kinds:
                        both = [(x, "p") for x in k["prim"][2:]] + [(x, "s") for x in k["sec"][1:]]
                        if d < len(both):
                            push(both[d][0], (kid, both[d][1]))
                for base in self.dt_bases(r, code == "AWSDataTransfer"):
                    push(base, ("dt", None))
                taken = order[:slots[r]]
                if len(taken) < slots[r]:
                    sys.exit(f"{code}: only {len(taken)} usage types for {REGIONS[r]}, need {slots[r]}")
                dt_ids = []
                for kid, k in regional_kinds:
                    self.prim.setdefault((kid, r), [])
                    self.sec.setdefault((kid, r), [])
                for base, tag in taken:
                    if tag[0] == "dt":
                        dt_ids.append(add(base, r))
                        continue
                    eid = add(pref(base, r), r)
                    for tag in tags_of[pref(base, r)["name"]]:
                        if tag[0] == "dt":
                            dt_ids.append(eid)
                        elif tag[0] == "extra":
                            self.extra_entries[(code, base["name"], r)] = eid
                        else:
                            (self.prim if tag[1] == "p" else self.sec)[(tag[0], r)].append(eid)
                for kid, k in regional_kinds:
                    if k.get("dt"):
                        self.sec[(kid, r)] += [i for i in dt_ids if i not in self.sec[(kid, r)]]
                    assert self.prim[(kid, r)], (code, k["kind"], r)
                    assert len(self.sec[(kid, r)]) >= 2, (code, k["kind"], r)
                if code == "AWSDataTransfer":
                    self.dt_entries[r] = dt_ids
            assert len(names) == USAGE_TYPES_PER_SERVICE, (code, len(names))
        assert len(self.entries) == 20 * USAGE_TYPES_PER_SERVICE

    # -- accounts -------------------------------------------------------------------------------------
    def build_accounts(self):
        rng = self.rng
        self.account_ids = []      # (a list: a set's order would change with Python's per-process hash seed)
        while len(self.account_ids) < ACCOUNTS:
            acct = str(rng.randrange(10 ** 11, 10 ** 12))
            if acct not in self.account_ids and acct != PAYER_ID:
                self.account_ids.append(acct)
        self.account_names, self.account_team, self.account_env, self.account_regions = [], [], [], []
        for t, (team, _, _, home, _) in enumerate(TEAMS):
            for env in ENVS:
                self.account_names.append(f"acme-{team.lower()}-{env}")
                self.account_team.append(t)
                self.account_env.append(env)
                others = [r for r in range(7) if r != home]
                rng.shuffle(others)
                self.account_regions.append([home] + others[:2])
        for name in SHARED_ACCOUNTS:
            self.account_names.append(f"acme-{name}")
            self.account_team.append(-1)
            self.account_env.append(None)
            regions = list(range(7))
            rng.shuffle(regions)
            self.account_regions.append([0] + [r for r in regions if r != 0][:2])
        assert len(self.account_names) == ACCOUNTS
        # a resource's region: home 80%, second 15%, third 5% (sandbox: anywhere)
        self.account_region_slots = []
        for a, regions in enumerate(self.account_regions):
            if self.account_names[a].endswith("sandbox"):
                slots = [r % 7 for r in range(20)]
            else:
                slots = [regions[0]] * 16 + [regions[1]] * 3 + [regions[2]] * 1
            self.account_region_slots.append(slots)
        # untagged resources: dev and sandbox accounts hold more of them
        weights = []
        for a in range(ACCOUNTS):
            env = self.account_env[a]
            weights.append({"prod": 1.0, "staging": 1.2, "dev": 2.0, None: 2.5}[env])
        self.untagged_account_slots = slots_for(weights, 512)

    # -- tags -----------------------------------------------------------------------------------------
    def build_tags(self):
        rng = self.rng
        principals = []  # aws_createdBy values
        for user in ["alice", "bob", "carol", "dmitri", "eve", "farah", "gustavo", "hana"]:
            principals.append(f"IAMUser:AIDA{rand_id(rng, 17)}:{user}")
        for role in ["ci-deployer", "terraform", "github-actions", "karpenter", "cdk-exec", "argo-cd",
                     "AWSReservedSSO_PowerUser_4f1c2e/ops@acme.example"]:
            principals.append(f"AssumedRole:AROA{rand_id(rng, 17)}:{role}")
        self.workloads = []   # (team, app, env, account, weight, key presence, principals)
        for t, (team, cc, apps, _, tw) in enumerate(TEAMS):
            for app in apps:
                for ei, env in enumerate(ENVS):
                    if env != "prod" and rng.random() < 0.12:
                        continue
                    presence = dict(env=rng.random() < 0.9, service=rng.random() < 0.8, cc=rng.random() < 0.7,
                                    created=rng.random() < 0.55)
                    own = rng.sample(principals, 3)
                    w = tw * [1.0, 0.45, 0.6][ei] * rng.uniform(0.5, 1.5)
                    self.workloads.append(dict(team=t, app=app, env=env, account=t * 3 + ei, w=w,
                                               presence=presence, principals=own))
        self.apps = sorted({wl["app"] for wl in self.workloads})
        combos, combo_list = set(), []
        wl_weights = [wl["w"] for wl in self.workloads]
        while len(combo_list) < TAG_COMBOS:
            wi = rng.choices(range(len(self.workloads)), wl_weights)[0]
            wl = self.workloads[wi]
            team, cc = TEAMS[wl["team"]][0], TEAMS[wl["team"]][1]
            p = 1.0
            tags = {}
            v, pv = case_variant(rng, team, (0.6, 0.25, 0.15))
            tags["user_team"] = v
            p *= pv
            pres = dict(wl["presence"])
            for key in ("env", "service", "cc"):       # a few resources deviate from their workload
                if rng.random() < 0.06:
                    pres[key] = not pres[key]
            if pres["env"]:
                v, pv = case_variant(rng, wl["env"], (0.65, 0.2, 0.15), title=True)
                tags["user_env"] = v
                p *= pv
            if pres["service"]:
                v, pv = case_variant(rng, wl["app"], (0.88, 0.07, 0.05), title=True, lower_first=True)
                tags["user_service"] = v
                p *= pv
            if pres["cc"]:
                v, pv = (cc, 0.8) if rng.random() < 0.8 else (cc.lower(), 0.2)
                tags["user_cost_center"] = v
                p *= pv
            if pres["created"]:
                i = rng.randrange(3)
                tags["aws_createdBy"] = wl["principals"][i]
                p *= [0.6, 0.3, 0.1][i]
            key = tuple(sorted(tags.items()))
            if key in combos:
                continue
            combos.add(key)
            combo_list.append(dict(tags=tags, wl=wi, w=wl["w"] * p))
        self.combos = combo_list
        self.combo_slots = slots_for([c["w"] for c in combo_list], 8192)

    def build_services_per_app(self):
        rng = self.rng
        self.app_service_slots = []
        for app in self.apps:
            weights = dict(ARCHETYPES[APP_ARCHETYPE[app]])
            keep = sorted(weights, key=lambda s: -weights[s] * rng.uniform(0.3, 1.7))[:6]
            self.app_service_slots.append(slots_for([weights.get(c, 0) * (c in keep) for c in SERVICE_CODES], 128))
        broad = dict(AmazonEC2=30, AmazonS3=18, AmazonCloudWatch=12, AWSLambda=8, AmazonVPC=6, AmazonRDS=4,
                     AmazonDynamoDB=3, AWSKMS=4, AmazonSNS=2, AWSQueueService=2, AmazonRoute53=2)
        self.untagged_service_slots = slots_for([broad.get(c, 0) for c in SERVICE_CODES], 128)
        self.service_kind_slots = []
        for s in range(20):
            kinds = [i for i, k in enumerate(self.kinds) if k["svc"] == s]
            if not kinds:
                self.service_kind_slots.append([0] * 64)
                continue
            slots = slots_for([self.kinds[i]["w"] for i in kinds], 64)
            self.service_kind_slots.append([kinds[x] for x in slots])

    def build_forced(self):
        """(kind, entry, region) for every usage type a resource can start with, in a shuffled order."""
        first = {}
        for (kid, r), ids in sorted(self.prim.items()) + sorted(self.sec.items()):
            for eid in ids:
                first.setdefault(eid, (kid, eid, self.entries[eid]["region"]))
        self.forced = sorted(first.values(), key=lambda _: self.rng.random())
        self.accounts_by_region = [[a for a in range(ACCOUNTS) if r in self.account_regions[a]] for r in range(7)]
        # resourceless usage streams: every account, in each of its three regions, has a line stream for
        # every AWSDataTransfer usage type and for three CloudWatch API usage types
        cw = ("CW:Requests", "CW:GMD-Metrics", "CW:MetricMonitorUsage")
        self.streams = [(a, r, eid) for a in range(ACCOUNTS) for r in self.account_regions[a]
                        for eid in self.dt_entries[r] + [self.extra_entries[("AmazonCloudWatch", nm, r)] for nm in cw]]
        self.rng.shuffle(self.streams)
        assert all(self.accounts_by_region), "every region must be one of some account's regions"
        assert len(self.forced) <= RESOURCES * RESOURCE_CLASSES[0][0]

    # -- commitments and the lines without resources that do not scale with rows ----------------------
    def build_commitments(self):
        rng = self.rng
        acct_of = {n: i for i, n in enumerate(self.account_names)}
        sharedsvc = acct_of["acme-shared-network"]
        prods = [a for a in range(36) if self.account_env[a] == "prod"]
        # reserved instances: every (RI service, region) has one or two
        self.ris = []
        for code in ["AmazonEC2", "AmazonRDS", "AmazonElastiCache", "AmazonRedshift"]:
            fee_names = [base["name"] for base in dict((s[0], s[1]) for s in SERVICES)[code]["extra"]]
            for r in range(7):
                for name in fee_names:   # one RI per fee usage type, so every one of them is seen
                    acct = rng.choice(prods + [sharedsvc])
                    entry = self.extra_entries[(code, name, r)]
                    count = rng.choice([1, 2, 2, 4, 8, 16])
                    hourly = self.entries[entry]["rate"]
                    upfront = round(hourly * 8760 * rng.choice([0.0, 0.9, 1.8]), 2)
                    region = REGIONS[r]
                    arn = {"AmazonEC2": f"arn:aws:ec2:{region}:{self.account_ids[acct]}:reserved-instances/{uuid(rng)}",
                           "AmazonRDS": f"arn:aws:rds:{region}:{self.account_ids[acct]}:ri:ri-2024-{rng.randrange(10**6):06d}",
                           "AmazonElastiCache": f"arn:aws:elasticache:{region}:{self.account_ids[acct]}:reserved-instance:ri-2024-{rng.randrange(10**6):06d}",
                           "AmazonRedshift": f"arn:aws:redshift:{region}:{self.account_ids[acct]}:reserved-node/{uuid(rng)}"}[code]
                    self.ris.append(dict(svc=SVC[code], region=r, acct=acct, entry=entry, count=count, hourly=hourly,
                                         upfront=upfront, arn=arn, factor=round(rng.uniform(0.55, 0.7), 3),
                                         unused=rng.choice([0.0, 0.0, 0.05, 0.12, 0.3]), bought=rng.random() < 0.25))
        self.ri_by_svc_region = [[i for i, ri in enumerate(self.ris) if ri["svc"] == s and ri["region"] == r] or [0]
                                 for s in range(20) for r in range(7)]
        # Savings Plans, owned by the shared-network account (one of the 40)
        self.sps = []
        for plan, code, name, hourly in [("Compute", "AmazonEC2", "ComputeSP:1yrNoUpfront", 42.0),
                                         ("Compute", "AmazonEC2", "ComputeSP:3yrPartialUpfront", 18.5),
                                         ("Compute", "AmazonEC2", "ComputeSP:1yrNoUpfront", 9.75),
                                         ("Compute", "AmazonEC2", "ComputeSP:3yrPartialUpfront", 27.0),
                                         ("EC2Instance", "AmazonEC2", "EC2SP:m6i.1yrNoUpfront", 6.2),
                                         ("SageMaker", "AmazonSageMaker", "SageMakerSP:1yrNoUpfront", 4.4)]:
            self.sps.append(dict(svc=SVC[code], entry=self.extra_entries[(code, name, None)], hourly=hourly,
                                 plan=plan, term=name.split(":")[1], factor=round(rng.uniform(0.58, 0.78), 3),
                                 arn=f"arn:aws:savingsplans::{self.account_ids[sharedsvc]}:savingsplan/{uuid(rng)}",
                                 acct=sharedsvc))
        self.fixed = self.build_fixed_lines(sharedsvc)

    def build_fixed_lines(self, sharedsvc):
        rng = self.rng
        rows = []

        def row(**kw):
            base = dict(acct=0, svc=0, region=NO_REGION, entry=-1, lit=USAGE, start=0, hours=HOURS, usage=None, rate=None,
                        cost=0.0, od=None, desc=None, op=None, term=None, ri=-1, sp=-1, sp_total=None, sp_used=None,
                        ri_unused_up=None, ri_unused_rec=None, sp_eff=None, ri_eff=None, blended=None)
            base.update(kw)
            if base["blended"] is None:
                base["blended"] = base["cost"]
            rows.append(base)

        month = HOURS
        # tax: one line per account and product code for the month
        tax_svcs = [c for c in SERVICE_CODES if c not in ("AmazonRoute53",)]
        for a in range(ACCOUNTS):
            for code in rng.sample(tax_svcs, 12):
                row(acct=a, svc=SVC[code], lit=TAX, usage=1.0, cost=round(rng.paretovariate(1.2) * 40, 2),
                    desc=f"Tax for product code {code}")
        # credits: daily promotional credits for eight accounts on six services
        for a in rng.sample(range(ACCOUNTS), 8):
            for code in rng.sample(["AmazonEC2", "AmazonS3", "AWSLambda", "AmazonRDS", "AmazonDynamoDB", "AmazonSageMaker",
                                    "AmazonCloudWatch", "AmazonEKS"], 6):
                s = SVC[code]
                r = self.account_regions[a][0]
                kid = self.service_kind_slots[s][0]
                entry = self.prim[(kid, r)][0]
                program = rng.choice(["AWS Activate Credits", "AWS Credits - Migration Acceleration Program",
                                      "AWS Promotional Credit - Proof of Concept"])
                for d in range(DAYS):
                    row(acct=a, svc=s, region=self.entries[entry]["region"], entry=entry, lit=CREDIT, start=d * 24, hours=24,
                        usage=0.0, rate=0.0, cost=-round(rng.paretovariate(1.5) * 3, 10), desc=program,
                        op=self.entries[entry]["op"])
        # refunds
        for _ in range(40):
            a, s = rng.randrange(ACCOUNTS), rng.choice([SVC[c] for c in ("AmazonEC2", "AmazonS3", "AmazonRDS", "AWSDataTransfer")])
            d = rng.randrange(DAYS)
            row(acct=a, svc=s, lit=REFUND, start=d * 24, hours=24, usage=0.0, cost=-round(rng.paretovariate(1.1) * 25, 10),
                desc=rng.choice(["Refund for service disruption (SLA credit)", "Refund of duplicate charges",
                                 "Refund: Reserved Instance modification"]))
        # reserved instances: monthly RIFee lines; Fee lines for those bought this month
        for i, ri in enumerate(self.ris):
            e = self.entries[ri["entry"]]
            hours_used = month * ri["count"]
            rec = round(ri["hourly"] * hours_used, 10)
            up_month = round(ri["upfront"] / 12, 10)
            row(acct=ri["acct"], svc=ri["svc"], region=ri["region"], entry=ri["entry"], lit=RI_FEE, usage=float(hours_used),
                rate=ri["hourly"], cost=rec, ri=i, term="Reserved", op=e["op"],
                desc=f"USD {ri['hourly']} hourly fee per {e['itype']} reserved instance",
                ri_unused_up=round(up_month * ri["unused"], 10), ri_unused_rec=round(rec * ri["unused"], 10))
            if ri["bought"] and ri["upfront"] > 0:
                d = rng.randrange(DAYS)
                row(acct=ri["acct"], svc=ri["svc"], region=ri["region"], entry=ri["entry"], lit=FEE, start=d * 24 + rng.randrange(24),
                    hours=1, usage=float(ri["count"]), rate=round(ri["upfront"] / ri["count"], 10), cost=ri["upfront"], ri=i,
                    term="Reserved", op=e["op"],
                    desc=f"Sign up charge for subscription: {rng.randrange(10**8, 10**9)}, planId: {rng.randrange(10**6, 10**7)}")
        # Savings Plans: a daily recurring fee each
        for i, sp in enumerate(self.sps):
            for d in range(DAYS):
                commit = round(sp["hourly"] * 24, 10)
                used = round(commit * rng.uniform(0.82, 1.0), 10)
                row(acct=sp["acct"], svc=sp["svc"], entry=sp["entry"], lit=SP_FEE, start=d * 24, hours=24, usage=24.0,
                    rate=sp["hourly"], cost=commit, sp=i, sp_total=commit, sp_used=used, op="None",
                    desc=f"{sp['term']} {sp['plan']} Savings Plan recurring fee, ${sp['hourly']} hourly commitment")
        rng.shuffle(rows)
        return rows


def rand_id(rng, n):
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(n))


def uuid(rng):
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[rng.randrange(4)]}{h[17:20]}-{h[20:32]}"


def case_variant(rng, value, probs, title=False, lower_first=False):
    """`value` as written by one resource: canonical, lower/title case, or upper case."""
    x = rng.random()
    if x < probs[0]:
        return value, probs[0]
    if x < probs[0] + probs[1]:
        alt = value.title() if (title or lower_first) else value.lower()
        return (alt if alt != value else value.capitalize()), probs[1]
    return value.upper(), probs[2]


def slots_for(weights, n):
    """A lookup table of n slots, each index taking slots in proportion to its weight (at least one if > 0)."""
    total = sum(weights)
    idx = [i for i, w in enumerate(weights) if w > 0]
    assert len(idx) <= n
    counts = {i: max(1, int(weights[i] / total * n)) for i in idx}
    while sum(counts.values()) > n:
        i = max(counts, key=lambda j: counts[j])
        counts[i] -= 1
    order = sorted(idx, key=lambda i: -weights[i])
    k = 0
    while sum(counts.values()) < n:
        counts[order[k % len(order)]] += 1
        k += 1
    return [i for i in idx for _ in range(counts[i])]


def describe(e, region_name):
    rate, name = e["rate"], e["name"]
    if e["itype"] and "HeavyUsage" not in name:
        if name.split("-")[-1].startswith("BoxUsage") or "BoxUsage" in name:
            return f"${rate:g} per On Demand Linux {e['itype']} Instance Hour"
        return f"${rate:g} per {e['itype']} instance hour (or partial hour) - {region_name}"
    if e["model"] == STORAGE:
        return f"${rate:g} per {e['unit']} of {name.split('-', 1)[-1] if name[:4].isupper() else name} - {region_name}"
    if e["model"] == GB and e.get("dt"):
        return f"${rate:g} per GB - {region_name} data transfer ({name})"
    if e["model"] == COUNT:
        return f"${rate * 1000:g} per 1,000 {e['unit']} - {name}"
    return f"${rate:g} per {e['unit']} for {name} in {region_name}"


# ------------------------------------------------------------------------------------------------------
# Row layout: positions p in [0, N) are split into segments of entities with the same row count.
# Entity kinds: 0 resource, 1 resourceless usage stream (data transfer, CloudWatch API), 3 fixed line.


def segments(n_rows, world):
    fixed = len(world.fixed)
    n_streams = len(world.streams)
    stream_rows = max(n_streams, round(n_rows * STREAM_SHARE))
    res_rows = n_rows - fixed - stream_rows
    if res_rows < RESOURCES * 2:
        sys.exit(f"--rows must be at least {RESOURCES * 2 + fixed + stream_rows:,} "
                 f"({RESOURCES:,} resources, {fixed:,} fixed lines, {stream_rows:,} stream lines)")
    segs = []  # (entities, rows each, entity kind, first local index, class)
    # resources: the weight classes
    counts = [round(share * RESOURCES) for share, _ in RESOURCE_CLASSES]
    counts[0] += RESOURCES - sum(counts)
    unit = res_rows / sum(c * w for c, (_, w) in zip(counts, RESOURCE_CLASSES))
    per = [max(1, int(unit * w)) for _, w in RESOURCE_CLASSES]
    while sum(c * n for c, n in zip(counts, per)) > res_rows:
        j = max(range(len(per)), key=lambda i: per[i])
        per[j] -= 1
    left = res_rows - sum(c * n for c, n in zip(counts, per))
    for cls in reversed(range(len(counts))):  # leftover rows: one more for the first entities, heaviest first
        extra = min(left, counts[cls])
        left -= extra
        start = sum(counts[:cls])
        if extra:
            segs.append((extra, per[cls] + 1, 0, start, cls))
        if counts[cls] - extra:
            segs.append((counts[cls] - extra, per[cls], 0, start + extra, cls))
    assert left == 0
    if max(n for _, n, *_ in segs) > 4 * HOURS:
        sys.exit("too many rows per resource for one month of hourly lines; lower the rows or reweight RESOURCE_CLASSES")
    # resourceless usage streams
    each, rem = divmod(stream_rows, n_streams)
    if each + 1 > HOURS:
        sys.exit("too many rows per resourceless stream for one month of hourly lines")
    if rem:
        segs.append((rem, each + 1, 1, 0, 0))
    segs.append((n_streams - rem, each, 1, rem, 0))
    segs.append((fixed, 1, 3, 0, 0))
    assert sum(c * n for c, n, *_ in segs) == n_rows
    out, p = [], 0
    for c, n, kind, el0, cls in segs:
        out.append(dict(p0=p, count=c, n=n, kind=kind, el0=el0, cls=cls))
        p += c * n
    return out


class Consts:
    """The lookup lists, as columns of a one-row CTE `konst` cross-joined once: a list literal inside an expression
    is rebuilt for every vector of 2,048 rows, a column of a one-row relation is not."""

    def __init__(self):
        self.cols = {}

    def __call__(self, values, typ=None):
        literal = lst(values, typ) if isinstance(values, list) else values
        if literal not in self.cols:
            self.cols[literal] = f"k_{len(self.cols)}"
        return self.cols[literal]

    def cte(self):
        return "konst AS (SELECT " + ", ".join(f"{lit} AS {name}" for lit, name in self.cols.items()) + ")"


def generate_sql(n_rows, seed, world):
    """The SELECT that yields the export's rows, typed as Data Exports writes Parquet, in output order."""
    W = world
    K = Consts()
    rng = random.Random(seed * 7919 + 17)

    def H(x, salt):
        return keyed_hash(x, salt, seed)

    def U(x, salt):
        return f"(({H(x, salt)} >> 11)::DOUBLE / 9007199254740992.0)"

    def I(x, salt, m):
        return f"({H(x, salt)} % {m})::BIGINT"

    segs = segments(n_rows, world)
    ctes = []
    a = 1_000_003
    while math.gcd(a, n_rows) != 1:
        a += 2
    b_ = rng.randrange(n_rows)
    ctes.append(f"x0 AS (SELECT range AS i, ({a} * range + {b_}) % {n_rows} AS x FROM range({n_rows}))")
    for r in range(PERMUTATION_ROUNDS):  # swap-or-not shuffle: a keyed bijection of [0, N)
        key = rng.randrange(n_rows)
        ctes.append(f"x{r + 1} AS (SELECT i, CASE WHEN {H(f'greatest(x, ({key} - x + {n_rows}) % {n_rows})', 100 + r)} & 1 = 1 "
                    f"THEN ({key} - x + {n_rows}) % {n_rows} ELSE x END AS x FROM x{r})")
    case = " ".join(f"WHEN x < {s['p0'] + s['count'] * s['n']} THEN {j}" for j, s in enumerate(segs))
    ctes.append(f"sg AS (SELECT i, x AS p, CASE {case} END + 1 AS sg FROM x{PERMUTATION_ROUNDS})")
    L = lambda key: lst([s[key] for s in segs])
    ctes.append(f"""en AS (SELECT i, {L('kind')}[sg] AS ek, {L('cls')}[sg] AS cls, {L('n')}[sg] AS n,
        {L('el0')}[sg] + (p - {L('p0')}[sg]) // {L('n')}[sg] AS e, (p - {L('p0')}[sg]) % {L('n')}[sg] AS k FROM sg)""")

    # ---- resources: attributes from hash(e) -------------------------------------------------------------
    kinds = W.kinds
    K_SCOPE = K([k.get("scope") or -1 for k in kinds])
    K_HOURLY = K([float(k.get("hourly", .5)) for k in kinds])
    K_SP = K([float(k.get("sp", 0)) for k in kinds])
    K_RI = K([float(k.get("ri", 0)) for k in kinds])
    K_MP = K([float(k.get("mp", 0)) for k in kinds])
    K_AZ = K([bool(k.get("az")) for k in kinds])
    K_OPS = K([k.get("ops") or [""] for k in kinds])
    K_OP = K([k.get("op") for k in kinds], "VARCHAR")
    PRIM = K([W.prim[(kid, r)] for kid in range(len(kinds)) for r in range(7)])
    SEC = K([W.sec[(kid, r)] for kid in range(len(kinds)) for r in range(7)])
    COMBO_WL = K([c["wl"] for c in W.combos])
    WL_APP = K([W.apps.index(wl["app"]) for wl in W.workloads])
    WL_ACCT = K([wl["account"] for wl in W.workloads])
    WL_TEAM = K([wl["team"] for wl in W.workloads])
    TAG_SLOTS = K(W.combo_slots)
    APP_SVC = K(W.app_service_slots)
    UNTAG_SVC = K(W.untagged_service_slots)
    SVC_KIND = K(W.service_kind_slots)
    ACCT_REGION = K(W.account_region_slots)
    CLS_DMIN = K([d for d, _ in CLASS_DAYS])
    CLS_DMAX = K([d for _, d in CLASS_DAYS])
    ACCT_REG3 = K(W.account_regions)
    UNTAG_ACCT = K(W.untagged_account_slots)
    ctes.append(f"""r1 AS (SELECT *,
        {U('e', 1)} >= {UNTAGGED_SHARE} AS tagged,
        CASE WHEN {U('e', 1)} >= {UNTAGGED_SHARE} THEN {TAG_SLOTS}[{I('e', 2, len(W.combo_slots))} + 1] ELSE -1 END AS combo
        FROM en, konst)""")
    # forced resources: the first few resources of the lightest class start with each usage type in turn,
    # so every one of the 6,000 usage types is seen
    FR = W.forced
    FR_KIND, FR_ENTRY, FR_REGION = K([f[0] for f in FR]), K([f[1] for f in FR]), K([f[2] for f in FR])
    NF = len(FR)
    ACCT_BY_REGION = K(W.accounts_by_region)
    ctes.append(f"""r2 AS (SELECT *,
        ek = 0 AND e < {NF} AS forced,
        CASE WHEN tagged THEN {WL_APP}[{COMBO_WL}[combo + 1] + 1] ELSE -1 END AS app,
        CASE WHEN tagged AND {U('e', 3)} < {1 - MISPLACED_SHARE} THEN {WL_ACCT}[{COMBO_WL}[combo + 1] + 1]
             WHEN tagged THEN 36 + {WL_TEAM}[{COMBO_WL}[combo + 1] + 1] % 3
             ELSE {UNTAG_ACCT}[{I('e', 5, len(W.untagged_account_slots))} + 1] END AS acct0
        FROM r1)""")
    ctes.append(f"""r3 AS (SELECT *,
        CASE WHEN forced THEN {FR_KIND}[e + 1]
             ELSE {SVC_KIND}[CASE WHEN tagged THEN {APP_SVC}[app + 1][{I('e', 6, 128)} + 1]
                                  ELSE {UNTAG_SVC}[{I('e', 6, 128)} + 1] END + 1][{I('e', 7, 64)} + 1] END AS kind,
        CASE WHEN NOT forced OR {FR_REGION}[e + 1] >= 7 OR list_contains({ACCT_REG3}[acct0 + 1], {FR_REGION}[e + 1]) THEN acct0
             ELSE {ACCT_BY_REGION}[{FR_REGION}[e + 1] + 1][{I('e', 23, 1000)} % len({ACCT_BY_REGION}[{FR_REGION}[e + 1] + 1]) + 1]
             END AS r_acct
        FROM r2)""")
    ctes.append(f"""r5 AS (SELECT *,
        CASE WHEN {K_SCOPE}[kind + 1] >= 0 THEN {K_SCOPE}[kind + 1] WHEN forced THEN {FR_REGION}[e + 1]
             ELSE {ACCT_REGION}[r_acct + 1][{I('e', 8, 20)} + 1] END AS r_region,
        {U('e', 10)} AS ucov, {U('e', 12)} AS unut, {U('e', 13)} AS ugran, {U('e', 15)} AS uday, {U('e', 22)} AS uhour,
        least(500.0, pow(1.0 - {U('e', 14)}, -1.0 / 1.3)) AS scale,
        {CLS_DMIN}[cls + 1] + (floor({U('e', 24)} * ({CLS_DMAX}[cls + 1] - {CLS_DMIN}[cls + 1] + 1)))::BIGINT AS days
        FROM r3)""")
    ctes.append(f"""r6 AS (SELECT *,
        {PRIM}[kind * 7 + (CASE WHEN r_region < 7 THEN r_region ELSE 0 END) + 1] AS plist,
        {SEC}[kind * 7 + (CASE WHEN r_region < 7 THEN r_region ELSE 0 END) + 1] AS slist,
        CASE WHEN forced THEN 0 WHEN ucov < {K_SP}[kind + 1] THEN 1
             WHEN ucov < {K_SP}[kind + 1] + {K_RI}[kind + 1] THEN 2 ELSE 0 END AS cov
        FROM r5)""")
    # A resource lives `days` consecutive days (fixed by its class, whatever the row count); its n lines
    # (pairs of lines when Savings-Plan covered) spread evenly over them, r per day: hours of the day and
    # usage types fill up as rows grow. Daily lines when r fits one line per usage type, else hourly.
    ctes.append(f"""r7 AS (SELECT *,
        CASE WHEN forced THEN {FR_ENTRY}[e + 1] ELSE plist[(floor(len(plist) * pow({U('e', 9)}, 1.7)))::BIGINT + 1] END AS prim,
        cov = 0 AND NOT forced AND {U('e', 11)} < {K_MP}[kind + 1] AS mp,
        CASE WHEN cov = 1 THEN (n + 1) // 2 ELSE n END AS units
        FROM r6)""")
    # pin: where the primary sits in the secondaries (a forced resource may start with one); avail: distinct usage types
    ctes.append(f"""r7b AS (SELECT *, coalesce(list_position(slist, prim), 0) AS pin,
        len(slist) + 1 - (coalesce(list_position(slist, prim), 0) > 0)::INT AS avail FROM r7)""")
    # days: the class's lifetime, stretched when a day cannot hold the lines (24 an hour per usage type)
    ctes.append(f"""r8a AS (SELECT *,
        least(nut_hash, avail) AS nut,
        least({DAYS}, greatest(least(days, units),
              CASE WHEN cov = 0 THEN (units + 24 * avail - 1) // (24 * avail) ELSE (units + 23) // 24 END)) AS dn
        FROM (SELECT *, CASE WHEN cov > 0 THEN 1 ELSE 1 + (unut < 0.45)::INT + (unut < 0.15)::INT END AS nut_hash FROM r7b))""")
    ctes.append(f"""r8 AS (SELECT *, (units + dn - 1) // dn AS per_day FROM r8a)""")
    ctes.append(f"""r9 AS (SELECT *,
        ugran < {K_HOURLY}[kind + 1] OR (cov = 0 AND per_day > least(4, avail)) OR (cov > 0 AND per_day > 1) AS hourly,
        CASE WHEN cov = 1 THEN k // 2 ELSE k END AS u,
        CASE WHEN cov = 1 THEN k % 2 ELSE 0 END AS par
        FROM r8)""")
    ctes.append(f"""r10 AS (SELECT *,
        u // per_day AS d, u % per_day AS q,
        CASE WHEN cov > 0 THEN 1 WHEN hourly THEN greatest(nut, (per_day + 23) // 24) ELSE greatest(nut, per_day) END AS nut2
        FROM r9)""")
    ctes.append(f"""r11 AS (SELECT *,
        CASE WHEN cov = 0 THEN q % nut2 WHEN hourly THEN q // 24 ELSE q END AS jraw,
        CASE WHEN NOT hourly THEN 0 WHEN cov = 0 THEN q // nut2 ELSE q % 24 END AS hr,
        CASE WHEN NOT hourly THEN 1 WHEN cov = 0 THEN (per_day + nut2 - 1) // nut2 ELSE least(per_day, 24) END AS hused
        FROM r10)""")
    ctes.append(f"""r12 AS (SELECT *,
        CASE WHEN cov = 1 AND jraw > 0 THEN 2 * jraw - 1 + par ELSE jraw END AS j,
        CASE WHEN cov = 0 OR jraw > 0 THEN {USAGE} WHEN cov = 2 THEN {DISCOUNTED}
             WHEN n % 2 = 1 AND k = n - 1 THEN {USAGE} WHEN par = 0 THEN {SP_COVERED} ELSE {SP_NEGATION} END AS r_lit,
        ((floor(uday * ({DAYS} - dn + 1)))::BIGINT + d) * 24
            + CASE WHEN hourly THEN (floor(uhour * (24 - hused + 1)))::BIGINT + hr ELSE 0 END AS slot_h
        FROM r11)""")
    ctes.append(f"""r13 AS (SELECT *,
        CASE WHEN j = 0 THEN prim ELSE slist[sidx + 1 + (pin > 0 AND sidx + 1 >= pin)::INT] END AS r_entry
        FROM (SELECT *, ({I('e', 16, 1000)} + j - 1) % (avail - 1) AS sidx FROM r12))""")

    # ---- the unified line: resources, streams, fixed lines ------------------------------------------------
    FX = W.fixed
    F = lambda key, typ=None: K([r[key] for r in FX], typ)
    ST_ACCT, ST_REGION, ST_ENTRY = (K([st[x] for st in W.streams]) for x in range(3))
    # resourceless streams: spread over the month too, a few hours a day as rows grow
    ctes.append(f"""s1 AS (SELECT *, least({DAYS}, n) AS s_dn, (n + least({DAYS}, n) - 1) // least({DAYS}, n) AS s_per_day FROM r13)""")
    ctes.append(f"""s2 AS (SELECT *, s_per_day > 1 OR {U('e + 1000000', 13)} < 0.3 AS s_hourly,
        ((floor({U('e + 1000000', 15)} * ({DAYS} - s_dn + 1)))::BIGINT + k // s_per_day) * 24 AS s_day_h,
        (floor({U('e + 1000000', 22)} * (24 - s_per_day + 1)))::BIGINT + k % s_per_day AS s_hour
        FROM s1)""")
    ctes.append(f"""u1 AS (SELECT * EXCLUDE (combo),
        CASE WHEN ek = 0 THEN combo ELSE -1 END AS combo,
        CASE ek WHEN 0 THEN r_acct WHEN 3 THEN {F('acct')}[e + 1] ELSE {ST_ACCT}[e + 1] END AS acct,
        CASE ek WHEN 0 THEN r_region WHEN 3 THEN {F('region')}[e + 1] ELSE {ST_REGION}[e + 1] END AS region,
        CASE ek WHEN 0 THEN r_entry WHEN 3 THEN {F('entry')}[e + 1] ELSE {ST_ENTRY}[e + 1] END AS entry,
        CASE ek WHEN 0 THEN r_lit WHEN 3 THEN {F('lit')}[e + 1] ELSE {USAGE} END AS lit,
        CASE ek WHEN 0 THEN slot_h WHEN 3 THEN {F('start')}[e + 1]
             ELSE s_day_h + CASE WHEN s_hourly THEN s_hour ELSE 0 END END AS start_h,
        CASE ek WHEN 0 THEN (CASE WHEN hourly THEN 1 ELSE 24 END) WHEN 3 THEN {F('hours')}[e + 1]
             ELSE (CASE WHEN s_hourly THEN 1 ELSE 24 END) END AS hours,
        CASE ek WHEN 1 THEN least(200.0, pow(1.0 - {U('e + 1000000', 14)}, -1.0 / 1.2)) ELSE scale END AS sc
        FROM s2)""")
    E = W.entries
    E_MODEL = K([x["model"] for x in E])
    E_RATE = K([float(x["rate"]) for x in E])
    E_MAG = K([float(x["mag"]) for x in E])
    SP_FACTOR = K([sp["factor"] for sp in W.sps])
    RI_FACTOR = K([ri["factor"] for ri in W.ris])
    RI_BY = K(W.ri_by_svc_region)
    sage = SVC["AmazonSageMaker"]
    svc_of_kind = K([k["svc"] for k in kinds])
    ri_key = f"{svc_of_kind}[kind + 1] * 7 + least(region, 6) + 1"
    ctes.append(f"""u2 AS (SELECT *,
        {E_MODEL}[entry + 1] AS model, {E_RATE}[entry + 1] AS od_rate,
        0.6 + 0.8 * ((hash(xor({keyed_hash('e * 4 + ek', 21, seed)}, ((entry + 1) * 1024 + start_h)::UBIGINT)) >> 11)::DOUBLE
                     / 9007199254740992.0) AS jit,
        CASE WHEN ek = 0 AND cov = 1 THEN (CASE WHEN {svc_of_kind}[kind + 1] = {sage} THEN {len(W.sps) - 1}
                                                ELSE {I('e', 17, len(W.sps) - 1)} END)
             WHEN ek = 3 THEN {F('sp')}[e + 1] ELSE -1 END AS sp,
        CASE WHEN ek = 0 AND cov = 2 THEN {RI_BY}[{ri_key}][{I('e', 18, 64)} % len({RI_BY}[{ri_key}]) + 1]
             WHEN ek = 3 THEN {F('ri')}[e + 1] ELSE -1 END AS ri,
        CASE WHEN ek = 0 AND mp THEN {I('e', 19, len(MARKETPLACE_SELLERS))} ELSE -1 END AS seller
        FROM u1)""")
    # usage amounts: the same for an SP-covered line and its negation (same resource, type and hour)
    ctes.append(f"""u3 AS (SELECT *,
        CASE WHEN ek = 3 THEN {F('usage', 'DOUBLE')}[e + 1]
             ELSE round(CASE model
                WHEN {HRS} THEN hours * 1.0
                WHEN {HRSN} THEN hours * greatest(1.0, floor({E_MAG}[entry + 1] * least(sc, 10.0)))
                WHEN {STORAGE} THEN {E_MAG}[entry + 1] * sc * hours / {HOURS} * (0.95 + 0.1 * jit / 1.4)
                WHEN {COUNT} THEN greatest(1.0, round({E_MAG}[entry + 1] * sc * jit * hours / 24))
                ELSE {E_MAG}[entry + 1] * sc * jit * hours / 24 END, 10) END AS usage
        FROM u2)""")
    ctes.append(f"""u4 AS (SELECT *,
        CASE WHEN ek = 3 THEN NULL
             WHEN seller >= 0 THEN round(usage * (0.02 + 0.01 * (seller + 1)), 10)
             ELSE round(usage * od_rate, 10) END AS od_cost
        FROM u3)""")
    return ctes, segs, K


def final_select(ctes, world, seed, K):
    W = world
    E = W.entries
    FX = W.fixed
    F = lambda key, typ=None: K([r[key] for r in FX], typ)

    def H(x, salt):
        return keyed_hash(x, salt, seed)

    def E_(key, typ="VARCHAR"):
        return K([x.get(key) for x in E], typ)

    svc_of_kind = K([k["svc"] for k in W.kinds])
    kinds = W.kinds
    K_OPS = K([k.get("ops") or [""] for k in kinds])
    K_OP = K([k.get("op") for k in kinds], "VARCHAR")
    K_AZ = K([bool(k.get("az")) for k in kinds])
    ACCT_IDS = K(W.account_ids)
    REG = K(REGION_CODES, "VARCHAR")
    # hex and base32 pieces from to_base (printf is far slower); the uniq parts are bijections of e, so ids are unique
    hexn = lambda v, w: f"lower(to_base({v}, 16, {w}))"
    uniq32 = "((e * 2654435761 + 97) % 4294967296)"
    rand_bits = lambda salt, expr: f"({H('e', salt)} {expr})::BIGINT"   # e.g. rand_bits(901, '% 4294967296')
    hex17 = f"'0' || {hexn(uniq32, 8)} || {hexn(rand_bits(901, '% 4294967296'), 8)}"
    hex16 = f"{hexn(uniq32, 8)} || {hexn(rand_bits(902, '% 4294967296'), 8)}"
    u6 = hexn("(e * 7919 + 12345) % 16777216", 6)
    b32 = lambda v, w: f"replace(replace(replace(replace(to_base({v}, 32, {w}), '0', 'W'), '1', 'X'), '8', 'Y'), '9', 'Z')"
    alnum13 = f"{b32(uniq32, 7)} || {b32(rand_bits(903, '>> 34'), 6)}"
    alnum6 = b32(f"({H('e', 904)} >> 34)::BIGINT", 6)
    uuid = (f"{hexn(uniq32, 8)} || '-' || {hexn(rand_bits(905, '% 65536'), 4)} || '-4' || "
            f"{hexn(rand_bits(906, '% 4096'), 3)} || '-' || {hexn(f'(32768 + ' + rand_bits(907, '% 16384') + ')', 4)} || '-' || "
            f"{hexn(rand_bits(908, '% 281474976710656'), 12)}")
    APPS = K(W.apps)
    label = (f"CASE WHEN app >= 0 THEN {APPS}[app + 1] ELSE {K(UNTAGGED_PREFIXES)}[({H('e', 909)} % {len(UNTAGGED_PREFIXES)})::BIGINT + 1] END")
    word = f"{K(NAME_WORDS)}[({H('e', 910)} % {len(NAME_WORDS)})::BIGINT + 1]"
    name = f"({label} || '-' || {word} || '-' || {u6})"
    bucket = f"({label} || '-' || {word} || '-' || {ACCT_IDS}[acct + 1] || '-' || {u6})"
    logpath = f"({K(['lambda/', 'ecs/', 'eks/', 'rds/instance/', 'apigateway/', 'vendedlogs/'])}[({H('e', 911)} % 6)::BIGINT + 1] || {name})"
    # a resource id template is  L0 [region] L1 [acct] L2 id L3 [id2] L4 : one generic expression, a short CASE
    # for the id (a CASE over the kinds pays a per-vector overhead for each of them)
    ids = ["hex17", "name", "bucket", "alnum13", "logpath", "uuid"]
    ids2 = ["", "hex16", "alnum6"]
    shapes = []
    for k in kinds:
        lits, slots, rest = [""] * 5, {}, k["id"]
        pos = 0
        while "{" in rest:
            pre, rest = rest.split("{", 1)
            key, rest = rest.split("}", 1)
            slot = {"region": 0, "acct": 1}.get(key, 2 if key in ids else 3)
            assert slot >= pos, k["id"]
            lits[pos] += pre
            pos = slot + 1
            slots[slot] = key
        lits[pos] += rest
        shapes.append(dict(lits=lits, region=0 in slots, acct=1 in slots, id=ids.index(slots[2]),
                           id2=ids2.index(slots.get(3, ""))))
    SL = lambda i: K([sh["lits"][i] for sh in shapes])
    id_expr = " ".join(f"WHEN {i} THEN {v}" for i, v in enumerate([hex17, name, bucket, alnum13, logpath, uuid]))
    rid = (f"{SL(0)}[kind + 1] || CASE WHEN {K([sh['region'] for sh in shapes])}[kind + 1] THEN {REG}[region + 1] ELSE '' END || "
           f"{SL(1)}[kind + 1] || CASE WHEN {K([sh['acct'] for sh in shapes])}[kind + 1] THEN {ACCT_IDS}[acct + 1] ELSE '' END || "
           f"{SL(2)}[kind + 1] || CASE {K([sh['id'] for sh in shapes])}[kind + 1] {id_expr} END || {SL(3)}[kind + 1] || "
           f"CASE {K([sh['id2'] for sh in shapes])}[kind + 1] WHEN 1 THEN {hex16} WHEN 2 THEN {alnum6} ELSE '' END || {SL(4)}[kind + 1]")
    ctes.append(f"""v1 AS (SELECT *, CASE WHEN ek = 0 THEN {rid} END AS rid FROM u4)""")

    # ---- columns ------------------------------------------------------------------------------------------
    SP_FACTOR = K([sp["factor"] for sp in W.sps])
    RI_FACTOR = K([ri["factor"] for ri in W.ris])
    SP_ARN = K([sp["arn"] for sp in W.sps])
    RI_ARN = K([ri["arn"] for ri in W.ris])
    sellers = K([s for s, _ in MARKETPLACE_SELLERS])
    seller_products = K([p for _, p in MARKETPLACE_SELLERS])
    mp_invoices = K([str(2217438891 + i) for i in range(len(MARKETPLACE_SELLERS))])
    lit_names = K(LINE_ITEM_TYPES)
    maps = ["MAP {}::MAP(VARCHAR, VARCHAR)"] + [
        "MAP {" + ", ".join(f"{q(k)}: {q(v)}" for k, v in c["tags"].items()) + "}" for c in W.combos]
    tags = K("[" + ", ".join(maps) + "]")
    days = K([f"2025-03-{d + 1:02d}T00:00:00Z/" + (f"2025-03-{d + 2:02d}T00:00:00Z" if d < 30 else "2025-04-01T00:00:00Z")
                for d in range(DAYS)])
    ts = lambda h: f"(TIMESTAMP '{PERIOD_START}' + to_hours({h}))"
    # identity_line_item_id: 52 base32 characters ([a-z2-7]); 8 of them a bijection of the row number, so unique.
    # lower(to_base(x, 32)) is [0-9a-v]; mapping 0, 1, 8, 9 to w, x, y, z gives the base32 alphabet.
    idpart = lambda salt: f"to_base(({H('i', salt)} >> 9)::BIGINT, 32, 11)"
    uniq_i = f"to_base((i * 2654435761 + {(seed * 0x9E3779B97F + 0x5DEECE66D) % (1 << 40)}) % 1099511627776, 32, 8)"
    line_item_id = (f"replace(replace(replace(replace(lower({idpart(931)} || {idpart(932)} || {uniq_i} || {idpart(933)} || "
                    f"{idpart(934)}), '0', 'w'), '1', 'x'), '8', 'y'), '9', 'z')")
    az = (f"CASE WHEN ek = 0 AND {K_AZ}[kind + 1] THEN {REG}[region + 1] || "
          f"{K(list('abc'))}[({H('e', 920)} % 3)::BIGINT + 1] END")
    op = (f"CASE WHEN ek = 3 THEN {F('op', 'VARCHAR')}[e + 1] "
          f"WHEN ek = 0 AND j = 0 AND {K_OPS}[kind + 1][1] <> '' THEN {K_OPS}[kind + 1][({H('e', 921)} % len({K_OPS}[kind + 1]))::BIGINT + 1] "
          f"WHEN ek = 0 AND {K_OP}[kind + 1] IS NOT NULL AND NOT {K([bool(x.get('dt')) for x in E])}[entry + 1] THEN {K_OP}[kind + 1] "
          f"ELSE NULLIF({E_('op')}[entry + 1], '') END")
    unblended = (f"CASE WHEN ek = 3 THEN {F('cost', 'DOUBLE')}[e + 1] WHEN lit = {DISCOUNTED} THEN 0.0 "
                 f"WHEN lit = {SP_NEGATION} THEN -od_cost ELSE od_cost END")
    rate = (f"CASE WHEN ek = 3 THEN {F('rate', 'DOUBLE')}[e + 1] WHEN lit = {DISCOUNTED} THEN 0.0 "
            f"WHEN lit = {SP_NEGATION} THEN -od_rate WHEN seller >= 0 THEN round(0.02 + 0.01 * (seller + 1), 10) ELSE od_rate END")
    desc = (f"CASE WHEN ek = 3 THEN {F('desc', 'VARCHAR')}[e + 1] "
            f"WHEN seller >= 0 THEN {seller_products}[seller + 1] || ' - software usage on ' || coalesce({E_('itype')}[entry + 1], 'instance') || ' (hourly)' "
            f"WHEN lit = {SP_NEGATION} THEN 'SavingsPlanNegation used by AccountId : ' || {ACCT_IDS}[acct + 1] || ' and UsageSku : ' || {E_('sku')}[entry + 1] "
            f"WHEN lit = {DISCOUNTED} THEN 'USD 0.0 hourly fee per ' || coalesce({E_('itype')}[entry + 1], {E_('name')}[entry + 1]) || ' reserved instance applied' "
            f"ELSE {E_('desc')}[entry + 1] END")
    cols = {
        "bill_bill_type": "'Anniversary'",
        "bill_billing_entity": "CASE WHEN seller >= 0 THEN 'AWS Marketplace' ELSE 'AWS' END",
        "bill_billing_period_end_date": f"TIMESTAMP '{PERIOD_END}'",
        "bill_billing_period_start_date": f"TIMESTAMP '{PERIOD_START}'",
        "bill_invoice_id": f"CASE WHEN seller >= 0 THEN {mp_invoices}[seller + 1] ELSE '{AWS_INVOICE}' END",
        "bill_invoicing_entity": f"'{AWS_ENTITY}'",
        "bill_payer_account_id": f"'{PAYER_ID}'",
        "bill_payer_account_name": f"'{PAYER_NAME}'",
        "identity_line_item_id": line_item_id,
        "identity_time_interval": f"{days}[start_h // 24 + 1]",
        "line_item_availability_zone": az,
        "line_item_blended_cost": (f"CASE WHEN ek = 3 THEN {F('blended', 'DOUBLE')}[e + 1] "
                                   f"WHEN lit = {DISCOUNTED} THEN round(od_cost * {RI_FACTOR}[ri + 1], 10) "
                                   f"WHEN lit = {SP_NEGATION} THEN -od_cost ELSE od_cost END"),
        "line_item_currency_code": "'USD'",
        "line_item_legal_entity": f"CASE WHEN seller >= 0 THEN {sellers}[seller + 1] ELSE '{AWS_ENTITY}' END",
        "line_item_line_item_description": desc,
        "line_item_line_item_type": f"{lit_names}[lit + 1]",
        "line_item_operation": op,
        "line_item_product_code": f"{K(SERVICE_CODES)}[CASE WHEN ek = 3 THEN {F('svc')}[e + 1] WHEN ek = 1 THEN {E_('svc', 'INTEGER')}[entry + 1] "
                                  f"ELSE {svc_of_kind}[kind + 1] END + 1]",
        "line_item_resource_id": "rid",
        "line_item_unblended_cost": unblended,
        "line_item_unblended_rate": rate,
        "line_item_usage_account_id": f"{ACCT_IDS}[acct + 1]",
        "line_item_usage_account_name": f"{K(W.account_names)}[acct + 1]",
        "line_item_usage_amount": "usage",
        "line_item_usage_end_date": ts("start_h + hours"),
        "line_item_usage_start_date": ts("start_h"),
        "line_item_usage_type": f"CASE WHEN entry >= 0 THEN {E_('name')}[entry + 1] END",
        "pricing_public_on_demand_cost": (f"CASE WHEN ek = 3 THEN {F('od', 'DOUBLE')}[e + 1] WHEN lit = {SP_NEGATION} THEN 0.0 "
                                          f"ELSE od_cost END"),
        "pricing_term": (f"CASE WHEN ek = 3 THEN {F('term', 'VARCHAR')}[e + 1] WHEN seller >= 0 THEN NULL "
                         f"WHEN lit = {DISCOUNTED} THEN 'Reserved' ELSE 'OnDemand' END"),
        "pricing_unit": f"CASE WHEN entry >= 0 THEN {E_('unit')}[entry + 1] END",
        "product_instance_type": f"CASE WHEN entry >= 0 THEN {E_('itype')}[entry + 1] END",
        "product_product_family": f"CASE WHEN entry >= 0 THEN {E_('family')}[entry + 1] END",
        "product_region_code": f"{REG}[region + 1]",
        "product_servicecode": f"CASE WHEN entry >= 0 THEN {E_('svccode')}[entry + 1] END",
        "product_sku": f"CASE WHEN entry >= 0 THEN {E_('sku')}[entry + 1] END",
        "reservation_effective_cost": f"CASE WHEN lit = {DISCOUNTED} THEN round(od_cost * {RI_FACTOR}[ri + 1], 10) END",
        "reservation_reservation_a_r_n": f"CASE WHEN ri >= 0 THEN {RI_ARN}[ri + 1] END",
        "reservation_unused_amortized_upfront_fee_for_billing_period": f"CASE WHEN ek = 3 THEN {F('ri_unused_up', 'DOUBLE')}[e + 1] END",
        "reservation_unused_recurring_fee": f"CASE WHEN ek = 3 THEN {F('ri_unused_rec', 'DOUBLE')}[e + 1] END",
        "resource_tags": f"{tags}[combo + 2]",
        "savings_plan_savings_plan_a_r_n": f"CASE WHEN sp >= 0 AND lit IN ({SP_COVERED}, {SP_NEGATION}, {SP_FEE}) THEN {SP_ARN}[sp + 1] END",
        "savings_plan_savings_plan_effective_cost": f"CASE WHEN lit = {SP_COVERED} THEN round(od_cost * {SP_FACTOR}[sp + 1], 10) END",
        "savings_plan_total_commitment_to_date": f"CASE WHEN ek = 3 THEN {F('sp_total', 'DOUBLE')}[e + 1] END",
        "savings_plan_used_commitment": f"CASE WHEN ek = 3 THEN {F('sp_used', 'DOUBLE')}[e + 1] END",
    }
    assert sorted(cols) == COLUMNS, set(cols) ^ set(COLUMNS)
    select = ",\n  ".join(f"{cols[c]} AS {c}" for c in COLUMNS)
    return "WITH " + ",\n".join([K.cte()] + ctes) + f"\nSELECT\n  {select}\nFROM v1"


def csv_select(parquet):
    """The CSV projection of the Parquet file: ISO timestamps, AWS-style numbers, JSON tags, empty cells for NULL."""
    inner, outer = [], []
    for c in COLUMNS:
        if c in TIMESTAMP_COLUMNS:
            inner.append(f"strftime({c}, '%Y-%m-%dT%H:%M:%SZ') AS {c}")
            outer.append(c)
        elif c in MONEY_COLUMNS:   # up to 10 decimals, trailing zeros trimmed, at least one decimal: 0.0, 12.5, 0.0000123456
            inner.append(f"rtrim(CAST(CAST({c} AS DECIMAL(28, 10)) AS VARCHAR), '0') AS {c}")
            outer.append(f"CASE WHEN ends_with({c}, '.') THEN {c} || '0' ELSE {c} END AS {c}")
        elif c in RATE_COLUMNS:    # rates as AWS writes them: 10 fixed decimals
            inner.append(f"CAST(CAST({c} AS DECIMAL(28, 10)) AS VARCHAR) AS {c}")
            outer.append(c)
        elif c == "resource_tags":
            inner.append(f"CASE WHEN cardinality({c}) > 0 THEN CAST(to_json({c}) AS VARCHAR) END AS {c}")
            outer.append(c)
        else:
            inner.append(c)
            outer.append(c)
    return f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} FROM read_parquet('{parquet}'))"


FOLDED_GRAIN = """CAST(line_item_usage_start_date AS DATE), line_item_usage_account_id, line_item_product_code,
    product_region_code, line_item_line_item_type, lower(resource_tags['user_team']), lower(resource_tags['user_env']),
    lower(resource_tags['user_service']), lower(resource_tags['user_cost_center'])"""
RAW_GRAIN = FOLDED_GRAIN.replace("lower(", "(")


def parquet_checks(con, parquet):
    """The cardinalities of the written Parquet file."""
    src = f"read_parquet('{parquet}')"
    one = lambda sql: con.execute(sql).fetchone()
    r = {}
    (r["rows"], r["line_item_ids"], r["resources"], r["accounts"], r["payers"], r["product_codes"], r["usage_types"],
     r["regions"], r["line_item_types"], r["days"], r["tag_combinations"], r["untagged_resources"], r["untagged_rows"],
     r["parquet_sum"]) = one(f"""
        SELECT count(*), count(DISTINCT identity_line_item_id), count(DISTINCT line_item_resource_id),
               count(DISTINCT line_item_usage_account_id), count(DISTINCT bill_payer_account_id),
               count(DISTINCT line_item_product_code),
               count(DISTINCT (line_item_product_code, line_item_usage_type)) FILTER (WHERE line_item_usage_type IS NOT NULL),
               count(DISTINCT coalesce(product_region_code, '(none)')), count(DISTINCT line_item_line_item_type),
               count(DISTINCT CAST(line_item_usage_start_date AS DATE)),
               count(DISTINCT CAST(to_json(resource_tags) AS VARCHAR)) FILTER (WHERE cardinality(resource_tags) > 0),
               count(DISTINCT line_item_resource_id) FILTER (WHERE cardinality(resource_tags) = 0),
               count_if(cardinality(resource_tags) = 0), sum(CAST(line_item_unblended_cost AS DECIMAL(38, 10)))
        FROM {src}""")
    r["usage_types_per_service"] = one(f"""SELECT min(c), max(c) FROM (SELECT count(DISTINCT line_item_usage_type) AS c
        FROM {src} GROUP BY line_item_product_code)""")
    r["folded_groups"] = one(f"SELECT count(*) FROM (SELECT DISTINCT {FOLDED_GRAIN} FROM {src})")[0]
    r["raw_groups"] = one(f"SELECT count(*) FROM (SELECT DISTINCT {RAW_GRAIN} FROM {src})")[0]
    r["line_item_type_rows"] = con.execute(f"""SELECT line_item_line_item_type, count(*) FROM {src}
        GROUP BY 1 ORDER BY 2 DESC""").fetchall()
    r["row_groups"], r["row_group_rows"] = one(f"""SELECT count(DISTINCT row_group_id),
        list(DISTINCT row_group_num_rows ORDER BY row_group_num_rows) FROM parquet_metadata('{parquet}')""")
    return r


class GzipFollower(threading.Thread):
    """Gzips a file while another writer appends to it (DuckDB writes the CSV in order), so compressing
    overlaps writing. Chunks are deflated on two threads, pigz-style: each chunk a raw deflate stream ended
    by a sync flush (the last one finished), joined under one gzip header and trailer, so the result is one
    ordinary gzip member. `finish()` once the writer is done."""

    CHUNK = 16 << 20

    def __init__(self, src, dst, level=6, workers=2):
        super().__init__(daemon=True)
        self.src, self.dst, self.level, self.workers = src, dst, level, workers
        self.done = threading.Event()
        self.read = 0
        self.error = None

    def finish(self):
        self.done.set()
        self.join()
        if self.error:
            raise self.error
        if self.read != os.path.getsize(self.src):
            raise RuntimeError(f"gzip read {self.read} bytes of {os.path.getsize(self.src)}")

    def deflate(self, chunk, last):
        comp = zlib.compressobj(self.level, zlib.DEFLATED, -15)
        return comp.compress(chunk) + comp.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)

    def chunks(self, f):
        """The file in chunks of exactly CHUNK bytes (the last one shorter), whatever the writer's pace,
        so the compressed bytes do not depend on timing."""
        buf = bytearray()
        while True:
            finished = self.done.is_set()     # a read after the writer is done sees everything
            data = f.read(self.CHUNK)
            buf += data
            while len(buf) >= self.CHUNK:
                yield bytes(buf[:self.CHUNK])
                del buf[:self.CHUNK]
            if not data:
                if finished:
                    if buf:
                        yield bytes(buf)
                    return
                time.sleep(0.05)

    def run(self):
        from concurrent.futures import ThreadPoolExecutor
        try:
            while not os.path.exists(self.src):
                time.sleep(0.05)
            crc, pending = 0, []
            with open(self.src, "rb") as f, open(self.dst, "wb") as out, ThreadPoolExecutor(self.workers) as pool:
                out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")   # gzip header: deflate, no mtime, OS unknown
                previous = None
                for chunk in self.chunks(f):
                    if previous is not None:
                        pending.append(pool.submit(self.deflate, previous, False))
                    previous = chunk
                    self.read += len(chunk)
                    crc = zlib.crc32(chunk, crc)
                    while len(pending) > self.workers * 2 or (pending and pending[0].done()):
                        out.write(pending.pop(0).result())
                pending.append(pool.submit(self.deflate, previous or b"", True))
                for fut in pending:
                    out.write(fut.result())
                out.write(crc.to_bytes(4, "little") + (self.read & 0xFFFFFFFF).to_bytes(4, "little"))
        except Exception as exc:  # reported by finish()
            self.error = exc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    world = World(args.seed)
    ctes, segs, consts = generate_sql(args.rows, args.seed, world)
    sql = final_select(ctes, world, args.seed, consts)
    stem = os.path.join(args.out, f"cur2-realistic-{args.rows}")
    final = {ext: f"{stem}.{ext}" for ext in ("parquet", "csv", "csv.gz")}
    tmp = {ext: os.path.join(args.out, f".{os.path.basename(path)}.{os.getpid()}.tmp") for ext, path in final.items()}
    spill = os.path.join(args.out, f".duckdb-spill-{os.getpid()}")
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")   # the shuffled order is part of the output
    con.execute(f"SET temp_directory = '{spill}'")
    gz, checker = None, None
    try:
        t = time.perf_counter()
        con.execute(f"COPY ({sql}) TO '{tmp['parquet']}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        print(f"parquet written: {time.perf_counter() - t:.1f}s", flush=True)
        # the CSV from the Parquet file; gzip follows the CSV as it grows; the Parquet checks run alongside
        t = time.perf_counter()
        result = {}

        def run_checks():
            try:
                result.update(parquet_checks(con.cursor(), tmp["parquet"]))
            except Exception as exc:
                result["error"] = exc
        checker = threading.Thread(target=run_checks, daemon=True)
        checker.start()
        gz = GzipFollower(tmp["csv"], tmp["csv.gz"])
        gz.start()
        con.execute(f"COPY ({csv_select(tmp['parquet'])}) TO '{tmp['csv']}' (FORMAT csv, HEADER true)")
        print(f"csv written: {time.perf_counter() - t:.1f}s", flush=True)
        csv_sum, csv_rows = con.execute(f"""SELECT sum(CAST(line_item_unblended_cost AS DECIMAL(38, 10))), count(*)
            FROM read_csv('{tmp['csv']}', header = true, all_varchar = true)""").fetchone()
        checker.join()
        if "error" in result:
            raise result["error"]
        r = result
        print(f"checks done: {time.perf_counter() - t:.1f}s", flush=True)
        gz.finish()
        gz = None
        print(f"csv.gz written: {time.perf_counter() - t:.1f}s", flush=True)
        if csv_rows != r["rows"] or csv_sum != r["parquet_sum"] or r["rows"] != args.rows:
            sys.exit(f"CSV and Parquet differ: rows {csv_rows} / {r['rows']}, unblended {csv_sum} / {r['parquet_sum']}")
        if r["line_item_ids"] != args.rows:
            sys.exit(f"identity_line_item_id is not unique: {r['line_item_ids']} distinct in {args.rows} rows")
        for ext in ("parquet", "csv", "csv.gz"):
            os.replace(tmp[ext], final[ext])
    finally:
        if gz is not None:
            gz.done.set()
            gz.join()
        if checker is not None:
            checker.join()
        con.close()
        for path in tmp.values():
            if os.path.exists(path):
                os.remove(path)
        shutil.rmtree(spill, ignore_errors=True)
    total = time.perf_counter() - started
    print(f"\nwrote in {total:.1f}s (seed {args.seed}):")
    for ext in ("parquet", "csv", "csv.gz"):
        print(f"  {final[ext]}  {os.path.getsize(final[ext]) / 1e6:,.1f} MB")
    print(f"""
checks:
  rows                              {r['rows']:,} (identity_line_item_id distinct: {r['line_item_ids']:,})
  folded groups (usage day, account, product code, region, line item type, team/env/service/cost centre case-folded)
                                    {r['folded_groups']:,}
  raw groups (the same, tag values as written)
                                    {r['raw_groups']:,}
  resource ids                      {r['resources']:,}
  usage accounts / payer accounts   {r['accounts']} / {r['payers']}
  product codes                     {r['product_codes']}
  usage types                       {r['usage_types']:,} ({r['usage_types_per_service'][0]}-{r['usage_types_per_service'][1]} per product code)
  regions (incl. global, none)      {r['regions']}
  usage days                        {r['days']}
  line item types                   {r['line_item_types']}: {', '.join(f'{n} {c:,}' for n, c in r['line_item_type_rows'])}
  tag combinations                  {r['tag_combinations']:,}
  untagged resources                {r['untagged_resources']:,} of {r['resources']:,} ({r['untagged_resources'] / max(1, r['resources']):.1%}); untagged rows {r['untagged_rows'] / r['rows']:.1%}
  parquet row groups                {r['row_groups']} (sizes {r['row_group_rows']})
  CSV = Parquet                     {csv_rows:,} rows each; sum(line_item_unblended_cost) {csv_sum} each""")


if __name__ == "__main__":
    main()
