//! Provider exports (AWS CUR 2.0 and legacy CUR, Azure cost details), on SQLite and
//! PostgreSQL: fixtures laid out the way each provider writes them, totals computed by hand
//! in the comments, restated snapshots that must not double count, and bad files refused.

mod common;

use common::{TestStore, gzip, stores, write};
use finopsd::ingest::IngestError;

const CUR2_HEADER: &str = "identity_line_item_id,bill_billing_period_start_date,bill_payer_account_id,\
bill_payer_account_name,line_item_usage_account_id,line_item_usage_account_name,line_item_line_item_type,\
line_item_usage_start_date,line_item_product_code,product_region_code,line_item_currency_code,\
line_item_unblended_cost,line_item_usage_amount,pricing_public_on_demand_cost,reservation_effective_cost,\
reservation_unused_amortized_upfront_fee_for_billing_period,reservation_unused_recurring_fee,\
reservation_reservation_a_r_n,savings_plan_savings_plan_effective_cost,savings_plan_total_commitment_to_date,\
savings_plan_used_commitment,resource_tags";

/// One CUR line: type, product, unblended, and the amortisation columns by name.
struct CurLine {
    kind: &'static str,
    product: &'static str,
    unblended: &'static str,
    reservation_effective: &'static str,
    unused_upfront: &'static str,
    unused_recurring: &'static str,
    arn: &'static str,
    sp_effective: &'static str,
    sp_commitment: &'static str,
    sp_used: &'static str,
}

const fn cur(kind: &'static str, product: &'static str, unblended: &'static str) -> CurLine {
    CurLine {
        kind,
        product,
        unblended,
        reservation_effective: "",
        unused_upfront: "",
        unused_recurring: "",
        arn: "",
        sp_effective: "",
        sp_commitment: "",
        sp_used: "",
    }
}

const RI: &str = "arn:aws:ec2:us-east-1:111122223333:reserved-instances/ri-1";

/// Every kind of line item once. By hand, BilledCost (every unblended cost) and
/// EffectiveCost (AWS's amortisation formula) per charge category:
///   Usage      10 + 0 + 8 − 8 = 10         10 + 3.50 + 5 + 0 = 18.50
///   Purchase   100 + 500 + 30 + 6 + 200 = 836   3.50 + 0 + 30 + 1 + 0 = 34.50
///   Tax 12.34 / 12.34, Credit −5 / −5, Adjustment (refund) −1 / −1.
fn amortisation_lines() -> Vec<CurLine> {
    vec![
        cur("Usage", "AmazonEC2", "10.00"),
        CurLine { reservation_effective: "3.50", ..cur("DiscountedUsage", "AmazonEC2", "0") },
        CurLine { unused_upfront: "1.25", unused_recurring: "2.25", arn: RI, ..cur("RIFee", "AmazonEC2", "100") },
        CurLine { arn: RI, ..cur("Fee", "AmazonEC2", "500") },
        cur("Fee", "AWSSupportBusiness", "30"),
        CurLine { sp_effective: "5.00", ..cur("SavingsPlanCoveredUsage", "AmazonEC2", "8.00") },
        cur("SavingsPlanNegation", "AmazonEC2", "-8.00"),
        CurLine {
            sp_commitment: "6.00",
            sp_used: "5.00",
            ..cur("SavingsPlanRecurringFee", "ComputeSavingsPlans", "6")
        },
        cur("SavingsPlanUpfrontFee", "ComputeSavingsPlans", "200"),
        cur("Tax", "AmazonEC2", "12.34"),
        cur("Credit", "AmazonEC2", "-5"),
        cur("Refund", "AmazonEC2", "-1"),
    ]
}

const AMORTISED_TOTALS: [&str; 5] = [
    "aws:111122223333 2025-03 USD Adjustment -1000000000 -1000000000",
    "aws:111122223333 2025-03 USD Credit -5000000000 -5000000000",
    "aws:111122223333 2025-03 USD Purchase 836000000000 34500000000",
    "aws:111122223333 2025-03 USD Tax 12340000000 12340000000",
    "aws:111122223333 2025-03 USD Usage 10000000000 18500000000",
];

fn cur2_csv(lines: &[CurLine]) -> String {
    let mut text = format!("{CUR2_HEADER}\n");
    for (i, l) in lines.iter().enumerate() {
        let day = if i % 2 == 0 { "2025-03-01T00:00:00Z" } else { "2025-03-02T00:00:00Z" };
        let tags = if l.kind == "Usage" { r#""{""user_team"":""payments"",""aws_createdBy"":""ci""}""# } else { "{}" };
        text.push_str(&format!(
            "li-{i},2025-03-01T00:00:00Z,111122223333,Payer,444455556666,Workloads,{},{day},{},us-east-1,USD,{},1,,\
             {},{},{},{},{},{},{},{tags}\n",
            l.kind,
            l.product,
            l.unblended,
            l.reservation_effective,
            l.unused_upfront,
            l.unused_recurring,
            l.arn,
            l.sp_effective,
            l.sp_commitment,
            l.sp_used,
        ));
    }
    text
}

#[tokio::test]
async fn cur_2_amortises_by_line_item_type_and_maps_charge_categories() {
    for ts in stores().await {
        let file = write(&ts.path("cur2.csv.gz"), gzip(cur2_csv(&amortisation_lines()).as_bytes()));
        let report = ts.ingest(&[&file]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_eq!(report.run.files[0].format, "aws-cur-2.0");
        assert!(report.run.reconciliation.iter().all(|l| l.balances()));
        assert_category_totals(&ts, &AMORTISED_TOTALS).await;
        let facts = ts.facts().await;
        // `user_team` is the team tag; `aws_createdBy` is not a kept key.
        assert!(facts.iter().any(|f| f.contains(r#"|{"team":"payments"}|"#)), "{facts:?}");
        assert!(facts.iter().all(|f| f.contains("|444455556666|")), "{facts:?}");
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn cur_2_parquet_reads_typed_columns_and_map_tags() {
    // Written by tests/fixtures/make_parquet_fixtures.py: the same line items, as Data Exports
    // writes Parquet (timestamps, doubles, `resource_tags` a MAP).
    let fixture = fixture("cur2-amortisation.parquet");
    for ts in stores().await {
        let report = ts.ingest(&[&fixture]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_eq!(report.run.files[0].format, "aws-cur-2.0");
        assert_category_totals(&ts, &AMORTISED_TOTALS).await;
        assert_some_fact_has(&ts, r#"|{"team":"payments"}|"#).await;
        ts.cleanup().await;
    }
}

/// Asserts billed and effective cost per source, month, currency and charge category.
async fn assert_category_totals(ts: &TestStore, expected: &[&str]) {
    assert_eq!(ts.category_totals().await, expected, "{}", ts.engine);
}

/// Asserts that some stored fact's text holds `text` (its kept tags, say).
async fn assert_some_fact_has(ts: &TestStore, text: &str) {
    let facts = ts.facts().await;
    assert!(facts.iter().any(|f| f.contains(text)), "{}: {facts:?}", ts.engine);
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[tokio::test]
async fn aws_focus_parquet_with_map_tags_loads_through_the_focus_path() {
    for ts in stores().await {
        let report =
            ts.ingest(&[&fixture("aws-focus-1.2.parquet")]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_eq!(report.run.files[0].format, "focus-1.2");
        // Usage billed 1.50 + 2 + 0.75, effective 1.25 + 2 + 0.75; tax 0.43.
        assert_category_totals(
            &ts,
            &[
                "aws:111122223333 2025-03 USD Tax 430000000 430000000",
                "aws:111122223333 2025-03 USD Usage 4250000000 4000000000",
            ],
        )
        .await;
        assert_some_fact_has(&ts, r#"|{"team":"search"}|"#).await;
        ts.cleanup().await;
    }
}

/// Legacy CUR: `category/Name` headers, a tag column per activated key.
fn legacy_csv(tag_columns: &[&str], rows: &[(&str, &str, &[&str])]) -> Vec<u8> {
    let mut text = String::from(
        "identity/LineItemId,bill/BillingPeriodStartDate,bill/PayerAccountId,lineItem/UsageAccountId,\
         lineItem/LineItemType,lineItem/UsageStartDate,lineItem/ProductCode,product/region,lineItem/CurrencyCode,\
         lineItem/UnblendedCost,reservation/EffectiveCost",
    );
    for column in tag_columns {
        text.push_str(&format!(",resourceTags/{column}"));
    }
    text.push('\n');
    for (i, (kind, cost, tags)) in rows.iter().enumerate() {
        let effective = if *kind == "DiscountedUsage" { "2.5" } else { "" };
        text.push_str(&format!(
            "{i},2025-03-01T00:00:00Z,111122223333,444455556666,{kind},2025-03-0{}T00:00:00Z,AmazonEC2,us-east-1,USD,\
             {cost},{effective}",
            i % 9 + 1
        ));
        for value in tags.iter() {
            text.push_str(&format!(",{value}"));
        }
        text.push('\n');
    }
    gzip(text.as_bytes())
}

fn legacy_manifest(assembly: &str, keys: &[&str]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| format!("\"finops/cur/20250301-20250401/{assembly}/{k}\"")).collect();
    format!(
        r#"{{"assemblyId":"{assembly}","account":"111122223333","reportName":"cur","compression":"GZIP",
            "contentType":"text/csv","billingPeriod":{{"start":"20250301T000000.000Z","end":"20250401T000000.000Z"}},
            "bucket":"billing","reportKeys":[{}]}}"#,
        keys.join(",")
    )
}

#[tokio::test]
async fn legacy_cur_loads_exactly_the_newest_assembly_of_the_month() {
    for ts in stores().await {
        let month = ts.path("cur/20250301-20250401");
        // The first assembly of the month, superseded: 1000 that must not count.
        write(&month.join("aaaa/cur-1.csv.gz"), legacy_csv(&["user:team"], &[("Usage", "1000", &["search"])]));
        write(&month.join("aaaa/cur-Manifest.json"), legacy_manifest("aaaa", &["cur-1.csv.gz"]));
        // The current one, split in two files; its tag columns differ from the older one's.
        let part1: &[(&str, &str, &[&str])] =
            &[("Usage", "10.50", &["payments", "prod"]), ("DiscountedUsage", "0", &["payments", ""])];
        write(&month.join("bbbb/cur-1.csv.gz"), legacy_csv(&["user:Team", "user:env"], part1));
        write(&month.join("bbbb/cur-2.csv.gz"), legacy_csv(&["user:Team", "user:env"], &[("Tax", "1.05", &["", ""])]));
        let current = legacy_manifest("bbbb", &["cur-1.csv.gz", "cur-2.csv.gz"]);
        write(&month.join("bbbb/cur-Manifest.json"), &current);
        write(&month.join("cur-Manifest.json"), &current);

        let report = ts.ingest(&[&ts.path("cur")]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_eq!(report.run.files.len(), 2, "{:?}", report.run.files);
        assert!(report.run.files.iter().all(|f| f.format == "aws-cur-legacy" && f.path.contains("bbbb")));
        // Billed 10.50 + 0 + 1.05; effective 10.50 + 2.50 + 1.05.
        assert_category_totals(
            &ts,
            &[
                "aws:111122223333 2025-03 USD Tax 1050000000 1050000000",
                "aws:111122223333 2025-03 USD Usage 10500000000 13000000000",
            ],
        )
        .await;
        assert_some_fact_has(&ts, r#"{"env":"prod","team":"payments"}"#).await;

        // A newer assembly lands and the date-range manifest moves to it: it replaces the month.
        write(&month.join("cccc/cur-1.csv.gz"), legacy_csv(&["user:team"], &[("Usage", "11", &["payments"])]));
        let newest = legacy_manifest("cccc", &["cur-1.csv.gz"]);
        write(&month.join("cccc/cur-Manifest.json"), &newest);
        write(&month.join("cur-Manifest.json"), &newest);
        ts.ingest(&[&ts.path("cur")]).await.unwrap();
        assert_eq!(ts.billed_totals().await, ["aws:111122223333 2025-03 USD 11000000000"], "{}", ts.engine);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn cur_2_folders_read_the_files_their_manifest_lists() {
    for ts in stores().await {
        let export = ts.path("exports/finops-cur2");
        let data = export.join("data/BILLING_PERIOD=2025-03");
        let lines = amortisation_lines();
        write(&data.join("finops-cur2-00001.csv.gz"), gzip(cur2_csv(&lines[..6]).as_bytes()));
        write(&data.join("finops-cur2-00002.csv.gz"), gzip(cur2_csv(&lines[6..]).as_bytes()));
        // Left from an earlier refresh that wrote three files: not in the manifest, not counted.
        write(&data.join("finops-cur2-00003.csv.gz"), gzip(cur2_csv(&[cur("Usage", "AmazonEC2", "999")]).as_bytes()));
        let uri = |n: u32| {
            format!("\"s3://billing/exports/finops-cur2/data/BILLING_PERIOD=2025-03/finops-cur2-0000{n}.csv.gz\"")
        };
        let manifest = format!(
            r#"{{"exportName":"finops-cur2","billingPeriod":{{"start":"2025-03-01T00:00:00.000Z","end":"2025-04-01T00:00:00.000Z"}},"dataFiles":[{},{}]}}"#,
            uri(1),
            uri(2)
        );
        write(&export.join("metadata/BILLING_PERIOD=2025-03/finops-cur2-Manifest.json"), &manifest);
        ts.ingest(&[&ts.path("exports")]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_category_totals(&ts, &AMORTISED_TOTALS).await;

        // A manifest naming a file that is not there refuses the ingest and changes nothing.
        let before = ts.facts().await;
        let broken = manifest.replace("00002", "00009");
        write(&export.join("metadata/BILLING_PERIOD=2025-03/finops-cur2-Manifest.json"), &broken);
        let Err(IngestError::BadInput(bad)) = ts.ingest(&[&ts.path("exports")]).await else { panic!("not refused") };
        assert!(bad.problem.contains("finops-cur2-00009.csv.gz"), "{bad}");
        assert_eq!(ts.facts().await, before);
        ts.cleanup().await;
    }
}

const AZURE_HEADER: &str = "BillingAccountId,BillingAccountName,BillingPeriodStartDate,BillingPeriodEndDate,\
SubscriptionId,SubscriptionName,Date,MeterCategory,ResourceLocation,ChargeType,PricingModel,Quantity,\
CostInBillingCurrency,BillingCurrencyCode,Tags";

fn azure_csv(rows: &[&str]) -> String {
    let mut text = format!("{AZURE_HEADER}\n");
    for row in rows {
        text.push_str("8611537,Contoso,3/1/2025,3/31/2025,");
        text.push_str(row);
        text.push('\n');
    }
    text
}

fn azure_manifest(kind: &str, submitted: &str, blob: &str) -> String {
    format!(
        r#"{{"exportConfig":{{"exportName":"contoso-{kind}","resourceId":"/providers/Microsoft.Billing/billingAccounts/8611537","dataVersion":"2024-08-01","type":"{kind}","timeFrame":"MonthToDate","granularity":"Daily"}},
            "deliveryConfig":{{"partitionData":true,"dataOverwriteBehavior":"CreateNewReport","fileFormat":"Csv"}},
            "runInfo":{{"executionType":"Scheduled","submittedTime":"{submitted}","runId":"{submitted}","startDate":"2025-03-01T00:00:00","endDate":"2025-03-31T00:00:00"}},
            "blobs":[{{"blobName":"{blob}","byteCount":100}}]}}"#
    )
}

#[tokio::test]
async fn azure_actual_and_amortised_exports_are_one_source_per_currency() {
    for ts in stores().await {
        let usd = "sub-usd,Prod,";
        let eur = "sub-eur,Europe,";
        // Actual: on-demand usage, reservation-covered usage at zero, the reservation purchase.
        let actual = azure_csv(&[
            &format!(
                r#"{usd}3/1/2025,Virtual Machines,EastUS,Usage,OnDemand,24,10.00,USD,"""team"": ""payments"",""env"": ""prod""""#
            ),
            &format!("{usd}3/2/2025,Virtual Machines,EastUS,Usage,Reservation,24,0,USD,"),
            &format!("{usd}3/1/2025,Reservations,EastUS,Purchase,Reservation,1,300.00,USD,"),
            &format!("{eur}3/2/2025,Storage,WestEurope,Usage,On Demand,100,5.5,EUR,"),
            &format!("{eur}3/2/2025,Storage,WestEurope,Usage,On Demand,1,5.64902E-05,EUR,"),
        ]);
        // Amortised: the purchase spread into the covered usage and its unused rest, no purchase row.
        let amortised = azure_csv(&[
            &format!(
                r#"{usd}3/1/2025,Virtual Machines,EastUS,Usage,OnDemand,24,10.00,USD,"""team"": ""payments"",""env"": ""prod""""#
            ),
            &format!("{usd}3/2/2025,Virtual Machines,EastUS,Usage,Reservation,24,9.68,USD,"),
            &format!("{usd}3/2/2025,Virtual Machines,EastUS,UnusedReservation,Reservation,1,0.32,USD,"),
            &format!("{eur}3/2/2025,Storage,WestEurope,Usage,On Demand,100,5.5,EUR,"),
            &format!("{eur}3/2/2025,Storage,WestEurope,Usage,On Demand,1,5.64902E-05,EUR,"),
        ]);
        let root = ts.path("azure");
        let run = |kind: &str, time: &str| root.join(format!("20250301-20250331/contoso-{kind}/{time}/guid-{time}"));
        let blob = |kind: &str, time: &str| {
            format!("exports/20250301-20250331/contoso-{kind}/{time}/guid-{time}/part_0_0001.csv")
        };
        // An earlier run of the actual export, superseded by the later one.
        write(
            &run("ActualCost", "202503100000").join("part_0_0001.csv"),
            azure_csv(&[&format!("{usd}3/1/2025,Virtual Machines,EastUS,Usage,OnDemand,1,77,USD,")]),
        );
        write(
            &run("ActualCost", "202503100000").join("manifest.json"),
            azure_manifest("ActualCost", "2025-03-10T00:00:00Z", &blob("ActualCost", "202503100000")),
        );
        write(&run("ActualCost", "202503200000").join("part_0_0001.csv"), &actual);
        write(
            &run("ActualCost", "202503200000").join("manifest.json"),
            azure_manifest("ActualCost", "2025-03-20T00:00:00Z", &blob("ActualCost", "202503200000")),
        );
        write(&run("AmortizedCost", "202503200000").join("part_0_0001.csv"), &amortised);
        write(
            &run("AmortizedCost", "202503200000").join("manifest.json"),
            azure_manifest("AmortizedCost", "2025-03-20T00:00:00Z", &blob("AmortizedCost", "202503200000")),
        );

        let report = ts.ingest(&[&root]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_eq!(report.run.files.len(), 2, "{:?}", report.run.files);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        // USD billed 10 + 0 + 300, effective 10 + 9.68 + 0.32; EUR 5.5 + 0.0000564902 both.
        assert_category_totals(
            &ts,
            &[
                "microsoft:8611537 2025-03 EUR Usage 5500056490 5500056490",
                "microsoft:8611537 2025-03 USD Purchase 300000000000 0",
                "microsoft:8611537 2025-03 USD Usage 10000000000 20000000000",
            ],
        )
        .await;
        assert_some_fact_has(&ts, r#"{"env":"prod","team":"payments"}"#).await;
        assert!(report.run.reconciliation.iter().all(|l| l.balances()));

        // The actual export alone (a pay-as-you-go account without amortised data) stands for
        // both metrics, and the purchase it cannot spread is pointed out.
        let alone = ts.path("alone/ActualCost/part_0_0001.csv");
        write(&alone, &actual);
        let report = ts.ingest(&[&alone]).await.unwrap();
        assert!(report.warnings.iter().any(|w| w.contains("amortised export")), "{:?}", report.warnings);

        // Without commitments the two exports are byte for byte the same: no copy, no double.
        let on_demand = azure_csv(&[&format!("{eur}3/2/2025,Storage,WestEurope,Usage,On Demand,100,5.5,EUR,")]);
        write(&ts.path("pair/ActualCost/part_0_0001.csv"), &on_demand);
        write(&ts.path("pair/AmortizedCost/part_0_0001.csv"), &on_demand);
        ts.ingest(&[&ts.path("pair")]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_category_totals(&ts, &["microsoft:8611537 2025-03 EUR Usage 5500000000 5500000000"]).await;
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn bad_provider_files_are_refused_naming_format_row_and_column() {
    for ts in stores().await {
        let good = write(&ts.path("good.csv"), cur2_csv(&amortisation_lines()));
        ts.ingest(&[&good]).await.unwrap();
        let before = ts.facts().await;

        // A required column missing: named with the format.
        let text = cur2_csv(&amortisation_lines()).replace("line_item_currency_code", "currency");
        let missing = write(&ts.path("missing.csv"), text);
        let Err(IngestError::BadInput(bad)) = ts.ingest(&[&missing]).await else { panic!("not refused") };
        assert_eq!(bad.column.as_deref(), Some("line_item_currency_code"), "{bad}");
        assert!(bad.problem.contains("aws-cur-2.0"), "{bad}");

        // A bad amount in a column only the amortisation reads, on the sixth line item.
        let mut lines = amortisation_lines();
        lines[5].sp_effective = "n/a";
        let bad_value = write(&ts.path("bad.csv"), cur2_csv(&lines));
        let Err(IngestError::BadInput(bad)) = ts.ingest(&[&bad_value]).await else { panic!("not refused") };
        assert_eq!(bad.column.as_deref(), Some("savings_plan_savings_plan_effective_cost"), "{bad}");
        assert_eq!(bad.position, Some(finopsd::ingest::Position::Row { line: 7, row: 6 }), "{bad}");

        // An Azure date that is no date.
        let azure = azure_csv(&["sub,Prod,31/31/2025,Storage,WestEurope,Usage,OnDemand,1,1,EUR,"]);
        let bad_date = write(&ts.path("azure.csv"), azure);
        let Err(IngestError::BadInput(bad)) = ts.ingest(&[&bad_date]).await else { panic!("not refused") };
        assert_eq!(bad.column.as_deref(), Some("Date"), "{bad}");
        assert_eq!(ts.facts().await, before, "{}", ts.engine);
        ts.cleanup().await;
    }
}

/// One GCP billing export row as BigQuery saves it to newline-delimited JSON.
fn gcp_row(account: &str, service: &str, usage: &str, cost: &str, credits: &[&str], extra: &str) -> String {
    let credits: Vec<String> =
        credits.iter().map(|amount| format!(r#"{{"name":"c","amount":{amount},"type":"PROMOTION"}}"#)).collect();
    let (currency, month) = if account.contains("EEEE") { ("EUR", "202503") } else { ("USD", "202503") };
    let mut row = format!(
        r#"{{"billing_account_id":"{account}","service":{{"id":"x","description":"{service}"}},"usage_start_time":"{usage} UTC","project":{{"id":"shop-prod","name":"Shop"}},"location":{{"region":"us-central1"}},"cost":{cost},"currency":"{currency}","credits":[{}],"invoice":{{"month":"{month}"}},"cost_type":"regular","export_time":"2025-03-02T01:00:00Z"{extra}}}"#,
        credits.join(",")
    );
    row.push('\n');
    row
}

const GCP_USD: &str = "01ABCD-234567-89EFGH";
const GCP_EUR: &str = "01EEEE-555555-66FFFF";

/// A first save of a GCP billing export, as JSON lines. Keys repeated in a row's `extra`
/// override its earlier ones (the last key wins in JSON).
fn gcp_first_save() -> String {
    let labels = r#","labels":[{"key":"team","value":"search"},{"key":"env","value":"prod"}]"#;
    let tax = r#","cost_type":"tax","export_time":"2025-03-03T01:00:00Z""#;
    [
        gcp_row(GCP_USD, "Compute Engine", "2025-03-01 00:00:00", "10.5", &["-1.25", "-0.25"], labels),
        gcp_row(GCP_USD, "BigQuery", "2025-03-01 00:00:00", "2.00", &[], ""),
        gcp_row(GCP_USD, "Compute Engine", "2025-03-01 00:00:00", "1.10", &[], tax),
        gcp_row(
            GCP_EUR,
            "Cloud Storage",
            "2025-03-02 00:00:00",
            "3.3",
            &[],
            r#","export_time":"2025-03-02T02:00:00Z""#,
        ),
    ]
    .concat()
}

/// A later save that overlaps the first: the tax row again, then new rows, one of them
/// usage of 1 March UTC that is still February in US Pacific time (its invoice month), one
/// of the EUR account appended after its own newest row (but before the USD account's:
/// watermarks are per billing account).
fn gcp_second_save() -> String {
    let tax = r#","cost_type":"tax","export_time":"2025-03-03T01:00:00Z""#;
    [
        gcp_row(
            GCP_EUR,
            "Cloud Storage",
            "2025-03-03 00:00:00",
            "1.2",
            &[],
            r#","export_time":"2025-03-02T03:00:00Z""#,
        ),
        gcp_row(GCP_USD, "Compute Engine", "2025-03-01 00:00:00", "1.10", &[], tax),
        gcp_row(
            GCP_USD,
            "Compute Engine",
            "2025-03-03 00:00:00",
            "4.00",
            &["-0.5"],
            r#","export_time":"2025-03-04T01:00:00Z""#,
        ),
        gcp_row(
            GCP_USD,
            "Compute Engine",
            "2025-03-01 03:00:00",
            "0.70",
            &[],
            r#","invoice":{"month":"202502"},"export_time":"2025-03-04T02:00:00Z""#,
        ),
    ]
    .concat()
}

/// The two saves' totals. USD March usage 10.50 + 2 + 4 less credits 1.50 and 0.50 = 14.50
/// (both metrics: the invoice is net of credits); tax 1.10 once; February 0.70; EUR 3.30 +
/// 1.20.
const GCP_TOTALS: [&str; 4] = [
    "google-cloud:01ABCD-234567-89EFGH 2025-02 USD Usage 700000000 700000000",
    "google-cloud:01ABCD-234567-89EFGH 2025-03 USD Tax 1100000000 1100000000",
    "google-cloud:01ABCD-234567-89EFGH 2025-03 USD Usage 14500000000 14500000000",
    "google-cloud:01EEEE-555555-66FFFF 2025-03 EUR Usage 4500000000 4500000000",
];

#[tokio::test]
async fn gcp_json_exports_net_credits_and_never_count_an_appended_row_twice() {
    const USD: &str = GCP_USD;
    for ts in stores().await {
        let (first, second) = (gcp_first_save(), gcp_second_save());
        write(&ts.path("gcp/export-2025-03-10.json"), &first);
        write(&ts.path("gcp/export-2025-03-11.json.gz"), gzip(second.as_bytes()));
        let report = ts.ingest(&[&ts.path("gcp")]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert!(report.run.files.iter().all(|f| f.format == "gcp-billing-export"), "{:?}", report.run.files);
        assert_category_totals(&ts, &GCP_TOTALS).await;
        assert_some_fact_has(&ts, r#"{"env":"prod","team":"search"}"#).await;

        // A line that is not JSON names its line and changes nothing.
        let before = ts.facts().await;
        let broken = gcp_row(USD, "BigQuery", "2025-03-05 00:00:00", "1", &[], "") + "{oops\n";
        write(&ts.path("gcp/export-2025-03-12.json"), broken);
        let Err(IngestError::BadInput(bad)) = ts.ingest(&[&ts.path("gcp")]).await else { panic!("not refused") };
        assert!(bad.to_string().contains("export-2025-03-12.json, line 2"), "{bad}");
        assert_eq!(ts.facts().await, before, "{}", ts.engine);
        ts.cleanup().await;
    }
}

/// JSON lines as the CSV a flattening query saves: one column per dotted path of the
/// records' fields, a repeated field as its JSON array.
fn gcp_csv(json_lines: &str) -> String {
    fn flatten(prefix: &str, value: &serde_json::Value, row: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(fields) => {
                for (key, field) in fields {
                    let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    flatten(&path, field, row);
                }
            }
            serde_json::Value::String(text) => row.push((prefix.to_string(), text.clone())),
            other => row.push((prefix.to_string(), other.to_string())),
        }
    }
    let rows: Vec<Vec<(String, String)>> = json_lines
        .lines()
        .map(|line| {
            let mut row = Vec::new();
            flatten("", &serde_json::from_str(line).unwrap(), &mut row);
            row
        })
        .collect();
    let mut header: Vec<String> = Vec::new();
    for (path, _) in rows.iter().flatten() {
        if !header.contains(path) {
            header.push(path.clone());
        }
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(&header).unwrap();
    for row in &rows {
        let cell = |path: &String| row.iter().find(|(p, _)| p == path).map_or("", |(_, v)| v.as_str());
        out.write_record(header.iter().map(cell)).unwrap();
    }
    String::from_utf8(out.into_inner().unwrap()).unwrap()
}

#[tokio::test]
async fn gcp_csv_and_parquet_exports_read_like_json_lines() {
    for ts in stores().await {
        // The two saves as CSV (the second gzip'd), then as BigQuery's Parquet extract
        // (tests/fixtures/make_parquet_fixtures.py: structs, lists of structs, timestamps).
        // Each ingest restates the same billing periods: the totals are those of the JSON
        // test, never summed.
        write(&ts.path("gcp-csv/export-2025-03-10.csv"), gcp_csv(&gcp_first_save()));
        write(&ts.path("gcp-csv/export-2025-03-11.csv.gz"), gzip(gcp_csv(&gcp_second_save()).as_bytes()));
        let parquet = [fixture("gcp-export-2025-03-10.parquet"), fixture("gcp-export-2025-03-11.parquet")];
        for files in [vec![ts.path("gcp-csv")], parquet.to_vec()] {
            let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
            let report = ts.ingest(&paths).await.unwrap_or_else(|e| panic!("{}: {files:?}: {e}", ts.engine));
            assert!(report.run.files.iter().all(|f| f.format == "gcp-billing-export"), "{:?}", report.run.files);
            assert_category_totals(&ts, &GCP_TOTALS).await;
            assert_some_fact_has(&ts, r#"{"env":"prod","team":"search"}"#).await;
        }

        // A repeated field that is not JSON names its file, row and column, and changes nothing.
        let before = ts.facts().await;
        let csv = gcp_csv(&gcp_first_save()).replacen(r#"[{""key"":""team"""#, r#"[{""key"":team"#, 1);
        write(&ts.path("gcp-bad/export.csv"), csv);
        let Err(IngestError::BadInput(bad)) = ts.ingest(&[&ts.path("gcp-bad")]).await else { panic!("not refused") };
        assert!(bad.to_string().contains("export.csv, line 2"), "{bad}");
        assert_eq!(bad.column.as_deref(), Some("labels"), "{bad}");
        assert_eq!(ts.facts().await, before, "{}", ts.engine);

        // A column nothing reads is passed over, whatever it holds, like any extra column.
        let mut lines: Vec<String> = gcp_csv(&gcp_first_save()).lines().map(str::to_string).collect();
        lines[0].push_str(",system_labels");
        lines[1..].iter_mut().for_each(|line| line.push_str(",[not json"));
        write(&ts.path("gcp-extra/export.csv"), lines.join("\n"));
        ts.ingest(&[&ts.path("gcp-extra")]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn marketplace_charges_are_kept_and_marked_with_their_seller() {
    // Each format's own marketplace signal; a marked row without a seller's name is named by
    // that signal. By hand, per source: the provider's own charges under [], each seller's
    // apart, and nothing lost (every row is summed somewhere).
    let cur2 = "bill_billing_period_start_date,bill_payer_account_id,bill_billing_entity,line_item_legal_entity,\
line_item_line_item_type,line_item_usage_start_date,line_item_product_code,line_item_currency_code,line_item_unblended_cost
2025-03-01T00:00:00Z,111122223333,AWS,\"Amazon Web Services, Inc.\",Usage,2025-03-01T00:00:00Z,AmazonEC2,USD,10.00
2025-03-01T00:00:00Z,111122223333,AWS Marketplace,Acme Observability Inc.,Usage,2025-03-01T00:00:00Z,prod-abc123,USD,250.00
2025-03-01T00:00:00Z,111122223333,AWS Marketplace,Acme Observability Inc.,Tax,2025-03-01T00:00:00Z,prod-abc123,USD,20.25
2025-03-01T00:00:00Z,111122223333,AWS Marketplace,,Usage,2025-03-02T00:00:00Z,prod-xyz,USD,1.50
";
    let legacy = "bill/BillingPeriodStartDate,bill/PayerAccountId,bill/BillingEntity,lineItem/LegalEntity,\
lineItem/LineItemType,lineItem/UsageStartDate,lineItem/ProductCode,lineItem/CurrencyCode,lineItem/UnblendedCost
2025-03-01T00:00:00Z,999988887777,AWS,Amazon Web Services EMEA SARL,Usage,2025-03-01T00:00:00Z,AmazonS3,EUR,3.00
2025-03-01T00:00:00Z,999988887777,AWS Marketplace,Vendor GmbH,Usage,2025-03-01T00:00:00Z,prod-q,EUR,40.00
";
    let azure = "BillingAccountId,BillingPeriodStartDate,SubscriptionId,Date,MeterCategory,ChargeType,\
CostInBillingCurrency,BillingCurrencyCode,PublisherType,PublisherName
8611537,3/1/2025,sub-1,3/1/2025,Virtual Machines,Usage,7.00,USD,Azure,Microsoft
8611537,3/1/2025,sub-1,3/1/2025,SaaS,Purchase,99.00,USD,Marketplace,Contoso Firewall Ltd
";
    let gcp = [
        gcp_row(
            GCP_USD,
            "Compute Engine",
            "2025-03-01 00:00:00",
            "5.0",
            &[],
            r#","invoice":{"month":"202503","publisher_type":"GOOGLE"}"#,
        ),
        gcp_row(GCP_USD, "BigQuery", "2025-03-01 00:00:00", "1.25", &[], ""),
        gcp_row(
            GCP_USD,
            "Elastic Cloud",
            "2025-03-01 00:00:00",
            "60.0",
            &["-10.0"],
            r#","invoice":{"month":"202503","publisher_type":"PARTNER"},"seller_name":"Elasticsearch Inc.""#,
        ),
    ]
    .concat();
    let focus =
        "BilledCost,EffectiveCost,ListCost,BillingCurrency,ChargePeriodStart,BillingPeriodStart,ChargeCategory,\
ProviderName,BillingAccountId,ServiceName,PublisherName,InvoiceIssuerName
4.00,4.00,4.00,USD,2025-03-01T00:00:00Z,2025-03-01T00:00:00Z,Usage,Google Cloud,focus-1,Cloud Storage,Google,Google
30.00,30.00,30.00,USD,2025-03-01T00:00:00Z,2025-03-01T00:00:00Z,Usage,Google Cloud,focus-1,Redis Cloud,Redis Ltd,Google
2.00,2.00,2.00,USD,2025-03-01T00:00:00Z,2025-03-01T00:00:00Z,Usage,Google Cloud,focus-1,Pub/Sub,,Google
";
    for ts in stores().await {
        let files = [
            write(&ts.path("cur2.csv"), cur2),
            write(&ts.path("legacy.csv"), legacy),
            write(&ts.path("azure/ActualCost/part_0_0001.csv"), azure),
            write(&ts.path("azure/AmortizedCost/part_0_0001.csv"), azure),
            write(&ts.path("gcp.jsonl"), gcp.as_bytes()),
            write(&ts.path("focus.csv"), focus),
        ];
        for file in &files[..2] {
            ts.ingest(&[file]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        }
        ts.ingest(&[&ts.path("azure")]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        for file in &files[4..] {
            ts.ingest(&[file]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        }
        let mut totals = ts.marketplace_totals().await;
        totals.sort();
        assert_eq!(
            totals,
            [
                "aws:111122223333 USD [AWS Marketplace] 1500000000 1500000000",
                "aws:111122223333 USD [Acme Observability Inc.] 270250000000 270250000000",
                "aws:111122223333 USD [] 10000000000 10000000000",
                "aws:999988887777 EUR [Vendor GmbH] 40000000000 40000000000",
                "aws:999988887777 EUR [] 3000000000 3000000000",
                "google-cloud:01ABCD-234567-89EFGH USD [Elasticsearch Inc.] 50000000000 50000000000",
                "google-cloud:01ABCD-234567-89EFGH USD [] 6250000000 6250000000",
                "google-cloud:focus-1 USD [Redis Ltd] 30000000000 30000000000",
                "google-cloud:focus-1 USD [] 6000000000 6000000000",
                "microsoft:8611537 USD [Contoso Firewall Ltd] 99000000000 99000000000",
                "microsoft:8611537 USD [] 7000000000 7000000000",
            ],
            "{}",
            ts.engine
        );
        ts.cleanup().await;
    }
}
