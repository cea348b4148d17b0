//! Real, public billing exports (AWS CUR legacy and 2.0, Azure EA / MCA / pay-as-you-go, Oracle
//! Cloud, GCP, FOCUS 1.2 examples) ingested unchanged, on SQLite and PostgreSQL. The money the
//! store holds is checked against sums this test computes from each file itself, per billing
//! period and currency, exactly (decimal text to integers of 10^-24, never floats), to the cent.
//!
//! The expectations here are deliberately independent of the ingest code: every rule for
//! reading a format (which column is the cost, which date decides the billing period, AWS's
//! amortisation by line item type) is restated below from the providers' documentation.
//!
//! The files live outside the repository (`../shared/realworld`, see its SOURCES.md, or
//! `FINOPSD_REALWORLD_DIR`); without them these tests are skipped, except in CI.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use common::{TestStore, stores};
use finopsd::ingest::IngestReport;
use finopsd::store::{CostDimension, CostQuery};

const DIR_ENV: &str = "FINOPSD_REALWORLD_DIR";

const CUR_LEGACY: &str = "aws/cur-legacy_focus-converters_sample-anonymous-aws-export-dataset.csv";
const CUR_2: &str = "aws/cur2_ola-raji_ha-project-CUR-daily-1-00001.csv";
const AZURE_EA: &str = "azure/ea-costdetails_focus-converters_sample-anonymous-ea-export-dataset.csv";
const AZURE_EA_NO_ROWS: &str = "azure/ea-header-only_finops-toolkit_EA_NoRows.csv";
const AZURE_MCA_CAMEL: &str = "azure/mca-partner-camelcase_opencost_EnterpriseCamel.csv";
const AZURE_GERMAN: &str = "azure/payg-legacy-german-localized-header_opencost_German.csv";
const AZURE_PAYG_BOM: &str = "azure/payg-legacy-usage-bom_koku_costreport_a243c6f2-199f-4074-9a2c-40e671cf1584.csv";
const GCP_DETAILED: &str = "gcp/bq-detailed-export-as-csv_koku_2022-08-01_5.csv";
const GCP_STANDARD_PY_REPR: &str = "gcp/bq-standard-export-as-csv_koku_evidence-2019-06-03.csv";
const GCP_LEGACY_JSON: &str = "gcp/legacy-file-export-json_googlearchive_google-platform-demo-2014-01-15.json";
const OCI: &str = "oci/oci-cost-report_focus-converters_reports_cost-csv_0000000030000269.csv";
const FOCUS_SAAS: &str = "focus/focus-1.2-saas-example_focus-spec_saas_spend_agreements_b2.csv";
const FOCUS_VIRTUAL_CURRENCY: &str =
    "focus/focus-1.2-virtual-currency-example_focus-spec_virtual_currency_pricing_model_b3.csv";

/// How the test reads a file's own money (not how the ingest does).
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// AWS CUR, legacy `lineItem/UnblendedCost` or 2.0 `line_item_unblended_cost` headers.
    Cur,
    /// Azure cost details, any vintage or language: one actual cost column.
    Azure,
    /// Oracle Cloud cost report.
    Oci,
    /// GCP billing export flattened to CSV: cost plus credits.
    GcpCsv,
    /// GCP's 2014 file export: a JSON array of line items.
    GcpLegacyJson,
    /// FOCUS: BilledCost and EffectiveCost as written.
    Focus,
}

/// Every file expected to ingest, with how to read it.
const IN_SCOPE: [(&str, Layout); 11] = [
    (CUR_LEGACY, Layout::Cur),
    (CUR_2, Layout::Cur),
    (AZURE_EA, Layout::Azure),
    (AZURE_EA_NO_ROWS, Layout::Azure),
    (AZURE_MCA_CAMEL, Layout::Azure),
    (AZURE_GERMAN, Layout::Azure),
    (AZURE_PAYG_BOM, Layout::Azure),
    (GCP_DETAILED, Layout::GcpCsv),
    (OCI, Layout::Oci),
    (FOCUS_SAAS, Layout::Focus),
    (FOCUS_VIRTUAL_CURRENCY, Layout::Focus),
];

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn aws_cur_legacy_export_reconciles_to_the_cent() {
    ingests_and_reconciles(CUR_LEGACY, Layout::Cur).await;
}

#[tokio::test]
async fn aws_cur_2_data_export_with_free_tier_credits_reconciles_to_the_cent() {
    ingests_and_reconciles(CUR_2, Layout::Cur).await;
}

#[tokio::test]
async fn azure_ea_cost_details_in_cad_reconcile_to_the_cent() {
    ingests_and_reconciles(AZURE_EA, Layout::Azure).await;
}

#[tokio::test]
async fn azure_ea_header_only_export_ingests_as_an_empty_export() {
    let Some(path) = realworld_file(AZURE_EA_NO_ROWS) else { return };
    let expected = expected_from_file(&path, Layout::Azure);
    assert_eq!(expected.rows, 0, "{AZURE_EA_NO_ROWS} should hold a header and no rows");
    for ts in stores().await {
        let report = ts
            .ingest(&[&path])
            .await
            .unwrap_or_else(|e| panic!("{}: the header-only {AZURE_EA_NO_ROWS} was refused: {e}", ts.engine));
        assert_eq!(report.run.line_items, 0, "{}: {AZURE_EA_NO_ROWS} has no rows", ts.engine);
        let facts = ts.facts().await;
        assert!(facts.is_empty(), "{}: the header-only {AZURE_EA_NO_ROWS} stored facts: {facts:?}", ts.engine);
        ts.cleanup().await;
    }
}

#[tokio::test]
async fn azure_mca_partner_camelcase_export_reconciles_to_the_cent() {
    ingests_and_reconciles(AZURE_MCA_CAMEL, Layout::Azure).await;
}

#[tokio::test]
async fn azure_german_localised_pay_as_you_go_export_reconciles_to_the_cent() {
    ingests_and_reconciles(AZURE_GERMAN, Layout::Azure).await;
}

#[tokio::test]
async fn azure_legacy_pay_as_you_go_usage_with_a_bom_reconciles_to_the_cent() {
    ingests_and_reconciles(AZURE_PAYG_BOM, Layout::Azure).await;
}

#[tokio::test]
async fn gcp_detailed_export_dumped_as_csv_reconciles_to_the_cent() {
    ingests_and_reconciles(GCP_DETAILED, Layout::GcpCsv).await;
}

#[tokio::test]
async fn oracle_cloud_cost_report_reconciles_to_the_cent() {
    ingests_and_reconciles(OCI, Layout::Oci).await;
}

#[tokio::test]
async fn focus_1_2_saas_spend_agreement_example_reconciles_every_month_to_the_cent() {
    ingests_and_reconciles(FOCUS_SAAS, Layout::Focus).await;
}

#[tokio::test]
async fn focus_1_2_virtual_currency_example_reconciles_to_the_cent() {
    ingests_and_reconciles(FOCUS_VIRTUAL_CURRENCY, Layout::Focus).await;
}

#[tokio::test]
async fn gcp_legacy_json_file_export_is_refused_cleanly_or_reconciles() {
    refused_cleanly_or_reconciles(GCP_LEGACY_JSON, Layout::GcpLegacyJson).await;
}

#[tokio::test]
async fn gcp_standard_export_with_python_repr_credits_is_refused_cleanly_or_reconciles() {
    refused_cleanly_or_reconciles(GCP_STANDARD_PY_REPR, Layout::GcpCsv).await;
}

/// Every in-scope file, each as its own run (as they would arrive), into one store: each
/// source's money sits beside the others' and no file's periods replace another's. Then every
/// file again, one by one and all in one run: nothing changes.
#[tokio::test]
async fn every_source_side_by_side_in_one_store_keeps_each_currency_total_and_reingesting_changes_nothing() {
    let Some(dir) = realworld_dir() else { return };
    let files: Vec<(&str, PathBuf, Expected)> = IN_SCOPE
        .iter()
        .map(|&(name, layout)| {
            let path = file_in(&dir, name);
            let expected = expected_from_file(&path, layout);
            (name, path, expected)
        })
        .collect();
    let mut together = Expected::default();
    for (_, _, expected) in &files {
        together.add(expected);
    }
    let label = "all in-scope files together";
    for ts in stores().await {
        for (name, path, expected) in &files {
            let report = ingest_ok(&ts, name, path).await;
            check_report(&ts, name, &report, expected);
        }
        assert_store_holds(&ts, label, &together).await;
        let first = ts.facts().await;

        for (name, path, _) in &files {
            ingest_ok(&ts, name, path).await;
            let again = ts.facts().await;
            assert!(
                again == first,
                "{}: ingesting {name} a second time changed the store:\n{}",
                ts.engine,
                snapshot_difference(&first, &again)
            );
        }
        let all: Vec<&Path> = files.iter().map(|(_, path, _)| path.as_path()).collect();
        ts.ingest(&all).await.unwrap_or_else(|e| panic!("{}: ingesting every file in one run failed: {e}", ts.engine));
        let again = ts.facts().await;
        assert!(
            again == first,
            "{}: ingesting every file again in one run changed the store:\n{}",
            ts.engine,
            snapshot_difference(&first, &again)
        );
        assert_store_holds(&ts, label, &together).await;
        ts.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------------
// What each test does
// ---------------------------------------------------------------------------------------------

/// Ingests `name` unchanged on every engine; the store must hold the file's own sums per
/// billing period and currency, and a second ingest of the same file must change nothing.
async fn ingests_and_reconciles(name: &str, layout: Layout) {
    let Some(path) = realworld_file(name) else { return };
    let expected = expected_from_file(&path, layout);
    assert!(expected.rows > 0, "{name}: the test read no rows from the file");
    for ts in stores().await {
        let report = ingest_ok(&ts, name, &path).await;
        check_report(&ts, name, &report, &expected);
        assert_store_holds(&ts, name, &expected).await;

        let first = ts.facts().await;
        ingest_ok(&ts, name, &path).await;
        let again = ts.facts().await;
        assert!(
            again == first,
            "{}: ingesting {name} a second time changed the store:\n{}",
            ts.engine,
            snapshot_difference(&first, &again)
        );
        ts.cleanup().await;
    }
}

/// A file the ingest need not support: refused as bad input naming the file, with nothing
/// stored, or ingested and reconciled like any other.
async fn refused_cleanly_or_reconciles(name: &str, layout: Layout) {
    let Some(path) = realworld_file(name) else { return };
    let expected = expected_from_file(&path, layout);
    assert!(expected.rows > 0, "{name}: the test read no rows from the file");
    let file_name = path.file_name().expect("a file name").to_string_lossy().into_owned();
    for ts in stores().await {
        match ts.ingest(&[&path]).await {
            Ok(report) => {
                check_report(&ts, name, &report, &expected);
                assert_store_holds(&ts, name, &expected).await;
            }
            Err(e) => {
                let message = e.to_string();
                eprintln!("{}: {name} was refused (allowed): {message}", ts.engine);
                assert!(e.is_bad_input(), "{}: {name} was refused, but not as bad input: {e:?}", ts.engine);
                assert!(
                    message.contains(&file_name),
                    "{}: the refusal of {name} does not name the file `{file_name}`: {message}",
                    ts.engine
                );
                let facts = ts.facts().await;
                assert!(facts.is_empty(), "{}: {name} was refused but facts were stored: {facts:?}", ts.engine);
            }
        }
        ts.cleanup().await;
    }
}

async fn ingest_ok(ts: &TestStore, name: &str, path: &Path) -> IngestReport {
    ts.ingest(&[path]).await.unwrap_or_else(|e| panic!("{}: ingesting the real export {name} failed: {e}", ts.engine))
}

/// Every line item of the file was read, and the ingest's own reconciliation balances.
fn check_report(ts: &TestStore, name: &str, report: &IngestReport, expected: &Expected) {
    assert_eq!(
        report.run.line_items, expected.rows as i64,
        "{}: {name} has {} rows, the ingest read {} line items",
        ts.engine, expected.rows, report.run.line_items
    );
    for line in &report.run.reconciliation {
        assert!(line.balances(), "{}: {name}: the ingest's own reconciliation does not balance: {line:?}", ts.engine);
    }
}

// ---------------------------------------------------------------------------------------------
// The store's side: totals per billing period and currency through `Store::costs`
// ---------------------------------------------------------------------------------------------

/// Money is kept here in units of 10^-24: exact for every value in these files.
const SCALE: i32 = 24;
/// One stored nano-unit in test units.
const NANO: i128 = 10i128.pow((SCALE - 9) as u32);
/// The tolerance: one cent of the currency.
const CENT: i128 = 10i128.pow((SCALE - 2) as u32);

/// (billing period `YYYY-MM`, currency)
type Key = (String, String);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sums {
    billed: i128,
    effective: i128,
}

impl Sums {
    /// A format with one cost column: it is both what was billed and the effective cost.
    fn same(money: i128) -> Sums {
        Sums { billed: money, effective: money }
    }

    fn add(&mut self, other: Sums) {
        self.billed += other.billed;
        self.effective += other.effective;
    }
}

/// What a file says: its sums per billing period and currency, and its row count.
#[derive(Debug, Default)]
struct Expected {
    sums: BTreeMap<Key, Sums>,
    rows: usize,
}

impl Expected {
    fn add_line(&mut self, period: String, currency: String, line: Sums) {
        self.sums.entry((period, currency)).or_default().add(line);
        self.rows += 1;
    }

    fn add(&mut self, other: &Expected) {
        for (key, sums) in &other.sums {
            self.sums.entry(key.clone()).or_default().add(*sums);
        }
        self.rows += other.rows;
    }
}

/// Billed and effective cost per billing period and currency, as the store's cost query sums
/// them (in test units), over every charge date a fact can have (a misread year included).
async fn stored_sums(ts: &TestStore) -> BTreeMap<Key, Sums> {
    let query = CostQuery {
        from: NaiveDate::from_ymd_opt(1, 1, 1).expect("a date"),
        to: NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date"),
        group_by: vec![CostDimension::BillingPeriod],
    };
    let rows = ts.store.costs(&query).await.unwrap_or_else(|e| panic!("{}: the cost query failed: {e}", ts.engine));
    let mut sums: BTreeMap<Key, Sums> = BTreeMap::new();
    for row in rows {
        let period = row.keys.first().expect("one key per dimension").clone();
        sums.entry((period, row.currency)).or_default().add(Sums {
            billed: row.totals.billed_cost.nanos() * NANO,
            effective: row.totals.effective_cost.nanos() * NANO,
        });
    }
    sums
}

/// The store holds `expected`'s billed and effective cost within a cent, per billing period
/// and currency and per currency overall, and no period or currency the file does not have.
async fn assert_store_holds(ts: &TestStore, label: &str, expected: &Expected) {
    let stored = stored_sums(ts).await;
    let mut problems = Vec::new();
    let keys: BTreeSet<&Key> = expected.sums.keys().chain(stored.keys()).collect();
    for key in &keys {
        let (period, currency) = key;
        match (expected.sums.get(*key), stored.get(*key)) {
            (Some(want), Some(have)) => compare(&mut problems, &format!("billing period {period}, {currency}"), *want, *have),
            (Some(want), None) => problems.push(format!(
                "billing period {period}, {currency}: nothing stored; the file has billed {} effective {}",
                show(want.billed),
                show(want.effective)
            )),
            (None, Some(have)) => problems.push(format!(
                "billing period {period}, {currency}: stored billed {} effective {}, but the file has no such period and currency",
                show(have.billed),
                show(have.effective)
            )),
            (None, None) => unreachable!(),
        }
    }
    let per_currency = |sums: &BTreeMap<Key, Sums>| {
        let mut totals: BTreeMap<String, Sums> = BTreeMap::new();
        for ((_, currency), s) in sums {
            totals.entry(currency.clone()).or_default().add(*s);
        }
        totals
    };
    let (want_totals, have_totals) = (per_currency(&expected.sums), per_currency(&stored));
    for currency in want_totals.keys().chain(have_totals.keys()).collect::<BTreeSet<_>>() {
        let want = want_totals.get(currency).copied().unwrap_or_default();
        let have = have_totals.get(currency).copied().unwrap_or_default();
        compare(&mut problems, &format!("grand total in {currency}"), want, have);
    }
    if !problems.is_empty() {
        panic!(
            "{}: {label}: the store does not hold the file's own sums (to within 0.01):\n  {}\n\
             billed cost per source, billing period and currency in nano-units, any charge date: {:?}",
            ts.engine,
            problems.join("\n  "),
            ts.billed_totals().await
        );
    }
}

fn compare(problems: &mut Vec<String>, what: &str, want: Sums, have: Sums) {
    for (metric, w, h) in [("BilledCost", want.billed, have.billed), ("EffectiveCost", want.effective, have.effective)]
    {
        if (w - h).abs() > CENT {
            problems.push(format!("{what}: {metric} in the file {}, stored {}", show(w), show(h)));
        }
    }
}

/// Lines only in one of two fact snapshots.
fn snapshot_difference(before: &[String], after: &[String]) -> String {
    let (b, a): (BTreeSet<&String>, BTreeSet<&String>) = (before.iter().collect(), after.iter().collect());
    let gone: Vec<&&String> = b.difference(&a).take(10).collect();
    let new: Vec<&&String> = a.difference(&b).take(10).collect();
    format!("{} facts before, {} after; gone (first 10): {gone:?}; new (first 10): {new:?}", before.len(), after.len())
}

// ---------------------------------------------------------------------------------------------
// The file's side: the test's own reading of each format
// ---------------------------------------------------------------------------------------------

fn realworld_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os(DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/realworld"),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("the real-world exports are not at {} in CI: set {DIR_ENV} to their folder", dir.display());
    }
    eprintln!("SKIPPED: no real-world exports at {}; set {DIR_ENV} to their folder to run this test", dir.display());
    None
}

fn file_in(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    assert!(path.is_file(), "{name} is missing from {} (see its SOURCES.md)", dir.display());
    path
}

fn realworld_file(name: &str) -> Option<PathBuf> {
    realworld_dir().map(|dir| file_in(&dir, name))
}

fn expected_from_file(path: &Path, layout: Layout) -> Expected {
    let name = path.display().to_string();
    if let Layout::GcpLegacyJson = layout {
        return gcp_legacy_json(&name, &std::fs::read(path).unwrap_or_else(|e| panic!("reading {name}: {e}")));
    }
    let table = Table::read(path);
    match layout {
        Layout::Cur => cur(&table),
        Layout::Azure => azure(&table),
        Layout::Oci => oci(&table),
        Layout::GcpCsv => gcp_csv(&table),
        Layout::Focus => focus(&table),
        Layout::GcpLegacyJson => unreachable!(),
    }
}

/// AWS CUR, legacy and 2.0. BilledCost is the unblended cost; EffectiveCost is AWS's
/// amortisation by line item type (the CUR user guide's "amortized cost" formula).
fn cur(t: &Table) -> Expected {
    let legacy = t.has("lineItem/LineItemType");
    let n = |legacy_name: &'static str, cur2_name: &'static str| if legacy { legacy_name } else { cur2_name };
    let kind = t.required(n("lineItem/LineItemType", "line_item_line_item_type"));
    let unblended = t.required(n("lineItem/UnblendedCost", "line_item_unblended_cost"));
    let currency = t.required(n("lineItem/CurrencyCode", "line_item_currency_code"));
    let period = t.required(n("bill/BillingPeriodStartDate", "bill_billing_period_start_date"));
    let sp_effective =
        t.optional(n("savingsPlan/SavingsPlanEffectiveCost", "savings_plan_savings_plan_effective_cost"));
    let sp_commitment = t.optional(n("savingsPlan/TotalCommitmentToDate", "savings_plan_total_commitment_to_date"));
    let sp_used = t.optional(n("savingsPlan/UsedCommitment", "savings_plan_used_commitment"));
    let ri_effective = t.optional(n("reservation/EffectiveCost", "reservation_effective_cost"));
    let ri_unused_upfront = t.optional(n(
        "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
        "reservation_unused_amortized_upfront_fee_for_billing_period",
    ));
    let ri_unused_recurring = t.optional(n("reservation/UnusedRecurringFee", "reservation_unused_recurring_fee"));
    let ri_arn = t.optional(n("reservation/ReservationARN", "reservation_reservation_a_r_n"));

    let mut expected = Expected::default();
    for row in t.rows() {
        let billed = row.money(unblended);
        let effective = match row.text(kind) {
            "SavingsPlanCoveredUsage" => row.money_or_zero(sp_effective),
            "SavingsPlanRecurringFee" => row.money_or_zero(sp_commitment) - row.money_or_zero(sp_used),
            "SavingsPlanNegation" | "SavingsPlanUpfrontFee" => 0,
            "DiscountedUsage" => row.money_or_zero(ri_effective),
            "RIFee" => row.money_or_zero(ri_unused_upfront) + row.money_or_zero(ri_unused_recurring),
            "Fee" if ri_arn.is_some_and(|c| !row.text(c).is_empty()) => 0,
            _ => billed,
        };
        expected.add_line(row.month(period), row.currency(currency), Sums { billed, effective });
    }
    expected
}

/// Azure cost details (EA, MCA, partner camelCase), legacy pay-as-you-go usage and its
/// localised portal download: an actual-cost export alone stands for billed and effective.
/// The billing period is BillingPeriodStartDate's month when given, else the charge date's.
fn azure(t: &Table) -> Expected {
    let cost = t.first_of(&["CostInBillingCurrency", "PreTaxCost", "Cost"]);
    let currency = t.first_of(&["BillingCurrencyCode", "BillingCurrency", "Currency"]);
    let period = t.optional("BillingPeriodStartDate");
    let day = t.first_of(&["Date", "UsageDateTime"]);
    let mut expected = Expected::default();
    for row in t.rows() {
        let money = row.money(cost);
        let month = match period {
            Some(c) if !row.text(c).is_empty() => row.month(c),
            _ => row.month(day),
        };
        expected.add_line(month, row.currency(currency), Sums::same(money));
    }
    expected
}

/// Oracle Cloud cost report: `cost/myCost` in `cost/currencyCode`, in the month the usage
/// interval starts (the report writes UTC).
fn oci(t: &Table) -> Expected {
    let cost = t.required("cost/myCost");
    let currency = t.required("cost/currencyCode");
    let start = t.required("lineItem/intervalUsageStart");
    let mut expected = Expected::default();
    for row in t.rows() {
        let money = row.money(cost);
        expected.add_line(row.month(start), row.currency(currency), Sums::same(money));
    }
    expected
}

/// GCP billing export flattened to CSV: cost plus every credit's amount, in the invoice month.
fn gcp_csv(t: &Table) -> Expected {
    let cost = t.required("cost");
    let credits = t.required("credits");
    let currency = t.required("currency");
    let invoice_month = t.required("invoice.month");
    let mut expected = Expected::default();
    for row in t.rows() {
        let money = row.money(cost) + credit_amounts(row.text(credits), &row.place(credits));
        let month = row.text(invoice_month);
        let valid = month.len() == 6 && month.bytes().all(|b| b.is_ascii_digit());
        assert!(valid, "{}: invoice.month `{month}` is not YYYYMM", row.place(invoice_month));
        expected.add_line(format!("{}-{}", &month[..4], &month[4..]), row.currency(currency), Sums::same(money));
    }
    expected
}

/// The sum of a GCP `credits` cell's amounts: a JSON array, or the Python repr a dump wrote
/// (`[{'name': ..., 'amount': -5e-06, 'full_name': None, ...}]`).
fn credit_amounts(text: &str, place: &str) -> i128 {
    let text = text.trim();
    if text.is_empty() || text == "[]" {
        return 0;
    }
    if let Ok(serde_json::Value::Array(credits)) = serde_json::from_str::<serde_json::Value>(text) {
        return credits
            .iter()
            .map(|credit| match credit.get("amount") {
                Some(serde_json::Value::Number(n)) => exact(&n.to_string(), place),
                Some(serde_json::Value::String(s)) => exact(s, place),
                other => panic!("{place}: a credit without a numeric amount: {other:?}"),
            })
            .sum();
    }
    // Python repr: every `'amount': <number>`.
    let mut total = 0;
    let mut found = 0;
    for (i, _) in text.match_indices("'amount':") {
        let rest = text[i + "'amount':".len()..].trim_start();
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        total += exact(rest[..end].trim(), place);
        found += 1;
    }
    let credits = text.matches('{').count();
    assert_eq!(found, credits, "{place}: {credits} credits but {found} amounts in `{text}`");
    total
}

/// GCP's 2014 file export: a JSON array of `{startTime, cost: {amount, currency}}`, in the
/// month of the start time as written (GCP bills in US Pacific time, which the file uses).
fn gcp_legacy_json(name: &str, bytes: &[u8]) -> Expected {
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{name} is not a JSON array: {e}"));
    let mut expected = Expected::default();
    for (i, item) in items.iter().enumerate() {
        let place = format!("{name} item {i}");
        let field = |value: Option<&serde_json::Value>, what: &str| -> String {
            match value {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                other => panic!("{place}: {what} is {other:?}"),
            }
        };
        let amount = exact(&field(item.pointer("/cost/amount"), "cost.amount"), &place);
        let currency = field(item.pointer("/cost/currency"), "cost.currency");
        let month = month_of(&field(item.get("startTime"), "startTime"), &place);
        expected.add_line(month, currency, Sums::same(amount));
    }
    expected
}

/// FOCUS: the BilledCost and EffectiveCost columns in BillingCurrency, per BillingPeriodStart.
fn focus(t: &Table) -> Expected {
    let billed = t.required("BilledCost");
    let effective = t.required("EffectiveCost");
    let currency = t.required("BillingCurrency");
    let period = t.required("BillingPeriodStart");
    let mut expected = Expected::default();
    for row in t.rows() {
        expected.add_line(
            row.month(period),
            row.currency(currency),
            Sums { billed: row.money(billed), effective: row.money(effective) },
        );
    }
    expected
}

// ---------------------------------------------------------------------------------------------
// A CSV file as the test reads it
// ---------------------------------------------------------------------------------------------

struct Table {
    name: String,
    /// Header names: a localised `Maßeinheit (UnitOfMeasure)` is known by its English name.
    headers: Vec<String>,
    records: Vec<csv::StringRecord>,
}

impl Table {
    fn read(path: &Path) -> Table {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {name}: {e}"));
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&bytes);
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(bytes);
        let headers = reader
            .headers()
            .unwrap_or_else(|e| panic!("{name}: header: {e}"))
            .iter()
            .map(|h| english_name(h.trim()).to_string())
            .collect();
        let records = reader
            .records()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("{name} is not valid CSV to the test: {e}"));
        Table { name, headers, records }
    }

    fn has(&self, column: &str) -> bool {
        self.optional(column).is_some()
    }

    /// A column by name, ignoring case (`costInBillingCurrency` is `CostInBillingCurrency`).
    fn optional(&self, column: &str) -> Option<Column> {
        self.headers.iter().position(|h| h.eq_ignore_ascii_case(column)).map(|index| Column { index })
    }

    fn required(&self, column: &str) -> Column {
        self.optional(column).unwrap_or_else(|| panic!("{}: no column `{column}` in {:?}", self.name, self.headers))
    }

    fn first_of(&self, columns: &[&str]) -> Column {
        columns
            .iter()
            .find_map(|c| self.optional(c))
            .unwrap_or_else(|| panic!("{}: none of the columns {columns:?} in {:?}", self.name, self.headers))
    }

    fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.records.iter().enumerate().map(|(i, record)| Row { table: self, record, line: i + 2 })
    }
}

/// `Abonnement-GUID (SubscriptionGuid)` → `SubscriptionGuid`; other names unchanged.
fn english_name(header: &str) -> &str {
    if let Some(inner) = header.strip_suffix(')')
        && let Some(open) = inner.rfind(" (")
    {
        let english = &inner[open + 2..];
        if !english.is_empty() && english.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return english;
        }
    }
    header
}

/// A column's index in its table.
#[derive(Debug, Clone, Copy)]
struct Column {
    index: usize,
}

struct Row<'a> {
    table: &'a Table,
    record: &'a csv::StringRecord,
    /// The CSV record's number counting the header as 1 (the file line for one-line records).
    line: usize,
}

impl Row<'_> {
    fn place(&self, column: Column) -> String {
        format!("{} record {} column {}", self.table.name, self.line, self.table.headers[column.index])
    }

    fn text(&self, column: Column) -> &str {
        self.record.get(column.index).unwrap_or_else(|| panic!("{}: no such field", self.place(column))).trim()
    }

    /// A money value that must be present.
    fn money(&self, column: Column) -> i128 {
        let text = self.text(column);
        assert!(!text.is_empty(), "{}: empty", self.place(column));
        exact(text, &self.place(column))
    }

    /// A money value an empty cell (or an absent column) means zero for.
    fn money_or_zero(&self, column: Option<Column>) -> i128 {
        match column {
            Some(c) if !self.text(c).is_empty() => exact(self.text(c), &self.place(c)),
            _ => 0,
        }
    }

    fn month(&self, column: Column) -> String {
        month_of(self.text(column), &self.place(column))
    }

    fn currency(&self, column: Column) -> String {
        let currency = self.text(column);
        assert!(!currency.is_empty(), "{}: no currency", self.place(column));
        currency.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Exact decimals and dates
// ---------------------------------------------------------------------------------------------

/// Decimal text (`12.5`, `-7.0E-10`, `2.323760000E-9`, `5e-06`) as an exact integer of 10^-24
/// units; anything it cannot hold exactly is a test failure, never a rounding.
fn exact(text: &str, place: &str) -> i128 {
    parse_exact(text).unwrap_or_else(|why| panic!("{place}: `{text}` {why}"))
}

fn parse_exact(text: &str) -> Result<i128, String> {
    let text = text.trim();
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i32>().map_err(|_| "has a bad exponent".to_string())?),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return Err("is not a decimal number".into());
    }
    let mut digits = format!("{int}{frac}");
    let mut shift = SCALE + exponent - frac.len() as i32;
    while shift < 0 && digits.ends_with('0') {
        digits.pop();
        shift += 1;
    }
    if shift < 0 {
        return Err(format!("has more than {SCALE} decimal places"));
    }
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok(0);
    }
    let too_big = || "is too large to hold exactly".to_string();
    let value: i128 = digits.parse().map_err(|_| too_big())?;
    let value = 10i128.checked_pow(shift as u32).and_then(|p| value.checked_mul(p)).ok_or_else(too_big)?;
    Ok(if negative { -value } else { value })
}

/// An amount in test units as decimal text, trailing zeros trimmed.
fn show(units: i128) -> String {
    let scale = 10i128.pow(SCALE as u32);
    let sign = if units < 0 { "-" } else { "" };
    let (whole, frac) = (units.abs() / scale, units.abs() % scale);
    let frac = format!("{frac:0width$}", width = SCALE as usize);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { format!("{sign}{whole}") } else { format!("{sign}{whole}.{frac}") }
}

/// The month (`YYYY-MM`) of a date as these files write it: ISO (`2023-11-01T00:00:00.000Z`,
/// `2019-07-29 00:00:00`, `2023-11-13T10:00Z`) or US `M/D/YYYY`, `MM/DD/YYYY`, `M/D/YY`
/// (a two-digit year is 20YY).
fn month_of(text: &str, place: &str) -> String {
    let text = text.trim();
    let date = if text.contains('/') {
        let day_part = text.split_whitespace().next().unwrap_or("");
        let parts: Vec<&str> = day_part.split('/').collect();
        let [month, day, year] = parts[..] else { panic!("{place}: `{text}` is not M/D/Y") };
        let number = |s: &str| s.parse::<u32>().unwrap_or_else(|_| panic!("{place}: `{text}` is not M/D/Y"));
        let year = match year.len() {
            2 => 2000 + number(year) as i32,
            4 => number(year) as i32,
            _ => panic!("{place}: `{text}` has neither a two- nor a four-digit year"),
        };
        NaiveDate::from_ymd_opt(year, number(month), number(day))
    } else {
        text.get(..10).and_then(|day| NaiveDate::parse_from_str(day, "%Y-%m-%d").ok())
    };
    let date = date.unwrap_or_else(|| panic!("{place}: `{text}` is not a date the test reads"));
    date.format("%Y-%m").to_string()
}

#[test]
fn the_tests_own_decimal_reading_is_exact() {
    let unit = 10i128.pow(SCALE as u32);
    assert_eq!(parse_exact("1").unwrap(), unit);
    assert_eq!(parse_exact("-7.0E-10").unwrap(), -7 * 10i128.pow((SCALE - 10) as u32));
    assert_eq!(parse_exact("2.323760000E-9").unwrap(), 232_376 * 10i128.pow((SCALE - 14) as u32));
    assert_eq!(parse_exact("5.64902E-05").unwrap(), 564_902 * 10i128.pow((SCALE - 10) as u32));
    assert_eq!(parse_exact("5e-06").unwrap(), 5 * 10i128.pow((SCALE - 6) as u32));
    assert_eq!(parse_exact("2.3198314011096954e-05").unwrap(), 23_198_314_011_096_954 * 1_000);
    assert_eq!(parse_exact("0.012264277499950943").unwrap(), 12_264_277_499_950_943 * 1_000_000);
    assert_eq!(parse_exact(".5").unwrap(), unit / 2);
    assert_eq!(parse_exact("1200").unwrap(), 1200 * unit);
    assert_eq!(parse_exact("-6.760E-8").unwrap(), -676 * 10i128.pow((SCALE - 10) as u32));
    assert_eq!(parse_exact("1.5E+2").unwrap(), 150 * unit);
    assert!(parse_exact("1e-25").is_err());
    assert!(parse_exact("None").is_err());
    assert!(parse_exact("").is_err());
    assert_eq!(show(-676 * 10i128.pow((SCALE - 10) as u32)), "-0.0000000676");
    assert_eq!(month_of("4/1/25", "t"), "2025-04");
    assert_eq!(month_of("9/1/2023", "t"), "2023-09");
    assert_eq!(month_of("02/02/2021", "t"), "2021-02");
    assert_eq!(month_of("2019-07-29 00:00:00", "t"), "2019-07");
    assert_eq!(month_of("2023-11-13T10:00Z", "t"), "2023-11");
    assert_eq!(month_of("2014-01-14T00:00:00-08:00", "t"), "2014-01");
    assert_eq!(english_name("Maßeinheit (UnitOfMeasure)"), "UnitOfMeasure");
    assert_eq!(english_name("PreTaxCost (PreTaxCost)"), "PreTaxCost");
    assert_eq!(english_name("ServiceName"), "ServiceName");
    assert_eq!(credit_amounts("[{'name': 'x', 'amount': -5e-06, 'full_name': None}]", "t"), -5 * 10i128.pow(18));
    assert_eq!(credit_amounts(r#"[{"name":"x","amount":-1.5},{"amount":"0.5"}]"#, "t"), -unit);
}
