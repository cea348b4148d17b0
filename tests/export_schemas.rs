//! Exports as the clouds write them, on SQLite and PostgreSQL: every schema version is told
//! from its header, empty descriptions take their format's fallback (counted in the ledger),
//! null tokens mean missing, and only what money depends on refuses a file.

mod common;

use common::{stores, write};
use finopsd::ingest::{IngestError, Position};
use polars::prelude::*;

/// A header-only file of each schema version, and the mapping its header must select.
const SCHEMA_HEADERS: [(&str, &str); 17] = [
    (
        "focus-1.0-preview",
        "BilledCost,EffectiveCost,ListCost,BillingCurrency,ChargePeriodStart,BillingPeriodStart,ChargeCategory,ChargeSubcategory,ProviderName,BillingAccountId,ServiceName,Region,UsageQuantity",
    ),
    (
        "focus-1.0-preview",
        "AvailabilityZone,BilledCost,BillingAccountId,BillingCurrency,BillingPeriodStart,ChargeCategory,ChargePeriodStart,ChargeSubCategory,EffectiveCost,InvoiceIssuer,ListCost,Provider,Publisher,Region,ServiceName,Tags,UsageQuantity,x_oci_CompartmentId",
    ),
    (
        "focus-1.0",
        "BilledCost,EffectiveCost,ListCost,ContractedCost,BillingCurrency,ChargePeriodStart,BillingPeriodStart,ChargeCategory,ChargeClass,ProviderName,BillingAccountId,ServiceName,RegionId",
    ),
    (
        "focus-1.1",
        "BilledCost,EffectiveCost,ListCost,BillingCurrency,ChargePeriodStart,BillingPeriodStart,ChargeCategory,ProviderName,BillingAccountId,ServiceName,ServiceSubcategory",
    ),
    (
        "focus-1.2",
        "BilledCost,EffectiveCost,ListCost,BillingCurrency,ChargePeriodStart,BillingPeriodStart,ChargeCategory,ProviderName,BillingAccountId,ServiceName,ServiceSubcategory,InvoiceId",
    ),
    (
        "focus-1.3",
        "BilledCost,EffectiveCost,ListCost,BillingCurrency,ChargePeriodStart,BillingPeriodStart,ChargeCategory,ServiceProviderName,HostProviderName,BillingAccountId,ServiceName,ServiceSubcategory,InvoiceId",
    ),
    (
        "aws-cur-legacy",
        "identity/LineItemId,bill/PayerAccountId,bill/BillingPeriodStartDate,lineItem/UsageStartDate,lineItem/LineItemType,lineItem/ProductCode,lineItem/CurrencyCode,lineItem/UnblendedCost",
    ),
    (
        "aws-cur-2.0",
        "identity_line_item_id,bill_payer_account_id,bill_billing_period_start_date,line_item_usage_start_date,line_item_line_item_type,line_item_product_code,line_item_currency_code,line_item_unblended_cost",
    ),
    (
        "azure-ea",
        "BillingAccountId,SubscriptionId,Date,MeterCategory,ChargeType,CostInBillingCurrency,BillingCurrencyCode,BillingPeriodStartDate,PayGPrice,PartNumber",
    ),
    (
        "azure-ea",
        "\u{feff}BillingAccountId,BillingPeriodStartDate,SubscriptionId,Date,Product,PartNumber,MeterCategory,Cost,BillingCurrency,ChargeType,PayGPrice",
    ),
    (
        "azure-mca",
        "billingAccountId,subscriptionId,date,meterCategory,chargeType,costInBillingCurrency,billingCurrency,billingPeriodStartDate,paygCostInBillingCurrency",
    ),
    (
        "azure-mca-partner",
        "partnerName,customerTenantId,customerName,SubscriptionId,date,meterCategory,chargeType,costInBillingCurrency,billingCurrency,billingPeriodStartDate",
    ),
    ("azure-usage-legacy", "SubscriptionGuid,UsageDateTime,MeterCategory,PreTaxCost,Currency,ResourceLocation"),
    (
        "azure-usage-legacy",
        "Abonnement-GUID (SubscriptionGuid),UsageDateTime (UsageDateTime),Kategorie der Verbrauchseinheit (MeterCategory),PreTaxCost (PreTaxCost),Currency",
    ),
    (
        "gcp-billing-export",
        "billing_account_id,service.description,usage_start_time,cost,currency,invoice.month,cost_type,credits",
    ),
    (
        "gcp-billing-export-detailed",
        "billing_account_id,service.description,usage_start_time,cost,currency,invoice.month,cost_type,credits,resource.name",
    ),
    (
        "oracle-cost-report",
        "lineItem/referenceNo,lineItem/tenantId,lineItem/intervalUsageStart,product/service,cost/myCost,cost/currencyCode,lineItem/isCorrection",
    ),
];

#[tokio::test]
async fn every_schema_version_is_told_from_its_header_and_an_empty_export_is_no_error() {
    for ts in stores().await {
        for (index, (format, header)) in SCHEMA_HEADERS.iter().enumerate() {
            let file = write(&ts.path(&format!("schema-{index}.csv")), format!("{header}\r\n"));
            let report = ts.ingest(&[&file]).await.unwrap_or_else(|e| panic!("{}: {format}: {e}", ts.engine));
            assert_eq!(report.run.files[0].format, *format, "{}: header {header}", ts.engine);
            assert_eq!(report.run.line_items, 0);
        }
        assert!(ts.facts().await.is_empty());
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn an_unknown_header_names_the_closest_format_and_what_it_lacks_at_line_1() {
    for ts in stores().await {
        let file = write(&ts.path("odd.csv"), "BilledCost,EffectiveCost,Currency,Day\n1,1,USD,2025-03-01\n");
        match ts.ingest(&[&file]).await {
            Err(IngestError::BadInput(bad)) => {
                assert_eq!(bad.position, Some(Position::Header), "{bad}");
                assert!(bad.problem.contains("closest known format is focus-"), "{bad}");
                assert!(bad.problem.contains("ChargePeriodStart"), "{bad}");
                assert!(bad.to_string().contains("line 1 (the header)"), "{bad}");
            }
            other => panic!("{}: an unknown header was accepted: {other:?}", ts.engine),
        }
        ts.cleanup().await;
    }
}

/// FOCUS 1.0 as the FinOps Foundation's sample data writes it: missing values as `NULL`.
const FOCUS_WITH_NULLS: &str = "BilledCost,EffectiveCost,ListCost,BillingCurrency,ChargePeriodStart,BillingPeriodStart,\
ChargeCategory,ProviderName,PublisherName,InvoiceIssuerName,BillingAccountId,SubAccountId,ServiceName,RegionId,\
AvailabilityZone,CommitmentDiscountId,Tags
12.50,12.50,NULL,USD,2024-09-01T00:00:00Z,2024-09-01T00:00:00Z,Usage,AWS,AWS,AWS,111,NULL,AmazonEC2,NULL,NULL,NULL,NULL
7.25,7.25,8.00,USD,2024-09-02T00:00:00Z,2024-09-01T00:00:00Z,Usage,Microsoft,Microsoft,Microsoft,222,sub-1,Storage,eastus,\"NULL\",NULL,\"{\"\"team\"\":\"\"checkout\"\"}\"
1.00,1.00,1.00,USD,2024-09-02T00:00:00Z,2024-09-01T00:00:00Z,Tax,NULL,Oracle,Oracle,333,NULL,NULL,NULL,NULL,NULL,NULL
2.00,2.00,2.00,USD,2024-09-03T00:00:00Z,2024-09-01T00:00:00Z,Usage,Oracle,Oracle,Oracle,333,NULL,Compute,NULL,NULL,NULL,NULL
";

#[tokio::test]
async fn null_tokens_in_a_focus_file_mean_missing_values() {
    for ts in stores().await {
        let file = write(&ts.path("focus-sample.csv"), FOCUS_WITH_NULLS);
        let report = ts.ingest(&[&file]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_eq!(report.run.files[0].format, "focus-1.0");
        assert_eq!(
            ts.billed_totals().await,
            vec![
                "aws:111 2024-09 USD 12500000000",
                "microsoft:222 2024-09 USD 7250000000",
                "oracle:333 2024-09 USD 3000000000"
            ],
            "{}",
            ts.engine
        );
        let facts = ts.facts().await;
        // No region, sub-account or tags were stored as the text NULL; ListCost NULL is 0.
        assert!(facts.iter().all(|f| !f.contains("NULL")), "{}: {facts:?}", ts.engine);
        assert!(facts.iter().any(|f| f.contains(r#"{"team":"checkout"}"#)), "{facts:?}");
        // The tax row names neither a provider nor a service: the invoice issuer (a provider
        // another row states) and the publisher describe it, and the ledger counts both.
        assert!(facts.iter().any(|f| f.starts_with("oracle:333|") && f.contains("|Oracle|")), "{facts:?}");
        let fallbacks: Vec<String> =
            report.run.fallbacks.iter().map(|f| format!("{} {} {}", f.column, f.source, f.line_items)).collect();
        assert_eq!(fallbacks, vec!["ProviderName InvoiceIssuerName 1", "ServiceName PublisherName 1"]);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_null_token_where_money_is_required_still_refuses_the_file() {
    for ts in stores().await {
        let bad = FOCUS_WITH_NULLS.replacen("7.25,7.25,8.00", "NULL,7.25,8.00", 1);
        let file = write(&ts.path("null-cost.csv"), bad);
        match ts.ingest(&[&file]).await {
            Err(IngestError::BadInput(bad)) => {
                assert_eq!(bad.position, Some(Position::Row { line: 3, row: 2 }), "{bad}");
                assert_eq!(bad.column.as_deref(), Some("BilledCost"), "{bad}");
            }
            other => panic!("{}: a NULL cost was accepted: {other:?}", ts.engine),
        }
        assert!(ts.facts().await.is_empty());
        ts.cleanup().await;
    }
}

/// An MCA invoice month: usage, a rounding adjustment without any meter fields, a row whose
/// meter category is empty but whose consumed service is not, and rows that leave the
/// billing period empty.
const MCA_MONTH: &str = "\u{feff}billingAccountId,billingAccountName,billingPeriodStartDate,date,subscriptionId,\
meterCategory,consumedService,ProductName,publisherName,chargeType,costInBillingCurrency,paygCostInBillingCurrency,\
billingCurrency,tags\r
acct-1,Contoso,2025-03-01,03/02/2025,sub-1,Virtual Machines,Microsoft.Compute,D2s v3,Microsoft,Usage,10.5,12,EUR,\"{\"\"team\"\":\"\"search\"\"}\"\r
acct-1,Contoso,2025-03-01,03/31/2025,,,,,,RoundingAdjustment,-0.0042,,EUR,\r
acct-1,Contoso,,03/15/2025,sub-1,,Microsoft.Storage,,Microsoft,Usage,2.25,2.25,EUR,\r
acct-1,Contoso,,03/16/2025,sub-1,,,,,Usage,1,1,EUR,\r
";

#[tokio::test]
async fn azure_rows_without_a_meter_or_billing_period_take_their_fallbacks_and_are_counted() {
    for ts in stores().await {
        let file = write(&ts.path("mca.csv"), MCA_MONTH);
        let report = ts.ingest(&[&file]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_eq!(report.run.files[0].format, "azure-mca");
        assert_eq!(ts.billed_totals().await, vec!["microsoft:acct-1 2025-03 EUR 13745800000"], "{}", ts.engine);
        let services = common::query_strings(&ts.url, "SELECT DISTINCT service_name FROM cost_facts ORDER BY 1").await;
        assert_eq!(services, vec!["(unknown)", "Microsoft.Storage", "RoundingAdjustment", "Virtual Machines"]);
        let ledger = ts.store.ingest_runs(1).await.unwrap();
        let fallbacks: Vec<String> =
            ledger[0].fallbacks.iter().map(|f| format!("{} {} {}", f.column, f.source, f.line_items)).collect();
        assert_eq!(
            fallbacks,
            vec![
                "BillingPeriodStart date 2",
                "ServiceName chargeType 1",
                "ServiceName consumedService 1",
                "ServiceName value \"(unknown)\" 1",
            ],
            "{}",
            ts.engine
        );
        ts.cleanup().await;
    }
}

/// A FOCUS Parquet file whose BilledCost column is text, as some converters write it.
fn focus_parquet_with_text_cost(path: &std::path::Path, billed: &[&str]) {
    let rows = billed.len();
    let text = |value: &str| Column::new("".into(), vec![value; rows]);
    let mut frame = DataFrame::new(
        rows,
        vec![
            Column::new("BilledCost".into(), billed.to_vec()),
            Column::new("EffectiveCost".into(), vec![1.0f64; rows]),
            Column::new("ListCost".into(), vec![1.0f64; rows]),
            text("USD").with_name("BillingCurrency".into()),
            text("2025-03-01T00:00:00Z").with_name("ChargePeriodStart".into()),
            text("2025-03-01T00:00:00Z").with_name("BillingPeriodStart".into()),
            text("Usage").with_name("ChargeCategory".into()),
            text("AWS").with_name("ProviderName".into()),
            text("111").with_name("BillingAccountId".into()),
            text("AmazonEC2").with_name("ServiceName".into()),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    ParquetWriter::new(file).finish(&mut frame).unwrap();
}

#[tokio::test]
async fn parquet_cost_written_as_text_is_read_exactly_and_said_so() {
    for ts in stores().await {
        let file = ts.path("text-cost.parquet");
        focus_parquet_with_text_cost(&file, &["0.1", "0.2", " 5.6E-05"]);
        let report = ts.ingest(&[&file]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_eq!(ts.billed_totals().await, vec!["aws:111 2025-03 USD 300056000"], "{}", ts.engine);
        assert!(report.warnings.iter().any(|w| w.contains("column BilledCost holds text")), "{:?}", report.warnings);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn parquet_cost_text_that_is_not_a_number_refuses_the_file_naming_the_column() {
    for ts in stores().await {
        let file = ts.path("bad-text-cost.parquet");
        focus_parquet_with_text_cost(&file, &["0.1", "twelve"]);
        match ts.ingest(&[&file]).await {
            Err(IngestError::BadInput(bad)) => {
                assert_eq!(bad.column.as_deref(), Some("BilledCost"), "{bad}");
                assert!(bad.problem.contains("row 2") && bad.problem.contains("twelve"), "{bad}");
            }
            other => panic!("{}: a text cost that is no number was accepted: {other:?}", ts.engine),
        }
        assert!(ts.facts().await.is_empty());
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_refusal_in_a_crlf_file_names_its_physical_line() {
    for ts in stores().await {
        let bad = MCA_MONTH.replacen("Usage,1,1,EUR", "Usage,one,1,EUR", 1);
        let file = write(&ts.path("mca-bad.csv"), bad);
        match ts.ingest(&[&file]).await {
            Err(IngestError::BadInput(bad)) => {
                assert_eq!(bad.position, Some(Position::Row { line: 5, row: 4 }), "{bad}");
                assert_eq!(bad.column.as_deref(), Some("costInBillingCurrency"), "{bad}");
            }
            other => panic!("{}: a cost that is no number was accepted: {other:?}", ts.engine),
        }
        ts.cleanup().await;
    }
}

/// One small export per format whose descriptions are left empty, the services it must store
/// and the fallbacks the ledger must count (`column source line_items`).
struct FallbackCase {
    name: &'static str,
    csv: &'static str,
    services: &'static [&'static str],
    fallbacks: &'static [&'static str],
}

const FALLBACK_CASES: [FallbackCase; 6] = [
    FallbackCase {
        name: "cur2.csv",
        csv:
            "bill_payer_account_id,bill_billing_period_start_date,line_item_usage_start_date,line_item_line_item_type,\
line_item_product_code,product_servicecode,line_item_currency_code,line_item_unblended_cost
111,2025-03-01T00:00:00Z,2025-03-02T00:00:00Z,Usage,AmazonEC2,AmazonEC2,USD,1
111,,2025-03-02T00:00:00Z,Tax,,AWSDataTransfer,USD,0.5
111,2025-03-01T00:00:00Z,2025-03-03T00:00:00Z,Credit,,,USD,-0.25
",
        services: &["(unknown)", "AWSDataTransfer", "AmazonEC2"],
        fallbacks: &[
            "BillingPeriodStart line_item_usage_start_date 1",
            "ServiceName product_servicecode 1",
            "ServiceName value \"(unknown)\" 1",
        ],
    },
    FallbackCase {
        name: "cur-legacy.csv",
        csv: "bill/PayerAccountId,bill/BillingPeriodStartDate,lineItem/UsageStartDate,lineItem/LineItemType,\
lineItem/ProductCode,product/ProductName,lineItem/CurrencyCode,lineItem/UnblendedCost
111,2025-03-01T00:00:00Z,2025-03-02T00:00:00Z,Usage,,Amazon Elastic Compute Cloud,USD,2
",
        services: &["Amazon Elastic Compute Cloud"],
        fallbacks: &["ServiceName product/ProductName 1"],
    },
    FallbackCase {
        name: "gcp-2019.csv",
        csv: "billing_account_id,service.id,service.description,usage_start_time,cost,currency,credits
0A-1,6F81,,2019-06-30 23:00:00+00:00,3,USD,\"[{\"\"amount\"\":-1}]\"
0A-1,6F81,Compute Engine,2019-07-01 01:00:00+00:00,2,USD,[]
",
        services: &["6F81", "Compute Engine"],
        fallbacks: &[
            "BillingPeriodStart usage_start_time 2",
            "ChargeCategory value \"regular\" 2",
            "ServiceName service.id 1",
        ],
    },
    FallbackCase {
        name: "oci.csv",
        csv: "lineItem/tenantId,lineItem/intervalUsageStart,product/service,product/Description,cost/myCost,\
cost/currencyCode,lineItem/isCorrection
ocid1.tenancy,2023-11-13T10:00Z,,Oracle APEX,0.5,USD,false
ocid1.tenancy,2023-11-13T11:00Z,,,0.25,USD,
",
        services: &["(unknown)", "Oracle APEX"],
        fallbacks: &[
            "ChargeCategory value \"false\" 1",
            "ServiceName product/Description 1",
            "ServiceName value \"(unknown)\" 1",
        ],
    },
    FallbackCase {
        name: "azure-usage.csv",
        csv: "SubscriptionGuid,UsageDateTime,MeterCategory,ServiceName,ConsumedService,PreTaxCost,Currency
sub-1,2019-07-29 00:00:00,,Bandwidth,Microsoft.Compute,0.5,USD
sub-1,2019-07-29 00:00:00,Storage,Storage,Microsoft.Storage,0.25,USD
",
        services: &["Bandwidth", "Storage"],
        fallbacks: &["ServiceName ServiceName 1"],
    },
    FallbackCase {
        name: "azure-partner.csv",
        csv: "partnerName,customerTenantId,customerName,billingAccountName,SubscriptionId,date,billingPeriodStartDate,\
meterCategory,chargeType,costInBillingCurrency,billingCurrency
Partner,tenant-1,Customer One,,sub-1,02/02/2021,02/01/2021,Virtual Network,Usage,0.012,USD
",
        services: &["Virtual Network"],
        // The customer's name stands in for the account name; names are not counted.
        fallbacks: &[],
    },
];

#[tokio::test]
async fn each_formats_empty_descriptions_take_its_documented_fallbacks() {
    for ts in stores().await {
        for case in &FALLBACK_CASES {
            let file = write(&ts.path(case.name), case.csv);
            let report = ts.ingest(&[&file]).await.unwrap_or_else(|e| panic!("{}: {}: {e}", ts.engine, case.name));
            let source = &report.run.reconciliation[0].source;
            let services = common::query_strings(
                &ts.url,
                &format!("SELECT DISTINCT service_name FROM cost_facts WHERE source = '{source}' ORDER BY 1"),
            )
            .await;
            assert_eq!(services, case.services, "{}: {}", ts.engine, case.name);
            let fallbacks: Vec<String> =
                report.run.fallbacks.iter().map(|f| format!("{} {} {}", f.column, f.source, f.line_items)).collect();
            assert_eq!(fallbacks, case.fallbacks, "{}: {}", ts.engine, case.name);
        }
        let sources = common::query_strings(&ts.url, "SELECT DISTINCT source FROM billing_periods ORDER BY 1").await;
        assert!(sources.contains(&"microsoft:tenant-1".to_string()), "{}: {sources:?}", ts.engine);
        assert!(sources.contains(&"oracle:ocid1.tenancy".to_string()), "{}: {sources:?}", ts.engine);
        let names = common::query_strings(
            &ts.url,
            "SELECT DISTINCT billing_account_name FROM cost_facts WHERE source = 'microsoft:tenant-1'",
        )
        .await;
        assert_eq!(names, vec!["Customer One"], "{}", ts.engine);
        // A fixed fallback value is read through the format's value table, as the column's own.
        let categories = common::query_strings(
            &ts.url,
            "SELECT DISTINCT charge_category FROM cost_facts WHERE provider IN ('Google Cloud', 'Oracle')",
        )
        .await;
        assert_eq!(categories, vec!["Usage"], "{}", ts.engine);
        ts.cleanup().await;
    }
}

/// The CUR 2.0 fallback case above as Parquet, the way Data Exports types it: dates are
/// timestamps, the row without a billing period is null there.
fn cur2_fallback_parquet(path: &std::path::Path) {
    let micros = |day: u32| {
        let date = chrono::NaiveDate::from_ymd_opt(2025, 3, day).unwrap();
        date.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_micros()
    };
    let timestamps = |name: &str, days: [Option<u32>; 3]| {
        Column::new(name.into(), days.map(|day| day.map(micros)).to_vec())
            .cast(&DataType::Datetime(TimeUnit::Microseconds, None))
            .unwrap()
    };
    let mut frame = DataFrame::new(
        3,
        vec![
            Column::new("bill_payer_account_id".into(), ["111"; 3].to_vec()),
            timestamps("bill_billing_period_start_date", [Some(1), None, Some(1)]),
            timestamps("line_item_usage_start_date", [Some(2), Some(2), Some(3)]),
            Column::new("line_item_line_item_type".into(), ["Usage", "Tax", "Credit"].to_vec()),
            Column::new("line_item_product_code".into(), [Some("AmazonEC2"), None, None].to_vec()),
            Column::new("product_servicecode".into(), [Some("AmazonEC2"), Some("AWSDataTransfer"), None].to_vec()),
            Column::new("line_item_currency_code".into(), ["USD"; 3].to_vec()),
            Column::new("line_item_unblended_cost".into(), [1.0f64, 0.5, -0.25].to_vec()),
        ],
    )
    .unwrap();
    ParquetWriter::new(std::fs::File::create(path).unwrap()).finish(&mut frame).unwrap();
}

/// A timestamp standing in for the billing period (read as a date, as the column it stands in
/// for) gives the facts and the fallback counts that the CSV's text gives.
#[tokio::test]
async fn a_parquet_timestamp_fallback_stores_what_the_csv_fallback_stores() {
    for ts in stores().await {
        let csv = write(&ts.path("cur2.csv"), FALLBACK_CASES[0].csv);
        let from_csv = ts.ingest(&[&csv]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        let csv_facts = ts.facts().await;
        let parquet = ts.path("cur2.parquet");
        cur2_fallback_parquet(&parquet);
        let from_parquet = ts.ingest(&[&parquet]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_eq!(ts.facts().await, csv_facts, "{}", ts.engine);
        assert_eq!(csv_facts.len(), 3, "{}: {csv_facts:?}", ts.engine);
        let counted = |report: &finopsd::ingest::IngestReport| -> Vec<String> {
            report.run.fallbacks.iter().map(|f| format!("{} {} {}", f.column, f.source, f.line_items)).collect()
        };
        assert_eq!(counted(&from_parquet), counted(&from_csv), "{}", ts.engine);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_fallback_that_would_store_money_in_a_month_or_account_no_other_row_states_is_refused() {
    for ts in stores().await {
        // A March CUR whose refund row lost its billing period and whose usage started in
        // December: storing it there would replace December with this one row.
        let cur = "bill_payer_account_id,bill_billing_period_start_date,line_item_usage_start_date,\
line_item_line_item_type,line_item_product_code,line_item_currency_code,line_item_unblended_cost
111,2025-03-01T00:00:00Z,2025-03-02T00:00:00Z,Usage,AmazonEC2,USD,10
111,,2024-12-20T00:00:00Z,Refund,AmazonEC2,USD,-4
";
        let file = write(&ts.path("cur-refund.csv"), cur);
        match ts.ingest(&[&file]).await {
            Err(IngestError::BadInput(bad)) => {
                assert_eq!(bad.position, Some(Position::Row { line: 3, row: 2 }), "{bad}");
                assert_eq!(bad.column.as_deref(), Some("bill_billing_period_start_date"), "{bad}");
                assert!(bad.problem.contains("2024-12") && bad.problem.contains("2025-03"), "{bad}");
            }
            other => panic!("{}: a refund was filed in a month the file does not state: {other:?}", ts.engine),
        }
        // A FOCUS row without a provider, whose invoice issuer no other row names.
        let focus = FOCUS_WITH_NULLS.lines().take(4).collect::<Vec<_>>().join("\n");
        let file = write(&ts.path("focus-unknown-provider.csv"), focus);
        match ts.ingest(&[&file]).await {
            Err(IngestError::BadInput(bad)) => {
                assert_eq!(bad.column.as_deref(), Some("ProviderName"), "{bad}");
                assert!(bad.problem.contains("Oracle"), "{bad}");
            }
            other => panic!("{}: a provider no row states was made up: {other:?}", ts.engine),
        }
        assert!(ts.facts().await.is_empty());
        ts.cleanup().await;
    }
}
