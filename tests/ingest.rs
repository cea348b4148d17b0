//! Ingest behaviour, on SQLite and PostgreSQL: reconciliation, idempotence, restatement,
//! currencies, tags, accepted CSV variants, and every kind of bad input refused cleanly.

mod common;

use common::{Line, focus_csv, gzip, stores, write};
use finopsd::config::IngestConfig;
use finopsd::ingest::{IngestError, Position};
use finopsd::sample::{ExportEncoding, write_benchmark_export};

fn march(billed: &[(&'static str, &str)]) -> String {
    focus_csv(&billed.iter().map(|(day, cost)| Line::usage(day, cost)).collect::<Vec<_>>())
}

#[tokio::test]
async fn focus_csv_reconciles_to_the_exports_own_totals() {
    for ts in stores().await {
        let file = write(
            &ts.path("march.csv"),
            march(&[("2025-03-01", "10.123456789"), ("2025-03-01", "0.000000001"), ("2025-03-02", "5.5E-03")]),
        );
        let report = ts.ingest(&[&file]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        let line = &report.run.reconciliation[0];
        assert_eq!(line.export.billed_cost.to_string(), "10.12895679", "{}", ts.engine);
        assert_eq!(line.stored.billed_cost, line.export.billed_cost);
        assert!(line.balances());
        assert_eq!(ts.billed_totals().await, vec!["aws:111122223333 2025-03 USD 10128956790"]);
        assert_eq!(report.run.files[0].format, "focus-1.2");
        assert!(report.run.files[0].checksum.starts_with("xxh3-128:"));
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn gzip_and_parquet_exports_read_like_csv() {
    for ts in stores().await {
        let csv = march(&[("2025-03-01", "1.25"), ("2025-03-02", "2.5")]);
        let gz = write(&ts.path("march.csv.gz"), gzip(csv.as_bytes()));
        ts.ingest(&[&gz]).await.unwrap();
        let from_gzip = ts.billed_totals().await;

        let parquet = ts.path("bench.parquet");
        let csv_twin = ts.path("bench.csv");
        write_benchmark_export(&parquet, ExportEncoding::Parquet, 5_000, 7).unwrap();
        write_benchmark_export(&csv_twin, ExportEncoding::Csv, 5_000, 7).unwrap();
        ts.ingest(&[&parquet]).await.unwrap();
        let from_parquet = ts.facts().await;
        ts.ingest(&[&csv_twin]).await.unwrap();
        assert_eq!(ts.facts().await, from_parquet, "{}: Parquet and CSV of the same rows differ", ts.engine);
        assert!(from_gzip.contains(&"aws:111122223333 2025-03 USD 3750000000".to_string()), "{from_gzip:?}");
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn ingesting_the_same_file_twice_changes_nothing() {
    for ts in stores().await {
        let file = write(&ts.path("march.csv"), march(&[("2025-03-01", "10"), ("2025-03-02", "20")]));
        ts.ingest(&[&file]).await.unwrap();
        let first = ts.facts().await;
        ts.ingest(&[&file]).await.unwrap();
        assert_eq!(ts.facts().await, first, "{}", ts.engine);
        assert_eq!(ts.ledger_outcomes().await, vec!["ok", "ok"]);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn restated_export_replaces_the_period() {
    for ts in stores().await {
        let first = write(&ts.path("v1/march.csv"), march(&[("2025-03-01", "10"), ("2025-03-02", "20")]));
        ts.ingest(&[&first]).await.unwrap();
        // The provider rewrites the month: day 2 corrected, day 3 added, day 1 gone.
        let restated = write(&ts.path("v2/march.csv"), march(&[("2025-03-02", "25"), ("2025-03-03", "7")]));
        ts.ingest(&[&restated]).await.unwrap();
        assert_eq!(ts.billed_totals().await, vec!["aws:111122223333 2025-03 USD 32000000000"], "{}", ts.engine);
        assert!(ts.facts().await.iter().all(|f| !f.contains("2025-03-01")), "{}: day 1 survived", ts.engine);
        ts.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingests_of_one_period_never_double_it() {
    for ts in stores().await {
        let a = write(&ts.path("a.csv"), march(&[("2025-03-01", "10"), ("2025-03-02", "10")]));
        let b = write(&ts.path("b.csv"), march(&[("2025-03-01", "7")]));
        let (only_a, only_b) = ([a.as_path()], [b.as_path()]);
        for _ in 0..3 {
            let (first, second) = tokio::join!(ts.ingest(&only_a), ts.ingest(&only_b));
            first.unwrap();
            second.unwrap();
            let totals = ts.billed_totals().await;
            assert!(
                totals == ["aws:111122223333 2025-03 USD 20000000000"]
                    || totals == ["aws:111122223333 2025-03 USD 7000000000"],
                "{}: {totals:?}",
                ts.engine
            );
        }
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn periods_and_accounts_not_in_the_file_are_left_alone() {
    for ts in stores().await {
        let mut other_account = Line::usage("2025-03-05", "3");
        other_account.account = "999988887777";
        let mut february = Line::usage("2025-02-27", "4");
        february.period = "2025-02-01";
        let base = write(&ts.path("a.csv"), focus_csv(&[Line::usage("2025-03-01", "1"), other_account, february]));
        ts.ingest(&[&base]).await.unwrap();
        let march_only = write(&ts.path("b.csv"), march(&[("2025-03-01", "2")]));
        ts.ingest(&[&march_only]).await.unwrap();
        assert_eq!(
            ts.billed_totals().await,
            vec![
                "aws:111122223333 2025-02 USD 4000000000",
                "aws:111122223333 2025-03 USD 2000000000",
                "aws:999988887777 2025-03 USD 3000000000",
            ],
            "{}",
            ts.engine
        );
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn currencies_are_never_summed() {
    for ts in stores().await {
        let mut euro = Line::usage("2025-03-01", "100");
        euro.currency = "EUR";
        let file = write(&ts.path("mixed.csv"), focus_csv(&[Line::usage("2025-03-01", "1"), euro]));
        let report = ts.ingest(&[&file]).await.unwrap();
        let currencies: Vec<&str> = report.run.reconciliation.iter().map(|l| l.currency.as_str()).collect();
        assert_eq!(currencies, vec!["EUR", "USD"]);
        assert_eq!(
            ts.billed_totals().await,
            vec!["aws:111122223333 2025-03 EUR 100000000000", "aws:111122223333 2025-03 USD 1000000000"]
        );
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn only_configured_tag_keys_are_kept_case_insensitively() {
    for ts in stores().await {
        let mut upper = Line::usage("2025-03-01", "1");
        upper.tags = r#"{"TEAM ":"payments","Name":"web-1","env":"prod"}"#;
        let mut lower = Line::usage("2025-03-01", "2");
        lower.tags = r#"{"team":"payments","Name":"web-2"}"#;
        let file = write(&ts.path("tags.csv"), focus_csv(&[upper, lower]));
        let config = IngestConfig { tag_keys: vec!["Team".into()], ..IngestConfig::default() };
        ts.ingest_with(&[&file], &config).await.unwrap();
        let facts = ts.facts().await;
        assert_eq!(facts.len(), 1, "{}: {facts:?}", ts.engine);
        assert!(facts[0].contains(r#"|{"team":"payments"}|3000000000|"#), "{facts:?}");
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn focus_versions_are_detected_from_the_header() {
    for ts in stores().await {
        let v12 = march(&[("2025-03-01", "1")]);
        let v11 = v12.replace(",InvoiceId,", ",x_Invoice,");
        let v10 = v11.replace(",ServiceSubcategory,", ",x_Subcategory,");
        for (name, text, format) in
            [("v10.csv", v10, "focus-1.0"), ("v11.csv", v11, "focus-1.1"), ("v12.csv", v12, "focus-1.2")]
        {
            let file = write(&ts.path(name), text);
            let report = ts.ingest(&[&file]).await.unwrap();
            assert_eq!(report.run.files[0].format, format);
        }
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_folder_is_ingested_as_one_export() {
    for ts in stores().await {
        write(&ts.path("export/part-1.csv"), march(&[("2025-03-01", "1")]));
        write(&ts.path("export/nested/part-2.csv.gz"), gzip(march(&[("2025-03-02", "2")]).as_bytes()));
        write(&ts.path("export/manifest.json"), "{}");
        let report = ts.ingest(&[&ts.path("export")]).await.unwrap();
        assert_eq!(report.run.files.len(), 2);
        assert_eq!(ts.billed_totals().await, vec!["aws:111122223333 2025-03 USD 3000000000"], "{}", ts.engine);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_file_named_twice_counts_once_and_a_copy_is_refused() {
    for ts in stores().await {
        let part = write(&ts.path("export/part-1.csv"), march(&[("2025-03-01", "1")]));
        ts.ingest(&[&ts.path("export"), &part]).await.unwrap();
        assert_eq!(ts.billed_totals().await, vec!["aws:111122223333 2025-03 USD 1000000000"], "{}", ts.engine);
        let copy = write(&ts.path("export/part-2.csv"), march(&[("2025-03-01", "1")]));
        match ts.ingest(&[&ts.path("export")]).await {
            Err(IngestError::BadInput(bad)) => {
                assert_eq!(bad.file, copy);
                assert!(bad.problem.contains("same content"), "{bad}");
            }
            other => panic!("{}: a copied part was accepted: {other:?}", ts.engine),
        }
        assert_eq!(ts.billed_totals().await, vec!["aws:111122223333 2025-03 USD 1000000000"]);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn bom_crlf_and_quoted_newlines_are_valid_csv() {
    for ts in stores().await {
        let mut multiline = Line::usage("2025-03-02", "2");
        // A line break inside a quoted field (between JSON tokens, where it is whitespace).
        multiline.tags = "{\"team\":\n\"payments\"}";
        let text = focus_csv(&[Line::usage("2025-03-01", "1"), multiline]).replace('\n', "\r\n");
        let file = write(&ts.path("windows.csv"), [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat());
        ts.ingest(&[&file]).await.unwrap_or_else(|e| panic!("{}: {e}", ts.engine));
        assert_eq!(ts.billed_totals().await, vec!["aws:111122223333 2025-03 USD 3000000000"]);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn a_header_only_file_is_valid_and_warned_about() {
    for ts in stores().await {
        let file = write(&ts.path("empty.csv"), focus_csv(&[]));
        let report = ts.ingest(&[&file]).await.unwrap();
        assert_eq!(report.run.line_items, 0);
        assert!(report.warnings[0].contains("no rows"), "{:?}", report.warnings);
        assert!(ts.facts().await.is_empty());
        ts.cleanup().await;
    }
}

/// Loads a good month, then offers `bad`; the refusal must name the place and leave the
/// store exactly as it was, with the failure in the ledger.
async fn assert_refused(name: &str, bad: Vec<u8>, expect: impl Fn(&finopsd::ingest::BadInput)) {
    for ts in stores().await {
        let good = write(&ts.path("good.csv"), march(&[("2025-03-01", "10")]));
        ts.ingest(&[&good]).await.unwrap();
        let before = ts.facts().await;
        let file = write(&ts.path(name), &bad);
        match ts.ingest(&[&file]).await {
            Err(IngestError::BadInput(bad)) => {
                assert_eq!(bad.file, file, "{}", ts.engine);
                expect(&bad);
            }
            other => panic!("{}: expected bad input, got {other:?}", ts.engine),
        }
        assert_eq!(ts.facts().await, before, "{}: the store changed", ts.engine);
        assert_eq!(ts.ledger_outcomes().await, vec!["ok", "failed"], "{}", ts.engine);
        ts.cleanup().await;
    }
}

fn row(line: u64, row: u64) -> Option<Position> {
    Some(Position::Row { line, row })
}

fn restated_with(day3: Line) -> Vec<u8> {
    focus_csv(&[Line::usage("2025-03-01", "20"), Line::usage("2025-03-02", "20"), day3]).into_bytes()
}

#[tokio::test]
async fn missing_required_column_is_refused() {
    let text = march(&[("2025-03-01", "1")]).replacen("BillingCurrency,", "Currency,", 1);
    assert_refused("no-currency.csv", text.into_bytes(), |bad| {
        assert_eq!(bad.column.as_deref(), Some("BillingCurrency"));
        assert!(bad.problem.contains("missing"), "{bad}");
    })
    .await;
}

#[tokio::test]
async fn non_numeric_cost_is_refused() {
    let mut line = Line::usage("2025-03-03", "1");
    line.effective = "twelve".into();
    assert_refused("text-cost.csv", restated_with(line), |bad| {
        assert_eq!(bad.position, row(4, 3));
        assert_eq!(bad.column.as_deref(), Some("EffectiveCost"));
        assert!(bad.problem.contains("`twelve` is not a number"), "{bad}");
    })
    .await;
}

#[tokio::test]
async fn invalid_date_is_refused() {
    assert_refused("bad-date.csv", restated_with(Line::usage("2025-02-30", "1")), |bad| {
        assert_eq!(bad.position, row(4, 3));
        assert_eq!(bad.column.as_deref(), Some("ChargePeriodStart"));
        assert!(bad.problem.contains("not a date"), "{bad}");
    })
    .await;
}

#[tokio::test]
async fn truncated_gzip_is_refused() {
    let lines: Vec<Line> = (0..2000).map(|i| Line::usage("2025-03-01", &format!("{i}.5"))).collect();
    let full = gzip(focus_csv(&lines).as_bytes());
    let truncated = full[..full.len() * 2 / 3].to_vec();
    assert_refused("cut.csv.gz", truncated, |bad| {
        assert!(matches!(bad.position, Some(Position::Byte(_))), "{bad}");
        assert!(bad.expected.contains("complete file"), "{bad}");
    })
    .await;
}

#[tokio::test]
async fn row_with_wrong_field_count_is_refused() {
    let mut text = String::from_utf8(restated_with(Line::usage("2025-03-03", "1"))).unwrap();
    text.push_str("1,111122223333,Acme,USD\n");
    assert_refused("short-row.csv", text.into_bytes(), |bad| {
        assert_eq!(bad.position, row(5, 4));
        assert!(bad.problem.contains("has 4 fields"), "{bad}");
    })
    .await;
}

#[tokio::test]
async fn invalid_utf8_is_refused() {
    let mut line = Line::usage("2025-03-03", "1");
    line.service = "Amazon EC2 \u{FFFD}";
    let text = String::from_utf8(restated_with(line)).unwrap();
    let bytes = text.replace('\u{FFFD}', "\u{1}").into_bytes();
    let bytes: Vec<u8> = bytes.into_iter().map(|b| if b == 1 { 0xff } else { b }).collect();
    assert_refused("latin1.csv", bytes, |bad| {
        assert_eq!(bad.position, row(4, 3));
        assert_eq!(bad.column.as_deref(), Some("ServiceName"));
        assert!(bad.problem.contains("UTF-8"), "{bad}");
    })
    .await;
}

#[tokio::test]
async fn unknown_currency_is_refused() {
    let mut line = Line::usage("2025-03-03", "1");
    line.currency = "US$";
    assert_refused("dollar-sign.csv", restated_with(line), |bad| {
        assert_eq!(bad.position, row(4, 3));
        assert_eq!(bad.column.as_deref(), Some("BillingCurrency"));
        assert!(bad.problem.contains("`US$`"), "{bad}");
    })
    .await;
}

#[tokio::test]
async fn empty_required_value_is_refused() {
    let mut line = Line::usage("2025-03-03", "1");
    line.billed = String::new();
    assert_refused("empty-cost.csv", restated_with(line), |bad| {
        assert_eq!(bad.position, row(4, 3));
        assert_eq!(bad.column.as_deref(), Some("BilledCost"));
    })
    .await;
}

#[tokio::test]
async fn malformed_tags_are_refused() {
    let mut line = Line::usage("2025-03-03", "1");
    line.tags = "team=payments";
    assert_refused("tags.csv", restated_with(line), |bad| {
        assert_eq!(bad.position, row(4, 3));
        assert_eq!(bad.column.as_deref(), Some("Tags"));
    })
    .await;
}
