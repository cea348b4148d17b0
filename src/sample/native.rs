//! The sample company's exports in each provider's own format, written from the generator's
//! FOCUS lines so every format carries the same spend: AWS as a CUR 2.0 data export (with its
//! Savings Plan rows and manifest), Azure as actual and amortised cost details exports (runs
//! with manifests, EA columns, US dates, braces-less tags), Google Cloud as the BigQuery
//! billing export saved as gzip'd JSON lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use flate2::write::GzEncoder;
use serde_json::{Map, Value, json};

use super::writer::{FocusLine, WriteError, io_error, money_text, write_text};
use crate::focus::BillingPeriod;

/// One month of a provider's export being written from the generator's lines.
pub trait MonthExport {
    fn write(&mut self, line: FocusLine) -> Result<(), WriteError>;
    /// Closes the data files and writes the manifests; the paths written.
    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>, WriteError>;
}

/// The writer of `format`'s export of `period` into `folder`.
pub fn month_export(
    format: NativeFormat,
    folder: &Path,
    period: BillingPeriod,
) -> Result<Box<dyn MonthExport>, WriteError> {
    Ok(match format {
        NativeFormat::Cur2 => Box::new(Cur2Month::create(folder, period)?),
        NativeFormat::AzureCostDetails => Box::new(AzureMonth::create(folder, period)?),
        NativeFormat::GcpBillingExport => Box::new(GcpMonth::create(folder, period)?),
    })
}

/// The format a provider's sample exports are written in.
#[derive(Clone, Copy)]
pub enum NativeFormat {
    Cur2,
    AzureCostDetails,
    GcpBillingExport,
}

type GzFile = GzEncoder<BufWriter<File>>;

fn create(path: &Path) -> Result<GzFile, WriteError> {
    let io = |source| WriteError::Io { path: path.display().to_string(), source };
    std::fs::create_dir_all(path.parent().expect("has parent")).map_err(io)?;
    Ok(GzEncoder::new(BufWriter::new(File::create(path).map_err(io)?), flate2::Compression::new(6)))
}

/// Ends a gzip stream and writes it out.
fn close_gzip(out: GzFile, path: &Path) -> Result<(), WriteError> {
    out.finish().and_then(|mut w| w.flush()).map_err(io_error(path))
}

/// Ends a gzip'd CSV file.
fn close_csv(csv: csv::Writer<GzFile>, path: &Path) -> Result<(), WriteError> {
    close_gzip(csv.into_inner().map_err(|e| io_error(path)(e.into_error()))?, path)
}

fn date_of(timestamp: &str) -> NaiveDate {
    NaiveDate::parse_from_str(&timestamp[..10], "%Y-%m-%d").expect("the generator writes ISO dates")
}

/// The tags JSON object of a FOCUS line, as (key, value) pairs.
fn tag_pairs(tags: &str) -> Vec<(String, String)> {
    let object: Map<String, Value> = serde_json::from_str(tags).expect("the generator writes JSON tags");
    object.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect()
}

/// The CUR product code of a sample service.
pub fn product_code(service: &str) -> &str {
    match service {
        "Amazon Elastic Compute Cloud" => "AmazonEC2",
        "Amazon Simple Storage Service" => "AmazonS3",
        "Amazon Relational Database Service" => "AmazonRDS",
        "AWS Lambda" => "AWSLambda",
        "Amazon CloudFront" => "AmazonCloudFront",
        "Savings Plans for AWS Compute usage" => "ComputeSavingsPlans",
        "AWS Support (Business)" => "AWSSupportBusiness",
        other => other,
    }
}

const CUR2_COLUMNS: [&str; 24] = [
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "bill_payer_account_id",
    "bill_payer_account_name",
    "bill_invoice_id",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "bill_billing_entity",
    "line_item_legal_entity",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_product_code",
    "line_item_line_item_description",
    "line_item_resource_id",
    "product_region_code",
    "line_item_currency_code",
    "line_item_unblended_cost",
    "line_item_usage_amount",
    "pricing_public_on_demand_cost",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
    "resource_tags",
];

/// The Savings Plan columns of a CUR line item, where they apply.
#[derive(Default)]
struct SavingsPlan {
    effective_cost: Option<f64>,
    total_commitment: Option<f64>,
    used_commitment: Option<f64>,
}

/// One month of an AWS CUR 2.0 data export: `<export>/data/BILLING_PERIOD=YYYY-MM/` and the
/// manifest in `<export>/metadata/BILLING_PERIOD=YYYY-MM/`.
pub struct Cur2Month {
    csv: csv::Writer<GzFile>,
    root: PathBuf,
    period: BillingPeriod,
    data: PathBuf,
}

const CUR2_EXPORT: &str = "northwind-cur2";

impl Cur2Month {
    fn create(folder: &Path, period: BillingPeriod) -> Result<Self, WriteError> {
        let root = folder.join(CUR2_EXPORT);
        let data = root.join(format!("data/BILLING_PERIOD={period}/{CUR2_EXPORT}-00001.csv.gz"));
        let mut csv = csv::Writer::from_writer(create(&data)?);
        csv.write_record(CUR2_COLUMNS).map_err(|e| io_error(&data)(e.into()))?;
        Ok(Cur2Month { csv, root, period, data })
    }

    fn row(&mut self, line: &FocusLine, kind: &str, unblended: f64, plan: SavingsPlan) -> Result<(), WriteError> {
        let tags: Map<String, Value> =
            tag_pairs(&line.tags).into_iter().map(|(k, v)| (format!("user_{k}"), Value::String(v))).collect();
        let tags = if tags.is_empty() { String::new() } else { Value::Object(tags).to_string() };
        let optional = |value: Option<f64>| value.map(money_text).unwrap_or_default();
        let quantity = line.consumed_quantity.map(money_text).unwrap_or_default();
        self.csv
            .write_record([
                line.billing_period_start.as_str(),
                &line.billing_period_end,
                &line.billing_account_id,
                &line.billing_account_name,
                &line.invoice_id,
                &line.sub_account_id,
                &line.sub_account_name,
                if line.marketplace_seller.is_empty() { "AWS" } else { "AWS Marketplace" },
                if line.marketplace_seller.is_empty() { "Amazon Web Services, Inc." } else { &line.marketplace_seller },
                kind,
                &line.charge_period_start,
                &line.charge_period_end,
                product_code(&line.service_name),
                &line.charge_description,
                &line.resource_id,
                &line.region,
                &line.currency,
                &money_text(unblended),
                &quantity,
                // The negation cancels cash, not the on-demand price of the usage.
                &if kind == "SavingsPlanNegation" { String::new() } else { money_text(line.list_cost) },
                &optional(plan.effective_cost),
                &optional(plan.total_commitment),
                &optional(plan.used_commitment),
                &tags,
            ])
            .map_err(|e| io_error(&self.data)(e.into()))
    }
}

impl MonthExport for Cur2Month {
    /// Closes the data file and writes the manifest, after the data as AWS does.
    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>, WriteError> {
        let Cur2Month { csv, root, period, data } = *self;
        close_csv(csv, &data)?;
        let manifest = root.join(format!("metadata/BILLING_PERIOD={period}/{CUR2_EXPORT}-Manifest.json"));
        let uri = format!(
            "s3://northwind-billing/exports/{CUR2_EXPORT}/data/BILLING_PERIOD={period}/{CUR2_EXPORT}-00001.csv.gz"
        );
        let body = json!({
            "exportName": CUR2_EXPORT,
            "billingPeriod": {"start": format!("{}T00:00:00.000Z", period.first_day()), "end": format!("{}T00:00:00.000Z", period.end())},
            "dataFiles": [uri],
        });
        write_text(&manifest, &(serde_json::to_string_pretty(&body).expect("serialises") + "\n"))?;
        Ok(vec![data, manifest])
    }

    /// FOCUS lines as CUR line items: covered usage as Savings Plan covered usage and its
    /// negation, the commitment (bought and unused) as recurring fee rows, fees, tax.
    fn write(&mut self, line: FocusLine) -> Result<(), WriteError> {
        match (line.charge_category.as_str(), line.commitment_discount_status.as_str()) {
            ("Usage", "Used") => {
                let plan = SavingsPlan { effective_cost: Some(line.effective_cost), ..SavingsPlan::default() };
                self.row(&line, "SavingsPlanCoveredUsage", line.list_cost, plan)?;
                self.row(&line, "SavingsPlanNegation", -line.list_cost, SavingsPlan::default())
            }
            // Unused commitment: a fee row of no cash whose commitment went unused.
            ("Usage", "Unused") => {
                let unused = line.effective_cost;
                let plan =
                    SavingsPlan { total_commitment: Some(unused), used_commitment: Some(0.0), ..Default::default() };
                self.row(&line, "SavingsPlanRecurringFee", line.billed_cost, plan)
            }
            // The commitment's monthly charge, all of it used (its effective cost is on the
            // covered usage and the unused row).
            ("Purchase", _) if line.effective_cost == 0.0 => {
                let paid = Some(line.billed_cost);
                let plan = SavingsPlan { total_commitment: paid, used_commitment: paid, ..Default::default() };
                self.row(&line, "SavingsPlanRecurringFee", line.billed_cost, plan)
            }
            ("Purchase", _) => self.row(&line, "Fee", line.billed_cost, SavingsPlan::default()),
            (category, _) => self.row(&line, category, line.billed_cost, SavingsPlan::default()),
        }
    }
}

const AZURE_COLUMNS: [&str; 18] = [
    "BillingAccountId",
    "BillingAccountName",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "SubscriptionId",
    "SubscriptionName",
    "Date",
    "MeterCategory",
    "ResourceLocation",
    "ChargeType",
    "PricingModel",
    "Quantity",
    "CostInBillingCurrency",
    "BillingCurrencyCode",
    "ResourceId",
    "PublisherType",
    "PublisherName",
    "Tags",
];

/// One month of Azure's two cost details exports (actual and amortised), each a run folder
/// `<YYYYMMDD-YYYYMMDD>/<export>/<run time>/<run id>/` with its data file and manifest.
pub struct AzureMonth {
    runs: Vec<AzureRun>,
    period: BillingPeriod,
}

struct AzureRun {
    kind: &'static str,
    csv: csv::Writer<GzFile>,
    folder: PathBuf,
    blob: String,
}

/// The run's data file: the export is set to Gzip compression.
const AZURE_PART: &str = "part_0_0001.csv.gz";

const AZURE_EXPORTS: [(&str, &str); 2] = [("ActualCost", "northwind-actual"), ("AmortizedCost", "northwind-amortized")];

impl AzureMonth {
    fn create(folder: &Path, period: BillingPeriod) -> Result<Self, WriteError> {
        let range = format!(
            "{}-{}",
            period.first_day().format("%Y%m%d"),
            (period.end() - chrono::Duration::days(1)).format("%Y%m%d")
        );
        // Runs are named by when they ran: the first of the next month, after the month closed.
        let run_time = period.end().format("%Y%m%d0600").to_string();
        let mut runs = Vec::new();
        for (kind, export) in AZURE_EXPORTS {
            let relative = format!("{range}/{export}/{run_time}/{export}-{run_time}");
            let folder = folder.join(&relative);
            let path = folder.join(AZURE_PART);
            let mut csv = csv::Writer::from_writer(create(&path)?);
            csv.write_record(AZURE_COLUMNS).map_err(|e| io_error(&path)(e.into()))?;
            runs.push(AzureRun { kind, csv, folder, blob: format!("northwind/{relative}/{AZURE_PART}") });
        }
        Ok(AzureMonth { runs, period })
    }
}

impl MonthExport for AzureMonth {
    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>, WriteError> {
        let mut files = Vec::new();
        for run in self.runs {
            let data = run.folder.join(AZURE_PART);
            close_csv(run.csv, &data)?;
            let manifest = run.folder.join("manifest.json");
            let body = json!({
                "exportConfig": {
                    "exportName": AZURE_EXPORTS.iter().find(|(k, _)| *k == run.kind).map(|(_, e)| *e),
                    "resourceId": "/providers/Microsoft.Billing/billingAccounts/8611537",
                    "dataVersion": "2024-08-01",
                    "type": run.kind,
                    "timeFrame": "TheLastMonth",
                    "granularity": "Daily",
                },
                "deliveryConfig": {"partitionData": true, "dataOverwriteBehavior": "CreateNewReport", "fileFormat": "Csv", "compressionMode": "gzip"},
                "runInfo": {
                    "executionType": "Scheduled",
                    "submittedTime": format!("{}T06:00:00Z", self.period.end()),
                    "startDate": format!("{}T00:00:00", self.period.first_day()),
                    "endDate": format!("{}T00:00:00", self.period.end() - chrono::Duration::days(1)),
                },
                "blobs": [{"blobName": run.blob, "byteCount": std::fs::metadata(&data).map(|m| m.len()).unwrap_or(0)}],
            });
            write_text(&manifest, &(serde_json::to_string_pretty(&body).expect("serialises") + "\n"))?;
            files.extend([data, manifest]);
        }
        Ok(files)
    }

    /// The actual export carries every line at its billed cost; the amortised one every line
    /// but purchases at its effective cost (Azure spreads purchases and drops their rows).
    fn write(&mut self, line: FocusLine) -> Result<(), WriteError> {
        let us_date = |timestamp: &str| date_of(timestamp).format("%-m/%-d/%Y").to_string();
        let last_day = date_of(&line.billing_period_end) - chrono::Duration::days(1);
        let tags: Vec<String> = tag_pairs(&line.tags)
            .into_iter()
            .map(|(k, v)| format!("{}: {}", Value::String(k), Value::String(v)))
            .collect();
        let quantity = line.consumed_quantity.map(money_text).unwrap_or_default();
        for run in &mut self.runs {
            let cost = match run.kind {
                "ActualCost" => line.billed_cost,
                _ if line.charge_category == "Purchase" => continue,
                _ => line.effective_cost,
            };
            let path = run.folder.join(AZURE_PART);
            run.csv
                .write_record([
                    line.billing_account_id.as_str(),
                    &line.billing_account_name,
                    &us_date(&line.billing_period_start),
                    &last_day.format("%-m/%-d/%Y").to_string(),
                    &line.sub_account_id,
                    &line.sub_account_name,
                    &us_date(&line.charge_period_start),
                    &line.service_name,
                    &line.region,
                    &line.charge_category,
                    if line.pricing_category == "Committed" { "Reservation" } else { "OnDemand" },
                    &quantity,
                    &money_text(cost),
                    &line.currency,
                    &line.resource_id,
                    if line.marketplace_seller.is_empty() { "Azure" } else { "Marketplace" },
                    if line.marketplace_seller.is_empty() { "Microsoft" } else { &line.marketplace_seller },
                    &tags.join(","),
                ])
                .map_err(|e| io_error(&path)(e.into()))?;
        }
        Ok(())
    }
}

/// One month of the Google Cloud billing export, saved from BigQuery as gzip'd JSON lines.
pub struct GcpMonth {
    out: GzFile,
    path: PathBuf,
}

impl GcpMonth {
    fn create(folder: &Path, period: BillingPeriod) -> Result<Self, WriteError> {
        let path = folder.join(format!("billing-export-{period}.json.gz"));
        Ok(GcpMonth { out: create(&path)?, path })
    }
}

impl MonthExport for GcpMonth {
    fn finish(self: Box<Self>) -> Result<Vec<PathBuf>, WriteError> {
        close_gzip(self.out, &self.path)?;
        Ok(vec![self.path])
    }

    /// A FOCUS line as an export row; a credit line becomes a row of no cost whose credits
    /// hold the amount (how Google reports promotions).
    fn write(&mut self, line: FocusLine) -> Result<(), WriteError> {
        let bigquery_time = |timestamp: &str| format!("{} {} UTC", &timestamp[..10], &timestamp[11..19]);
        let number = |value: f64| serde_json::from_str::<Value>(&money_text(value)).expect("a number");
        let (cost, credits) = match line.charge_category.as_str() {
            "Credit" => (
                0.0,
                vec![json!({"name": line.charge_description, "amount": number(line.billed_cost), "type": "PROMOTION"})],
            ),
            _ => (line.billed_cost, Vec::new()),
        };
        let cost_type = if line.charge_category == "Tax" { "tax" } else { "regular" };
        let labels: Vec<Value> =
            tag_pairs(&line.tags).into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect();
        let period = date_of(&line.billing_period_start);
        let row = json!({
            "billing_account_id": line.billing_account_id,
            "service": {"id": line.service_name.to_lowercase().replace(' ', "-"), "description": line.service_name},
            "sku": {"id": line.sku_id, "description": line.charge_description},
            "usage_start_time": bigquery_time(&line.charge_period_start),
            "usage_end_time": bigquery_time(&line.charge_period_end),
            "project": {"id": line.sub_account_id, "name": line.sub_account_name},
            "labels": labels,
            "location": {"region": line.region},
            "export_time": format!("{}T06:00:00Z", date_of(&line.charge_period_end)),
            "cost": number(cost),
            "currency": line.currency,
            "usage": {"amount": line.consumed_quantity.map(number), "unit": line.consumed_unit},
            "credits": credits,
            "invoice": {
                "month": period.format("%Y%m").to_string(),
                "publisher_type": if line.marketplace_seller.is_empty() { "GOOGLE" } else { "PARTNER" },
            },
            "seller_name": if line.marketplace_seller.is_empty() { "Google" } else { &line.marketplace_seller },
            "cost_type": cost_type,
        });
        serde_json::to_writer(&mut self.out, &row).map_err(|e| io_error(&self.path)(e.into()))?;
        self.out.write_all(b"\n").map_err(io_error(&self.path))
    }
}
